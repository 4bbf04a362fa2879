package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

// The test binary doubles as the dialtone binary, so process-level tests
// (signals, kill -9) run the real main without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("DIALTONE_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestOpenAPIFileIsCurrent(t *testing.T) {
	want, err := api.OpenAPIYAML()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("openapi.yaml differs from what the code generates: run `go tool task openapi`")
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"openapi"}, env{stdout: &out, stderr: io.Discard, getenv: noEnv}); code != 0 || !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("dialtone openapi exit %d, output differs: %v", code, !bytes.Equal(out.Bytes(), want))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(got)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi version %s", doc.OpenAPI)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			open := op.Security != nil && len(*op.Security) == 0
			if open != (path == "/healthz" || path == "/readyz") {
				t.Errorf("%s %s: unauthenticated=%v", method, path, open)
			}
		}
	}
}

func noEnv(string) string { return "" }

func TestCommandLineErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"serve", "--bogus"}, 2, "unknown flag --bogus"},
		{"unknown command", []string{"dance"}, 2, "unexpected argument dance"},
		{"bad duration", []string{"serve", "--shutdown-timeout", "soon"}, 2, "shutdown-timeout"},
		{"data dir is a file", []string{"serve", "--data", file}, 1, "is not a directory"},
		{"migrate into a file", []string{"migrate", "--data", file}, 1, "is not a directory"},
		{"bad listen address", []string{"serve", "--data", dir, "--http", "256.1.1.1:99999", "--sip", "127.0.0.1:0"}, 1, "listen for http"},
		{"bad rtp range", []string{"serve", "--data", dir, "--rtp-ports", "9-x"}, 1, "--rtp-ports"},
		{"bad sip address", []string{"serve", "--data", dir, "--sip", "nowhere"}, 1, "sip address"},
		{"version", []string{"version"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, env{stdout: &stdout, stderr: &stderr, getenv: noEnv})
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, stderr.String())
			}
			if tt.want == "" {
				return
			}
			msg := stderr.String()
			if strings.Count(strings.TrimSpace(msg), "\n") != 0 || !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "dialtone: ") {
				t.Fatalf("want one line naming %q, got %q", tt.want, msg)
			}
		})
	}
}

// TestShortAdminKeyRefused: a DIALTONE_ADMIN_KEY under 24 characters stops
// the start with one line, before anything is created.
func TestShortAdminKeyRefused(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	getenv := func(k string) string {
		if k == "DIALTONE_ADMIN_KEY" {
			return "short-admin-key-12345"
		}
		return ""
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--data", data, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0"},
		env{stdout: io.Discard, stderr: &stderr, getenv: getenv})
	msg := stderr.String()
	if code != 1 || !strings.Contains(msg, "DIALTONE_ADMIN_KEY is 21 characters long: an admin key needs at least 24") ||
		strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q", code, msg)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("data dir created: %v", err)
	}
}

// server is a dialtone serve subprocess.
type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startServer(t *testing.T, dataDir string, extraEnv ...string) *server {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(os.Args[0], "serve", "--data", dataDir, "--http", addr, "--sip", "127.0.0.1:0", "--rtp-ports", "43000-43999")
	cmd.Env = append(os.Environ(), append([]string{"DIALTONE_TEST_RUN_MAIN=1"}, extraEnv...)...)
	s := &server{cmd: cmd, url: "http://" + addr, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(s.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("server exited: %v\n%s", err, s.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("server not ready\n%s", s.stderr.String())
	return nil
}

func (s *server) post(key, path, body string) (int, []byte, error) {
	req, _ := http.NewRequest("POST", s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func TestServeGeneratesAdminKeyAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	key := regexp.MustCompile(`dtk_[A-Za-z0-9_-]{43}`).FindString(s.stderr.String())
	if key == "" {
		t.Fatalf("no admin key printed:\n%s", s.stderr.String())
	}
	if code, body, err := s.post(key, "/v1/extensions", `{"number":"1001"}`); err != nil || code != 201 {
		t.Fatalf("create with the printed key: %d %s %v", code, body, err)
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
	// A second start keeps the key and prints none.
	s2 := startServer(t, dir)
	if strings.Contains(s2.stderr.String(), "dtk_") {
		t.Fatal("a second start printed a key")
	}
	if code, _, _ := s2.post(key, "/v1/extensions", `{"number":"1002"}`); code != 201 {
		t.Fatalf("key lost across restart: %d", code)
	}
}

// TestKillDuringWritesLosesNothingAcknowledged kills the server with SIGKILL in
// the middle of a burst of writes, then checks that every write answered 2xx is
// in a database that opens cleanly.
func TestKillDuringWritesLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "DIALTONE_ADMIN_KEY=kill-test-admin-key-0123456789")
	type acked struct{ id, number string }
	var (
		mu   sync.Mutex
		ok   []acked
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				number := fmt.Sprintf("%02d%04d", w+10, i)
				code, body, err := s.post("kill-test-admin-key-0123456789", "/v1/extensions", `{"number":"`+number+`"}`)
				if err != nil {
					return
				}
				if code == 201 {
					var e struct{ ID string }
					_ = json.Unmarshal(body, &e)
					mu.Lock()
					ok = append(ok, acked{e.ID, number})
					mu.Unlock()
				}
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(ok)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	close(stop)
	wg.Wait()
	if len(ok) < 50 {
		t.Fatalf("only %d writes acknowledged before the kill", len(ok))
	}

	db, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, a := range ok {
		e, err := db.GetExtension(context.Background(), core.ExtensionID(a.id))
		if err != nil || e.Number != a.number {
			t.Fatalf("acknowledged extension %s (%s) lost: %v", a.number, a.id, err)
		}
	}
	t.Logf("%d acknowledged writes survived kill -9", len(ok))
}
