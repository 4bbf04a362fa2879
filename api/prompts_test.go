package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/media/audio"
	"github.com/dialtone-pbx/dialtone/store"
)

var _ audio.PromptStore = (*store.DB)(nil)

// newPromptEnv is newEnv with prompts and music-on-hold classes served.
func newPromptEnv(t *testing.T) *env {
	t.Helper()
	db, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys := &core.APIKeys{Repo: db, Extensions: db}
	if _, _, err := keys.Bootstrap(context.Background(), adminKey); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	h := api.New(api.Deps{
		Extensions: &core.Extensions{Repo: db}, APIKeys: keys, Idempotency: db, DB: db,
		Prompts: db, MOHClasses: db,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, logs: logs, db: db}
}

// pcmWAV builds a 16-bit PCM WAV of a 440 Hz tone.
func pcmWAV(rate, channels int, seconds float64) []byte {
	frames := int(float64(rate) * seconds)
	n := frames * channels * 2
	b := make([]byte, 44+n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], uint16(channels))
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(rate*channels*2))
	binary.LittleEndian.PutUint16(b[32:], uint16(channels*2))
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	for i := range frames {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		for c := range channels {
			binary.LittleEndian.PutUint16(b[44+(i*channels+c)*2:], uint16(v))
		}
	}
	return b
}

// multipartBody builds a multipart/form-data body with a file part (when
// file is not nil) and the given fields.
func multipartBody(filename string, file []byte, fields ...string) (string, []byte) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = w.WriteField(fields[i], fields[i+1])
	}
	if file != nil {
		fw, _ := w.CreateFormFile("file", filename)
		_, _ = fw.Write(file)
	}
	_ = w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

// send makes a request with a raw body and content type.
func (e *env) send(method, path, contentType string, body io.Reader, headers ...string) resp {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, body)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) uploadPrompt(query string, wav []byte) map[string]any {
	e.t.Helper()
	r := e.send("POST", "/v1/prompts?"+query, "audio/wav", bytes.NewReader(wav))
	if r.status != 201 {
		e.t.Fatalf("upload: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

func TestPromptUpload(t *testing.T) {
	e := newPromptEnv(t)
	tone := pcmWAV(44100, 2, 1.5)
	mpType, mpBody := multipartBody("Welcome message.wav", tone, "language", "fr-ca")
	tests := []struct {
		name        string
		path        string
		contentType string
		body        []byte
		wantName    string
		wantLang    string
	}{
		{"multipart", "/v1/prompts", mpType, mpBody, "Welcome message", "fr-CA"},
		{"raw audio/wav", "/v1/prompts?name=Raw&language=en-us", "audio/wav", tone, "Raw", "en-US"},
		{"raw octet-stream", "/v1/prompts?name=Octets", "application/octet-stream", tone, "Octets", "en"},
		{"raw audio/x-wav", "/v1/prompts?name=X", "audio/x-wav", tone, "X", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.send("POST", tt.path, tt.contentType, bytes.NewReader(tt.body))
			if r.status != 201 {
				t.Fatalf("upload: %d %s", r.status, r.body)
			}
			p := r.json(t)
			id, _ := p["id"].(string)
			if !core.HasPrefix(id, core.PrefixPrompt) || r.header.Get("Location") != "/v1/prompts/"+id || r.header.Get("ETag") != `"1"` {
				t.Fatalf("id/location/etag: %s %v", r.body, r.header)
			}
			if p["name"] != tt.wantName || p["language"] != tt.wantLang || p["duration_ms"] != float64(1500) ||
				p["size_bytes"] != float64(44+12000*2) {
				t.Fatalf("prompt = %s", r.body)
			}
			dl := e.do("GET", "/v1/prompts/"+id+"/audio", adminKey, nil)
			if dl.status != 200 || dl.header.Get("Content-Type") != "audio/wav" || len(dl.body) != 44+12000*2 {
				t.Fatalf("download: %d %s %d bytes", dl.status, dl.header.Get("Content-Type"), len(dl.body))
			}
			samples, err := audio.DecodeWAV8k(dl.body)
			if err != nil || len(samples) != 12000 {
				t.Fatalf("stored audio is not 8 kHz mono 16-bit: %d samples, %v", len(samples), err)
			}
			var peak int16
			for _, s := range samples[1000:11000] {
				peak = max(peak, s)
			}
			if peak < 7000 || peak > 9000 {
				t.Fatalf("tone level after conversion = %d, want about 8000", peak)
			}
		})
	}
	list := e.do("GET", "/v1/prompts?limit=2", adminKey, nil).json(t)
	items := list["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["name"] != "Octets" || list["next_cursor"] == nil {
		t.Fatalf("first page = %v", list)
	}
	next := e.do("GET", "/v1/prompts?limit=2&cursor="+list["next_cursor"].(string), adminKey, nil).json(t)
	if items := next["items"].([]any); len(items) != 2 || items[1].(map[string]any)["name"] != "X" || next["next_cursor"] != nil {
		t.Fatalf("second page = %v", next)
	}
	if r := e.do("GET", "/v1/prompts/pmt_0000000000000000/audio", adminKey, nil); r.status != 404 {
		t.Fatalf("audio of unknown: %d", r.status)
	}
}

// countingReader yields n bytes of zeros and counts what was read.
type countingReader struct {
	left int64
	read atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	n = min(n, c.left)
	clear(p[:n])
	c.left -= n
	c.read.Add(n)
	return int(n), nil
}

func TestPromptUploadRefused(t *testing.T) {
	e := newPromptEnv(t)
	textType, textBody := multipartBody("notes.wav", []byte("this is a text file, not a recording\n"), "name", "Notes")
	emptyType, emptyBody := multipartBody("empty.wav", []byte{}, "name", "Empty")
	noFileType, noFileBody := multipartBody("", nil, "name", "Nothing")
	extraType, extraBody := multipartBody("a.wav", pcmWAV(8000, 1, 0.5), "colour", "red")
	long := pcmWAV(8000, 1, 601) // 10 min 1 s at 8 kHz: 9.6 MB
	tests := []struct {
		name        string
		path        string
		contentType string
		body        []byte
		status      int
		loc         string
		msg         string
	}{
		{"text file named .wav", "/v1/prompts", textType, textBody, 422, "body.file", "not a recognised audio file"},
		{"text as raw body", "/v1/prompts?name=t", "audio/wav", []byte("hello"), 422, "body.file", "not a recognised audio file"},
		{"empty multipart file", "/v1/prompts", emptyType, emptyBody, 422, "body.file", ""},
		{"empty raw body", "/v1/prompts?name=e", "audio/wav", nil, 422, "body.file", ""},
		{"header only", "/v1/prompts?name=e", "audio/wav", pcmWAV(8000, 1, 0), 422, "body.file", ""},
		{"no file part", "/v1/prompts", noFileType, noFileBody, 422, "body.file", "required"},
		{"unknown form field", "/v1/prompts", extraType, extraBody, 422, "body.colour", ""},
		{"longer than 10 minutes", "/v1/prompts?name=long", "audio/wav", long, 422, "body.file", "longer"},
		{"name missing", "/v1/prompts", "audio/wav", pcmWAV(8000, 1, 0.5), 422, "query.name", ""},
		{"bad language", "/v1/prompts?name=a&language=english!", "audio/wav", pcmWAV(8000, 1, 0.5), 422, "query.language", ""},
		{"unknown system prompt", "/v1/prompts?name=a&replaces=fanfare", "audio/wav", pcmWAV(8000, 1, 0.5), 422, "query.replaces", ""},
		{"not an upload type", "/v1/prompts?name=a", "text/plain", []byte("x"), 415, "", ""},
		{"ogg", "/v1/prompts?name=a", "application/octet-stream", append([]byte("OggS"), make([]byte, 100)...), 422, "body.file", "Ogg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.send("POST", tt.path, tt.contentType, bytes.NewReader(tt.body))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.loc != "" && !bytes.Contains(r.body, []byte(`"location":"`+tt.loc+`"`)) {
				t.Fatalf("error does not name %s: %s", tt.loc, r.body)
			}
			if !bytes.Contains(r.body, []byte(tt.msg)) {
				t.Fatalf("error does not say %q: %s", tt.msg, r.body)
			}
		})
	}
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("over 20 MB chunked=%v", chunked), func(t *testing.T) {
			const total = 64 << 20
			body := &countingReader{left: total}
			req, _ := http.NewRequest("POST", e.url+"/v1/prompts?name=big", body)
			req.Header.Set("Authorization", "Bearer "+adminKey)
			req.Header.Set("Content-Type", "audio/wav")
			if !chunked {
				req.ContentLength = total
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 413 || !bytes.Contains(b, []byte(`"location":"body.file"`)) {
				t.Fatalf("status %d: %s", res.StatusCode, b)
			}
			if body.read.Load() >= total {
				t.Fatal("the whole oversized body was read")
			}
		})
	}
	if r := e.do("GET", "/v1/prompts", adminKey, nil); string(bytes.TrimSpace(r.body)) != `{"items":[]}` {
		t.Fatalf("something was stored: %s", r.body)
	}
}

func TestPromptPatchAndReplaceAudio(t *testing.T) {
	e := newPromptEnv(t)
	p := e.uploadPrompt("name=Hello", pcmWAV(16000, 1, 1))
	id := p["id"].(string)
	tests := []struct {
		name    string
		body    string
		ifMatch string
		status  int
		loc     string
	}{
		{"unknown field", `{"colour":"red"}`, "", 422, "body.colour"},
		{"field case", `{"Name":"x"}`, "", 422, "body.Name"},
		{"null name", `{"name":null}`, "", 422, "body.name"},
		{"empty name", `{"name":""}`, "", 422, "body.name"},
		{"wrong type", `{"name":5}`, "", 422, "body.name"},
		{"unknown system prompt", `{"replaces":"fanfare"}`, "", 422, "body.replaces"},
		{"not an object", `[1]`, "", 422, ""},
		{"stale If-Match", `{"name":"x"}`, `"7"`, 412, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.send("PATCH", "/v1/prompts/"+id, "application/merge-patch+json", strings.NewReader(tt.body), "If-Match", tt.ifMatch)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.loc != "" && !bytes.Contains(r.body, []byte(`"location":"`+tt.loc+`"`)) {
				t.Fatalf("error does not name %s: %s", tt.loc, r.body)
			}
		})
	}
	r := e.send("PATCH", "/v1/prompts/"+id, "application/merge-patch+json", strings.NewReader(`{"name":"Welcome","language":"de"}`), "If-Match", `"1"`)
	if r.status != 200 || r.json(t)["name"] != "Welcome" || r.json(t)["language"] != "de" || r.header.Get("ETag") != `"2"` {
		t.Fatalf("rename: %d %s %v", r.status, r.body, r.header)
	}
	r = e.send("PATCH", "/v1/prompts/"+id, "application/merge-patch+json", strings.NewReader(`{"language":null,"replaces":"goodbye"}`))
	if r.status != 200 || r.json(t)["language"] != "en" || r.json(t)["replaces"] != "goodbye" || r.json(t)["name"] != "Welcome" {
		t.Fatalf("replaces: %d %s", r.status, r.body)
	}
	r = e.send("PATCH", "/v1/prompts/"+id, "application/merge-patch+json", strings.NewReader(`{"replaces":null}`))
	if r.status != 200 || r.json(t)["replaces"] != nil {
		t.Fatalf("clear replaces: %d %s", r.status, r.body)
	}

	// New audio: duration and size follow; a stale ETag or bad audio keeps the old.
	before := e.do("GET", "/v1/prompts/"+id+"/audio", adminKey, nil).body
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		ifMatch           string
		status            int
	}{
		{"stale", "audio/wav", pcmWAV(8000, 1, 2), `"1"`, 412},
		{"not audio", "audio/wav", []byte("text"), "", 422},
		{"empty", "audio/wav", nil, "", 422},
		{"name is not a field here", "", nil, "", 422},
	} {
		body, ct := tc.body, tc.contentType
		if tc.name == "name is not a field here" {
			ct, body = multipartBody("x.wav", pcmWAV(8000, 1, 1), "name", "x")
		}
		r := e.send("PUT", "/v1/prompts/"+id+"/audio", ct, bytes.NewReader(body), "If-Match", tc.ifMatch)
		if r.status != tc.status {
			t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
	if after := e.do("GET", "/v1/prompts/"+id+"/audio", adminKey, nil).body; !bytes.Equal(before, after) {
		t.Fatal("a refused replacement changed the audio")
	}
	mpType, mpBody := multipartBody("new.wav", pcmWAV(48000, 2, 2.25))
	r = e.send("PUT", "/v1/prompts/"+id+"/audio", mpType, bytes.NewReader(mpBody), "If-Match", `"4"`)
	if r.status != 200 || r.json(t)["duration_ms"] != float64(2250) || r.json(t)["size_bytes"] != float64(44+18000*2) || r.header.Get("ETag") != `"5"` {
		t.Fatalf("replace audio: %d %s %v", r.status, r.body, r.header)
	}
	if dl := e.do("GET", "/v1/prompts/"+id+"/audio", adminKey, nil); len(dl.body) != 44+18000*2 || dl.header.Get("ETag") != `"5"` {
		t.Fatalf("download after replace: %d bytes %v", len(dl.body), dl.header)
	}
	if r := e.send("PUT", "/v1/prompts/pmt_0000000000000000/audio", "audio/wav", bytes.NewReader(pcmWAV(8000, 1, 1))); r.status != 404 {
		t.Fatalf("replace unknown: %d", r.status)
	}
}

func TestSystemPromptReplacement(t *testing.T) {
	e := newPromptEnv(t)
	fr := e.uploadPrompt("name=Au+revoir&language=fr&replaces=goodbye", pcmWAV(8000, 1, 1))
	if fr["replaces"] != "goodbye" {
		t.Fatalf("upload: %v", fr)
	}
	mpType, mpBody := multipartBody("bye.wav", pcmWAV(8000, 1, 1), "name", "Again", "language", "FR", "replaces", "goodbye")
	r := e.send("POST", "/v1/prompts", mpType, bytes.NewReader(mpBody))
	if r.status != 409 || !bytes.Contains(r.body, []byte(`"location":"body.replaces"`)) {
		t.Fatalf("duplicate replacement: %d %s", r.status, r.body)
	}
	en := e.uploadPrompt("name=Bye&replaces=goodbye", pcmWAV(8000, 1, 1))
	r = e.send("PATCH", "/v1/prompts/"+en["id"].(string), "application/merge-patch+json", strings.NewReader(`{"language":"fr"}`))
	if r.status != 409 {
		t.Fatalf("moving a replacement onto a taken language: %d %s", r.status, r.body)
	}

	r = e.do("GET", "/v1/system-prompts", adminKey, nil)
	if r.status != 200 {
		t.Fatalf("system prompts: %d %s", r.status, r.body)
	}
	var found bool
	for _, it := range r.json(t)["items"].([]any) {
		sp := it.(map[string]any)
		langs := sp["languages"].([]any)
		if len(langs) == 0 || langs[0] != "en" {
			t.Fatalf("%v has no English recording", sp)
		}
		reps := sp["replaced_by"].([]any)
		if sp["name"] != "goodbye" {
			if len(reps) != 0 {
				t.Fatalf("%v is replaced", sp)
			}
			continue
		}
		found = true
		if len(reps) != 2 || reps[0].(map[string]any)["language"] != "en" || reps[0].(map[string]any)["prompt_id"] != en["id"] ||
			reps[1].(map[string]any)["prompt_id"] != fr["id"] {
			t.Fatalf("goodbye replaced by %v", reps)
		}
	}
	if !found {
		t.Fatalf("goodbye not listed: %s", r.body)
	}
	if r := e.do("DELETE", "/v1/prompts/"+fr["id"].(string), adminKey, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/prompts/"+fr["id"].(string), adminKey, nil); r.status != 404 {
		t.Fatalf("deleted prompt: %d", r.status)
	}
	if r := e.uploadPrompt("name=Again&language=fr&replaces=goodbye", pcmWAV(8000, 1, 1)); r["id"] == nil {
		t.Fatal("the replacement is free again")
	}
}

func TestPromptUploadIdempotent(t *testing.T) {
	e := newPromptEnv(t)
	wav := pcmWAV(8000, 1, 1)
	first := e.send("POST", "/v1/prompts?name=Once", "audio/wav", bytes.NewReader(wav), "Idempotency-Key", "upload-1")
	again := e.send("POST", "/v1/prompts?name=Once", "audio/wav", bytes.NewReader(wav), "Idempotency-Key", "upload-1")
	if first.status != 201 || again.status != 201 || first.json(t)["id"] != again.json(t)["id"] || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s / %d %s", first.status, first.body, again.status, again.body)
	}
	other := e.send("POST", "/v1/prompts?name=Once", "audio/wav", bytes.NewReader(pcmWAV(8000, 1, 2)), "Idempotency-Key", "upload-1")
	if other.status != 422 {
		t.Fatalf("same key, other audio: %d %s", other.status, other.body)
	}
	if items := e.do("GET", "/v1/prompts", adminKey, nil).json(t)["items"].([]any); len(items) != 1 {
		t.Fatalf("%d prompts stored", len(items))
	}
}
