package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

func newPrompt(name, language, replaces string) *core.Prompt {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &core.Prompt{ID: core.PromptID(core.NewID(core.PrefixPrompt)), Name: name, Language: language,
		Replaces: replaces, DurationMS: 1000, Version: 1, CreatedAt: now, UpdatedAt: now}
}

func mustCreatePrompt(t *testing.T, db *DB, p *core.Prompt, wav []byte) {
	t.Helper()
	if err := db.CreatePrompt(context.Background(), p, wav); err != nil {
		t.Fatal(err)
	}
}

// ensureCallPlans gives the test a call_plans table to refer from, the
// shape the call plans migration has, when that migration is not there.
func ensureCallPlans(t *testing.T, db *DB) {
	t.Helper()
	if _, err := db.w.Exec(`CREATE TABLE IF NOT EXISTS call_plans (id TEXT PRIMARY KEY, name TEXT NOT NULL, graph TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
}

func insertCallPlan(t *testing.T, db *DB, id, name, graph string) {
	t.Helper()
	if _, err := db.w.Exec(`INSERT INTO call_plans (id, name, graph) VALUES (?, ?, ?)`, id, name, graph); err != nil {
		t.Skipf("call_plans has a shape this test cannot fill: %v", err)
	}
}

func TestPromptRepo(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	hello := newPrompt("Hello", "en", "")
	mustCreatePrompt(t, db, hello, []byte("RIFF-hello"))
	bye := newPrompt("Goodbye", "fr", "goodbye")
	mustCreatePrompt(t, db, bye, []byte("RIFF-bye"))

	got, err := db.GetPrompt(ctx, hello.ID)
	if err != nil || got.Name != "Hello" || got.SizeBytes != int64(len("RIFF-hello")) || got.DurationMS != 1000 || !got.CreatedAt.Equal(hello.CreatedAt) {
		t.Fatalf("get = %+v, %v", got, err)
	}
	wav, v, err := db.PromptAudio(ctx, hello.ID)
	if err != nil || string(wav) != "RIFF-hello" || v != 1 {
		t.Fatalf("audio = %q %d %v", wav, v, err)
	}
	if v, err := db.PromptVersion(ctx, hello.ID); err != nil || v != 1 {
		t.Fatalf("version = %d, %v", v, err)
	}
	if _, err := db.PromptVersion(ctx, "pmt_nope"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("version of unknown: %v", err)
	}
	id, v, err := db.PromptReplacing(ctx, "goodbye", "fr")
	if err != nil || id != bye.ID || v != 1 {
		t.Fatalf("replacing = %s %d %v", id, v, err)
	}

	tests := []struct {
		name  string
		run   func() error
		want  error
		field string
	}{
		{"second replacement same language", func() error {
			return db.CreatePrompt(ctx, newPrompt("Bye 2", "fr", "goodbye"), []byte("x"))
		}, core.ErrConflict, "replaces"},
		{"replacement moved onto a taken language", func() error {
			p := *hello
			p.Replaces, p.Language = "goodbye", "fr"
			return db.UpdatePrompt(ctx, &p, nil, 1)
		}, core.ErrConflict, "replaces"},
		{"create without audio", func() error { return db.CreatePrompt(ctx, newPrompt("x", "en", ""), nil) }, core.ErrInvalid, ""},
		{"get unknown", func() error { _, err := db.GetPrompt(ctx, "pmt_nope"); return err }, core.ErrNotFound, ""},
		{"audio unknown", func() error { _, _, err := db.PromptAudio(ctx, "pmt_nope"); return err }, core.ErrNotFound, ""},
		{"replacing in another language", func() error { _, _, err := db.PromptReplacing(ctx, "goodbye", "en"); return err }, core.ErrNotFound, ""},
		{"replacing nothing", func() error { _, _, err := db.PromptReplacing(ctx, "", "en"); return err }, core.ErrNotFound, ""},
		{"update stale", func() error { return db.UpdatePrompt(ctx, hello, nil, 9) }, core.ErrPrecondition, ""},
		{"update unknown", func() error { return db.UpdatePrompt(ctx, newPrompt("x", "en", ""), nil, 1) }, core.ErrNotFound, ""},
		{"delete unknown", func() error { return db.DeletePrompt(ctx, "pmt_nope") }, core.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var ce *core.ConflictError
			if tt.field != "" && (!errors.As(err, &ce) || ce.Field != tt.field) {
				t.Fatalf("conflict does not name %s: %v", tt.field, err)
			}
		})
	}

	// A second replacement in another language is fine.
	mustCreatePrompt(t, db, newPrompt("Goodbye", "en", "goodbye"), []byte("x"))
	reps, err := db.PromptReplacements(ctx)
	if err != nil || len(reps) != 2 || reps[0].Language != "en" || reps[1].Language != "fr" {
		t.Fatalf("replacements = %v, %v", reps, err)
	}

	// Renaming keeps the audio; new audio replaces it and bumps the version.
	hello.Name = "Welcome"
	if err := db.UpdatePrompt(ctx, hello, nil, 1); err != nil || hello.Version != 2 {
		t.Fatalf("rename: %v (version %d)", err, hello.Version)
	}
	if wav, v, _ := db.PromptAudio(ctx, hello.ID); string(wav) != "RIFF-hello" || v != 2 {
		t.Fatalf("audio after rename = %q %d", wav, v)
	}
	hello.DurationMS = 2500
	if err := db.UpdatePrompt(ctx, hello, []byte("RIFF-welcome!"), 2); err != nil {
		t.Fatal(err)
	}
	if wav, v, _ := db.PromptAudio(ctx, hello.ID); string(wav) != "RIFF-welcome!" || v != 3 {
		t.Fatalf("audio after replace = %q %d", wav, v)
	}
	if got, _ := db.GetPrompt(ctx, hello.ID); got.SizeBytes != 13 || got.DurationMS != 2500 || got.Name != "Welcome" {
		t.Fatalf("after replace: %+v", got)
	}

	if err := db.DeletePrompt(ctx, bye.ID); err != nil {
		t.Fatal(err)
	}
	var blobs int
	if err := db.r.Get(&blobs, `SELECT count(*) FROM prompt_audio WHERE prompt_id = ?`, bye.ID); err != nil || blobs != 0 {
		t.Fatalf("audio left behind: %d %v", blobs, err)
	}
	if _, _, err := db.PromptReplacing(ctx, "goodbye", "fr"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted replacement still found: %v", err)
	}
}

func TestListPromptsPages(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	names := []string{"delta", "alpha", "charlie", "bravo", "alpha"}
	for _, n := range names {
		mustCreatePrompt(t, db, newPrompt(n, "en", ""), []byte("x"))
	}
	var seen []string
	cursor := ""
	for range 10 {
		page, err := db.ListPrompts(ctx, core.PageRequest{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			seen = append(seen, p.Name)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if strings.Join(seen, ",") != "alpha,alpha,bravo,charlie,delta" {
		t.Fatalf("pages = %v", seen)
	}
	if _, err := db.ListPrompts(ctx, core.PageRequest{Cursor: "garbage"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestDeletePromptInUse(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	p := newPrompt("Jazz", "en", "")
	mustCreatePrompt(t, db, p, []byte("x"))
	c := newMOHClass("lobby", p.ID)
	if err := db.CreateMOHClass(ctx, c); err != nil {
		t.Fatal(err)
	}
	err := db.DeletePrompt(ctx, p.ID)
	var iu *core.InUseError
	if !errors.As(err, &iu) || !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), `music-on-hold class "lobby"`) {
		t.Fatalf("delete while a class plays it: %v", err)
	}
	c.Prompts = []string{"moh-default"}
	if err := db.UpdateMOHClass(ctx, c, c.Version); err != nil {
		t.Fatal(err)
	}

	ensureCallPlans(t, db)
	insertCallPlan(t, db, "cpl_0123456789abcdef", "Main menu", `{"nodes":[{"type":"play","prompts":["`+string(p.ID)+`"]}]}`)
	err = db.DeletePrompt(ctx, p.ID)
	if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), `call plan "Main menu" (cpl_0123456789abcdef)`) {
		t.Fatalf("delete while a plan plays it: %v", err)
	}
	if _, err := db.w.Exec(`DELETE FROM call_plans`); err != nil {
		t.Fatal(err)
	}
	if ok, _ := schemaHasColumn(ctx, db.r, "extensions", "name_prompt_id"); ok {
		ext := newExt("1001")
		if err := db.CreateExtension(ctx, ext); err != nil {
			t.Fatal(err)
		}
		if _, err := db.w.Exec(`UPDATE extensions SET name_prompt_id = ? WHERE id = ?`, p.ID, ext.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeletePrompt(ctx, p.ID); !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), `extension "1001"`) {
			t.Fatalf("delete while an extension's name uses it: %v", err)
		}
		if _, err := db.w.Exec(`UPDATE extensions SET name_prompt_id = NULL`); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeletePrompt(ctx, p.ID); err != nil {
		t.Fatalf("delete unused: %v", err)
	}
}

func TestPromptAudioBlobRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	big := bytes.Repeat([]byte{0, 1, 2, 250}, 1<<18)
	p := newPrompt("big", "en", "")
	mustCreatePrompt(t, db, p, big)
	got, _, err := db.PromptAudio(ctx, p.ID)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("blob round trip: %d bytes, %v", len(got), err)
	}
}
