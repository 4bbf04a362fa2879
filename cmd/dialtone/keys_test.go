package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

var keyRE = regexp.MustCompile(`^dtk_[A-Za-z0-9_-]{43}$`)

// dialtone runs the command line in this process and returns its exit code
// and outputs.
func dialtone(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env{stdout: &stdout, stderr: &stderr, getenv: noEnv})
	return code, stdout.String(), stderr.String()
}

func extensionSpec(number string) core.ExtensionSpec {
	spec := core.DefaultExtensionSpec()
	spec.Number = number
	return spec
}

func TestKeysCommands(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := dialtone(t, "keys", "list", "--data", dir); code != 1 || !strings.Contains(stderr, "no database at") {
		t.Fatalf("keys list without a database: exit %d %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
		t.Fatal("keys list created a database")
	}
	if code, _, stderr := dialtone(t, "migrate", "--data", dir); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	db, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := (&core.Extensions{Repo: db}).Create(context.Background(), extensionSpec("1001"), core.ExtensionChange{})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	var adminID string
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // regexp
		stderr string // substring of a one-line error when code != 0
	}{
		{"create admin", []string{"keys", "create", "--data", dir, "--role", "admin", "--name", "recovery"}, 0, `^dtk_[A-Za-z0-9_-]{43}\n$`, ""},
		{"create member by number", []string{"keys", "create", "--data", dir, "--role", "member", "--name", "ann", "--extension", "1001"}, 0, `^dtk_`, ""},
		{"create member by id", []string{"keys", "create", "--data", dir, "--role", "member", "--name", "ann 2", "--extension", string(ext.ID)}, 0, `^dtk_`, ""},
		{"member without extension", []string{"keys", "create", "--data", dir, "--role", "member", "--name", "x"}, 1, `^$`, "extension_id"},
		{"member of an unknown extension", []string{"keys", "create", "--data", dir, "--role", "member", "--name", "x", "--extension", "1999"}, 1, `^$`, "--extension 1999"},
		{"admin with an extension", []string{"keys", "create", "--data", dir, "--role", "admin", "--name", "x", "--extension", "1001"}, 1, `^$`, "must be empty for an admin key"},
		{"unknown role", []string{"keys", "create", "--data", dir, "--role", "root", "--name", "x"}, 2, `^$`, "--role"},
		{"no name", []string{"keys", "create", "--data", dir, "--role", "admin"}, 2, `^$`, "--name"},
		// Keys made in the same second list in id order: either may come first.
		{"list", []string{"keys", "list", "--data", dir}, 0, `(?s)^ID +ROLE +EXTENSION +NAME +HINT +CREATED\n(.*key_\w+ +admin +- +recovery .*member +` + string(ext.ID) + ` +ann |.*member +` + string(ext.ID) + ` +ann .*key_\w+ +admin +- +recovery )`, ""},
		{"revoke unknown", []string{"keys", "revoke", "--data", dir, "key_nope"}, 1, `^$`, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := dialtone(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if !regexp.MustCompile(tt.stdout).MatchString(stdout) {
				t.Fatalf("stdout %q does not match %s", stdout, tt.stdout)
			}
			if tt.code != 0 && (!strings.Contains(stderr, tt.stderr) || strings.Count(strings.TrimSpace(stderr), "\n") != 0) {
				t.Fatalf("want one line naming %q, got %q", tt.stderr, stderr)
			}
		})
	}

	// Every admin key but the last can be revoked.
	_, list, _ := dialtone(t, "keys", "list", "--data", dir)
	adminID = regexp.MustCompile(`(key_\w+) +admin`).FindStringSubmatch(list)[1]
	if code, _, stderr := dialtone(t, "keys", "revoke", "--data", dir, adminID); code != 1 || !strings.Contains(stderr, "last admin key") {
		t.Fatalf("revoke the last admin key: exit %d %q", code, stderr)
	}
	memberID := regexp.MustCompile(`(key_\w+) +member`).FindStringSubmatch(list)[1]
	if code, stdout, stderr := dialtone(t, "keys", "revoke", "--data", dir, memberID); code != 0 || !strings.Contains(stdout, "revoked api key "+memberID) {
		t.Fatalf("revoke a member key: exit %d %q %q", code, stdout, stderr)
	}
	if _, list, _ := dialtone(t, "keys", "list", "--data", dir); strings.Contains(list, memberID) {
		t.Fatalf("revoked key still listed:\n%s", list)
	}
}

// TestKeysBesideARunningServer is the recovery path: a key created in the
// data dir of a running server works at once, and a revoked one stops
// working at once. The server, started with DIALTONE_ADMIN_KEY on a database
// that already has keys, says it ignored it.
func TestKeysBesideARunningServer(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := dialtone(t, "migrate", "--data", dir); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	code, first, stderr := dialtone(t, "keys", "create", "--data", dir, "--role", "admin", "--name", "first")
	if code != 0 || !keyRE.MatchString(strings.TrimSpace(first)) {
		t.Fatalf("keys create with the server stopped: %d %q %q", code, first, stderr)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const ignored = "ignored-admin-key-0123456789abcdef"
	s := startServer(t, dir, "DIALTONE_ADMIN_KEY="+ignored)
	logs := s.stderr.String()
	for _, want := range []string{
		"DIALTONE_ADMIN_KEY ignored: the database already has API keys; use `dialtone keys create`",
		"data dir is open to other users",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log does not say %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "dtk_") {
		t.Fatal("the server printed a key")
	}
	if code, _, _ := s.post(ignored, "/v1/extensions", `{"number":"1000"}`); code != 401 {
		t.Fatalf("the ignored key answered %d", code)
	}
	if code, body, err := s.post(strings.TrimSpace(first), "/v1/extensions", `{"number":"1001"}`); code != 201 {
		t.Fatalf("key made with the server stopped: %d %s %v", code, body, err)
	}

	code, recovery, stderr := dialtone(t, "keys", "create", "--data", dir, "--role", "admin", "--name", "recovery")
	if code != 0 || !keyRE.MatchString(strings.TrimSpace(recovery)) {
		t.Fatalf("keys create beside the server: %d %q %q", code, recovery, stderr)
	}
	recovery = strings.TrimSpace(recovery)
	if code, body, err := s.post(recovery, "/v1/extensions", `{"number":"1002"}`); code != 201 {
		t.Fatalf("key made beside the running server: %d %s %v", code, body, err)
	}
	id := regexp.MustCompile(`api key (key_\w+)`).FindStringSubmatch(stderr)[1]
	if code, _, stderr := dialtone(t, "keys", "revoke", "--data", dir, id); code != 0 {
		t.Fatalf("keys revoke beside the server: %q", stderr)
	}
	if code, _, _ := s.post(recovery, "/v1/extensions", `{"number":"1003"}`); code != 401 {
		t.Fatalf("revoked key answered %d", code)
	}
	// The server keeps writing and stops cleanly after all that.
	if code, _, _ := s.post(strings.TrimSpace(first), "/v1/extensions", `{"number":"1004"}`); code != 201 {
		t.Fatalf("server after the key commands: %d", code)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, s.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
}

// TestServeRefusesAForeignSecretKey: a database holding sealed SIP passwords
// does not start without its own secret.key.
func TestServeRefusesAForeignSecretKey(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, keyPath string)
		want   string
	}{
		{"missing", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, "secret.key is missing but the database holds secrets sealed with it"},
		{"different", func(t *testing.T, p string) {
			if err := os.WriteFile(p, bytes.Repeat([]byte{9}, 32), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "secret.key is not the key this database's secrets are sealed with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := store.Open(context.Background(), store.Config{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			_, err = (&core.Extensions{Repo: db}).Create(context.Background(), extensionSpec("1001"), core.ExtensionChange{})
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, filepath.Join(dir, store.KeyFileName))
			before, _ := os.ReadFile(filepath.Join(dir, store.KeyFileName))
			for _, args := range [][]string{
				{"serve", "--data", dir, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0"},
				{"keys", "list", "--data", dir},
				{"migrate", "--data", dir},
			} {
				code, _, stderr := dialtone(t, args...)
				if code != 1 || !strings.HasPrefix(stderr, "dialtone: ") || !strings.Contains(stderr, tt.want) ||
					strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
					t.Fatalf("%s: exit %d, want 1 and one line naming %q; got %q", args[0], code, tt.want, stderr)
				}
			}
			after, _ := os.ReadFile(filepath.Join(dir, store.KeyFileName))
			if !bytes.Equal(before, after) {
				t.Fatal("a refused start changed secret.key")
			}
		})
	}
}
