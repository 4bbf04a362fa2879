package store

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// TestSecretKeyMustMatchTheDatabase opens real databases in states an
// operator can leave them in, with the right, a missing or a different key.
func TestSecretKeyMustMatchTheDatabase(t *testing.T) {
	ctx := context.Background()
	otherKey := bytes.Repeat([]byte{7}, 32)
	// withExtension leaves a database holding a sealed SIP password.
	withExtension := func(t *testing.T, dir string) {
		db, err := Open(ctx, Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.CreateExtension(ctx, newExt("1001")); err != nil {
			t.Fatal(err)
		}
	}
	fresh := func(t *testing.T, dir string) {
		db, err := Open(ctx, Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	// legacy leaves a database as written before the check value existed.
	legacy := func(t *testing.T, dir string) {
		withExtension(t, dir)
		db, err := Open(ctx, Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.w.ExecContext(ctx, `DELETE FROM secret_check`); err != nil {
			t.Fatal(err)
		}
	}
	// legacyEmpty is a database from before the check value with nothing sealed.
	legacyEmpty := func(t *testing.T, dir string) {
		db, err := Open(ctx, Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.w.ExecContext(ctx, `DELETE FROM secret_check`); err != nil {
			t.Fatal(err)
		}
	}
	removeKey := func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, KeyFileName)); err != nil {
			t.Fatal(err)
		}
	}
	replaceKey := func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, KeyFileName), otherKey, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		prepare []func(*testing.T, string)
		want    string // "" opens
	}{
		{"fresh start", nil, ""},
		{"reopen", []func(*testing.T, string){withExtension}, ""},
		{"missing key", []func(*testing.T, string){withExtension, removeKey}, "is missing but the database holds secrets sealed with it"},
		{"different key", []func(*testing.T, string){withExtension, replaceKey}, "is not the key this database's secrets are sealed with"},
		{"missing key, nothing sealed but the check", []func(*testing.T, string){fresh, removeKey}, "is missing"},
		{"existing database, right key", []func(*testing.T, string){legacy}, ""},
		{"existing database, missing key", []func(*testing.T, string){legacy, removeKey}, "is missing"},
		{"existing database, different key", []func(*testing.T, string){legacy, replaceKey}, "is not the key"},
		{"existing database, nothing sealed, missing key", []func(*testing.T, string){legacyEmpty, removeKey}, ""},
		{"key of the wrong size", []func(*testing.T, string){func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte("short"), 0o600); err != nil {
				t.Fatal(err)
			}
		}}, "want 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, p := range tt.prepare {
				p(t, dir)
			}
			keyBefore, _ := os.ReadFile(filepath.Join(dir, KeyFileName))
			db, err := Open(ctx, Config{DataDir: dir})
			if tt.want != "" {
				if err == nil {
					db.Close()
					t.Fatalf("opened; want %q", tt.want)
				}
				msg := err.Error()
				if !strings.Contains(msg, tt.want) || !strings.Contains(msg, KeyFileName) || strings.Contains(msg, "\n") {
					t.Fatalf("want one line naming %s and %q, got %q", KeyFileName, tt.want, msg)
				}
				keyAfter, _ := os.ReadFile(filepath.Join(dir, KeyFileName))
				if !bytes.Equal(keyBefore, keyAfter) {
					t.Fatal("a refused start changed the secret key file")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var n int
			if err := db.r.GetContext(ctx, &n, `SELECT count(*) FROM secret_check`); err != nil || n != 1 {
				t.Fatalf("check value rows %d: %v", n, err)
			}
			page, err := db.ListExtensions(ctx, core.ExtensionFilter{}, core.PageRequest{})
			if err != nil {
				t.Fatalf("sealed passwords do not open: %v", err)
			}
			for _, e := range page.Items {
				if e.SIPPassword == "" {
					t.Fatalf("extension %s lost its password", e.Number)
				}
			}
		})
	}
}

func TestDataFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ctx := context.Background()

	t.Run("created", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "data")
		db, err := Open(ctx, Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.CreateExtension(ctx, newExt("1001")); err != nil {
			t.Fatal(err)
		}
		wantModes(t, map[string]fs.FileMode{
			dir:                                 0o700,
			filepath.Join(dir, FileName):        0o600,
			filepath.Join(dir, FileName+"-wal"): 0o600,
			filepath.Join(dir, FileName+"-shm"): 0o600,
			filepath.Join(dir, KeyFileName):     0o600,
		})
		if mode, exposed := DataDirExposed(dir); exposed {
			t.Fatalf("a new data dir is exposed: %v", mode)
		}
	})

	t.Run("existing, readable by others", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{FileName, KeyFileName} {
			var b []byte
			if name == KeyFileName {
				b = bytes.Repeat([]byte{1}, 32)
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		db, err := Open(ctx, Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if mode, exposed := DataDirExposed(dir); !exposed || mode != 0o755 {
			t.Fatalf("DataDirExposed = %v, %v; want 0755, true", mode, exposed)
		}
		wantModes(t, map[string]fs.FileMode{
			dir:                                 0o755, // reported, left to the operator
			filepath.Join(dir, FileName):        0o600,
			filepath.Join(dir, FileName+"-wal"): 0o600,
			filepath.Join(dir, KeyFileName):     0o600,
		})
	})
}

func wantModes(t *testing.T, want map[string]fs.FileMode) {
	t.Helper()
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
}

// TestOpenBesideARunningServer opens the data dir a second time while the
// first handle is in use, as `dialtone keys` does beside a running server.
func TestOpenBesideARunningServer(t *testing.T) {
	ctx := context.Background()
	server, dir := openTest(t)
	keys := &core.APIKeys{Repo: server, Extensions: server}
	if _, _, err := keys.Bootstrap(ctx, ""); err != nil {
		t.Fatal(err)
	}
	e := newExt("1001")
	if err := server.CreateExtension(ctx, e); err != nil {
		t.Fatal(err)
	}
	// Writes keep going on the server while the second handle works.
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := server.CreateExtension(ctx, newExt(fmt.Sprintf("2%05d", i))); err != nil {
				done <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for range 3 {
		cli, err := Open(ctx, Config{DataDir: dir})
		if err != nil {
			t.Fatalf("second open: %v", err)
		}
		k, secret, err := (&core.APIKeys{Repo: cli, Extensions: cli}).Create(ctx, core.APIKeySpec{Name: "recovery", Role: "admin"})
		if err != nil {
			t.Fatalf("create beside the server: %v", err)
		}
		if err := cli.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := keys.Authenticate(ctx, secret.Reveal())
		if err != nil || got.ID != k.ID {
			t.Fatalf("the server does not see the new key: %v", err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("server write beside the second handle: %v", err)
	}
	if got, err := server.GetExtension(ctx, e.ID); err != nil || got.SIPPassword != e.SIPPassword {
		t.Fatalf("server reads after the second handle closed: %v", err)
	}
}
