package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := Open(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir
}

func newExt(number string) *core.Extension {
	spec := core.DefaultExtensionSpec()
	spec.Number = number
	spec.Normalize()
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &core.Extension{
		ID: core.ExtensionID(core.NewID(core.PrefixExtension)), ExtensionSpec: spec,
		SIPPassword: core.NewSIPPassword(), Version: 1, CreatedAt: now, UpdatedAt: now,
	}
}

func TestExtensionRepo(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	a := newExt("1001")
	if err := db.CreateExtension(ctx, a); err != nil {
		t.Fatal(err)
	}
	sameUser := newExt("1002")
	sameUser.SIPUsername = "1001"
	tests := []struct {
		name  string
		run   func() error
		want  error
		field string
	}{
		{"duplicate number", func() error { return db.CreateExtension(ctx, newExt("1001")) }, core.ErrConflict, "number"},
		{"duplicate sip username", func() error { return db.CreateExtension(ctx, sameUser) }, core.ErrConflict, "sip_username"},
		{"get unknown", func() error { _, err := db.GetExtension(ctx, "ext_nope"); return err }, core.ErrNotFound, ""},
		{"update stale version", func() error { return db.UpdateExtension(ctx, a, 7) }, core.ErrPrecondition, ""},
		{"update unknown", func() error { return db.UpdateExtension(ctx, newExt("1003"), 1) }, core.ErrNotFound, ""},
		{"delete unknown", func() error { return db.DeleteExtension(ctx, "ext_nope") }, core.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, tt.want) {
				t.Fatalf("want %v, got %v", tt.want, err)
			}
			var ce *core.ConflictError
			if tt.field != "" && (!errors.As(err, &ce) || ce.Field != tt.field) {
				t.Fatalf("want conflict on %s, got %v", tt.field, err)
			}
		})
	}

	got, err := db.GetExtension(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SIPPassword.Reveal() != a.SIPPassword.Reveal() || got.Number != "1001" || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("round trip changed the extension: %+v", got)
	}
	got.Name = "Ann"
	if err := db.UpdateExtension(ctx, got, 1); err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 {
		t.Fatalf("version after update = %d, want 2", got.Version)
	}
	// The failed updates above left nothing behind.
	again, _ := db.GetExtension(ctx, a.ID)
	if again.Name != "Ann" || again.Version != 2 {
		t.Fatalf("stored %+v", again)
	}
	if err := db.DeleteExtension(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
}

func TestListExtensionsWalksEveryRowOnce(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	for i := range 250 {
		e := newExt(fmt.Sprintf("%d", 2000+i))
		if i%10 == 0 {
			e.Name = "Sales Desk"
			e.Email = fmt.Sprintf("sales%d@example.com", i)
		}
		if err := db.CreateExtension(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		filter core.ExtensionFilter
		limit  int
		want   int
	}{
		{"all by 100", core.ExtensionFilter{}, 100, 250},
		{"all by 7", core.ExtensionFilter{}, 7, 250},
		{"prefix", core.ExtensionFilter{NumberPrefix: "21"}, 30, 100},
		{"query name", core.ExtensionFilter{Query: "sales"}, 10, 25},
		{"query email", core.ExtensionFilter{Query: "sales10@"}, 10, 1},
		{"query wildcard is literal", core.ExtensionFilter{Query: "%"}, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[core.ExtensionID]bool{}
			cursor, pages := "", 0
			for {
				p, err := db.ListExtensions(ctx, tt.filter, core.PageRequest{Limit: tt.limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(p.Items) > tt.limit {
					t.Fatalf("page of %d over limit %d", len(p.Items), tt.limit)
				}
				for _, e := range p.Items {
					if seen[e.ID] {
						t.Fatalf("%s listed twice", e.Number)
					}
					seen[e.ID] = true
				}
				if p.NextCursor == "" {
					break
				}
				cursor = p.NextCursor
			}
			if len(seen) != tt.want {
				t.Fatalf("walked %d extensions in %d pages, want %d", len(seen), pages, tt.want)
			}
		})
	}
	if _, err := db.ListExtensions(ctx, core.ExtensionFilter{}, core.PageRequest{Cursor: "!!"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad cursor: want ErrInvalid, got %v", err)
	}
}

func TestSIPPasswordIsSealedAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := newExt("1001")
	if err := db.CreateExtension(ctx, e); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, name := range []string{FileName, FileName + "-wal"} {
		raw, _ := os.ReadFile(filepath.Join(dir, name))
		if bytes.Contains(raw, []byte(e.SIPPassword.Reveal())) {
			t.Fatalf("%s holds the SIP password in clear", name)
		}
	}
	db, err = Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetExtension(ctx, e.ID)
	db.Close()
	if err != nil || got.SIPPassword.Reveal() != e.SIPPassword.Reveal() {
		t.Fatalf("password did not survive a reopen: %v", err)
	}
	// Another key cannot open it.
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, Config{DataDir: dir}); err == nil {
		db.Close()
		t.Fatal("a database opened with a different key")
	}
}

func TestAPIKeyRepo(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	e := newExt("1001")
	if err := db.CreateExtension(ctx, e); err != nil {
		t.Fatal(err)
	}
	keys := &core.APIKeys{Repo: db, Extensions: db}
	secret, created, err := keys.Bootstrap(ctx, "configured-secret")
	if err != nil || !created || secret.Reveal() != "configured-secret" {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	if _, created, _ := keys.Bootstrap(ctx, ""); created {
		t.Fatal("bootstrap ran twice")
	}
	admin, err := keys.Authenticate(ctx, "configured-secret")
	if err != nil || admin.Role != core.RoleAdmin {
		t.Fatalf("authenticate: %v", err)
	}
	if _, err := keys.Authenticate(ctx, "wrong"); !errors.Is(err, core.ErrUnauthorized) {
		t.Fatalf("wrong secret: %v", err)
	}
	if err := db.DeleteAPIKey(ctx, admin.ID); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("last admin key revoked: %v", err)
	}
	member, msecret, err := keys.Create(ctx, core.APIKeySpec{Name: "phone app", Role: "member", ExtensionID: e.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.Create(ctx, core.APIKeySpec{Name: "x", Role: "member", ExtensionID: "ext_missing"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("member key for a missing extension: %v", err)
	}
	if _, _, err := keys.Create(ctx, core.APIKeySpec{Name: "x", Role: "root"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("unknown role: %v", err)
	}
	if got, err := keys.Authenticate(ctx, msecret.Reveal()); err != nil || got.ID != member.ID || got.ExtensionID != e.ID {
		t.Fatalf("member authenticate: %+v %v", got, err)
	}
	// Deleting the extension revokes its member keys.
	if err := db.DeleteExtension(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Authenticate(ctx, msecret.Reveal()); !errors.Is(err, core.ErrUnauthorized) {
		t.Fatalf("member key outlived its extension: %v", err)
	}
	var stored int
	_ = db.r.Get(&stored, `SELECT count(*) FROM api_keys WHERE secret_hash = ? OR hint = ?`, msecret.Reveal(), msecret.Reveal())
	if stored != 0 {
		t.Fatal("a secret is stored in clear")
	}
}

func TestIdempotencyKeys(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	rec, err := db.ClaimIdempotencyKey(ctx, "key_a", "k1", "h1", time.Hour)
	if err != nil || rec != nil {
		t.Fatalf("first claim: %v %v", rec, err)
	}
	if rec, _ := db.ClaimIdempotencyKey(ctx, "key_a", "k1", "h1", time.Hour); rec == nil || rec.Status != 0 {
		t.Fatalf("claim while in progress: %+v", rec)
	}
	if rec, _ := db.ClaimIdempotencyKey(ctx, "key_b", "k1", "h1", time.Hour); rec != nil {
		t.Fatal("keys are not scoped")
	}
	body := []byte(`{"sip_password":"TopSecretPassword123"}`)
	if err := db.CompleteIdempotencyKey(ctx, "key_a", "k1", 201, map[string]string{"Location": "/v1/x"}, body); err != nil {
		t.Fatal(err)
	}
	rec, err = db.ClaimIdempotencyKey(ctx, "key_a", "k1", "h2", time.Hour)
	if err != nil || rec == nil || rec.Status != 201 || rec.RequestHash != "h1" || !bytes.Equal(rec.Body, body) || rec.Headers["Location"] != "/v1/x" {
		t.Fatalf("replay: %+v %v", rec, err)
	}
	var raw []byte
	_ = db.r.Get(&raw, `SELECT body FROM idempotency_keys WHERE key = 'k1'`)
	if bytes.Contains(raw, []byte("TopSecret")) {
		t.Fatal("stored response is not sealed")
	}
	// Past the time to live the key is free again.
	if rec, _ := db.ClaimIdempotencyKey(ctx, "key_a", "k1", "h2", 0); rec != nil {
		t.Fatalf("expired key still held: %+v", rec)
	}
	if n, err := db.PurgeIdempotencyKeys(ctx, time.Now().Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("purge removed %d: %v", n, err)
	}
}

func TestOpenRefusesUnusableDataDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"a file in the way", file, "not a directory"},
		{"below a file", filepath.Join(file, "sub"), "data dir"},
		{"empty", "", "data dir is empty"},
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		_ = os.Mkdir(ro, 0o500)
		tests = append(tests, struct{ name, dir, want string }{"read-only", ro, "not writable"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(context.Background(), Config{DataDir: tt.dir})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func TestOpenIsRepeatable(t *testing.T) {
	dir := t.TempDir()
	for range 3 {
		if err := Migrate(context.Background(), Config{DataDir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := Open(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}
