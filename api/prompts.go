package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/media/audio"
	"github.com/dialtone-pbx/dialtone/media/audio/system"
)

// PromptRepo stores prompts and their audio.
type PromptRepo interface {
	core.PromptRepo
}

// Prompt is an uploaded recording, stored as 8 kHz mono 16-bit WAV.
type Prompt struct {
	ID         string    `json:"id" example:"pmt_4x8k1m0c9v2z7q3d"`
	Name       string    `json:"name"`
	Language   string    `json:"language" example:"en-US" doc:"BCP 47 language tag."`
	Replaces   string    `json:"replaces,omitempty" example:"goodbye" doc:"The system prompt this recording replaces for its language."`
	DurationMS int64     `json:"duration_ms" doc:"Playing time of the stored audio in milliseconds."`
	SizeBytes  int64     `json:"size_bytes" doc:"Size of the stored WAV (8 kHz mono 16-bit), as the audio route returns it."`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// PromptPatch is the body of update, a JSON merge patch.
type PromptPatch struct {
	Name     *string `json:"name,omitempty" minLength:"1" maxLength:"100"`
	Language *string `json:"language,omitempty" maxLength:"35" doc:"BCP 47 language tag; null sets the default, en."`
	Replaces *string `json:"replaces,omitempty" maxLength:"100" doc:"A system prompt name; null or \"\" stops replacing."`
}

func toPrompt(p *core.Prompt) Prompt {
	return Prompt{ID: string(p.ID), Name: p.Name, Language: p.Language, Replaces: p.Replaces,
		DurationMS: p.DurationMS, SizeBytes: p.SizeBytes, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

type promptOutput struct {
	ETag string `header:"ETag"`
	Body Prompt
}

type promptCreated struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     Prompt
}

type promptList struct {
	Body struct {
		Items      []Prompt `json:"items" nullable:"false"`
		NextCursor string   `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page."`
	}
}

type promptAudioOutput struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	ETag               string `header:"ETag"`
	Body               []byte
}

// PromptIDParam is the {id} path parameter of prompt routes.
type PromptIDParam struct {
	ID string `path:"id" example:"pmt_4x8k1m0c9v2z7q3d" doc:"Prompt id."`
}

// PromptUploadParams name an uploaded prompt when the body is the audio
// itself; a multipart upload may carry them as form fields instead.
type PromptUploadParams struct {
	Name     string `query:"name" maxLength:"100" doc:"Required unless a multipart upload names it or its file has a name."`
	Language string `query:"language" maxLength:"35" doc:"BCP 47 language tag (default en)."`
	Replaces string `query:"replaces" maxLength:"100" doc:"A system prompt this recording replaces for its language."`
}

// AudioUpload is the raw request body of an audio upload and its content
// type, read by a resolver so that no Content-Type parameter is documented.
type AudioUpload struct {
	RawBody     []byte
	contentType string
}

// Resolve keeps the request's Content-Type.
func (u *AudioUpload) Resolve(ctx huma.Context) []error {
	u.contentType = ctx.Header("Content-Type")
	return nil
}

// The media types an upload is accepted as, besides multipart/form-data.
var audioMediaTypes = []string{"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/mpeg", "application/octet-stream"}

// multipartOverhead is what a multipart upload may carry on top of its file:
// boundaries, part headers and the small form fields.
const multipartOverhead = 64 << 10

// upload is what an audio upload request carried.
type upload struct {
	file     []byte
	filename string
	fields   map[string]string // form fields of a multipart upload
	loc      string            // where the metadata came from: body (multipart) or query
}

var (
	tooLargeTitle  = fmt.Sprintf("the audio file is larger than %d MB", audio.MaxUploadBytes>>20)
	tooLargeDetail = &huma.ErrorDetail{Location: "body.file", Message: fmt.Sprintf("must be at most %d bytes", audio.MaxUploadBytes)}
	errTooLarge    = huma.Error413RequestEntityTooLarge(tooLargeTitle, tooLargeDetail)
)

func fileProblem(msg string, value any) error {
	return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{Location: "body.file", Message: msg, Value: value})
}

// uploadLimit refuses an audio upload whose declared length is over the
// limit before anything is read, and caps what is read of the rest so that
// an oversized body is never held whole: the handler sees at most one byte
// past the limit and answers 413.
func uploadLimit(a huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		r, _ := humago.Unwrap(ctx)
		if r == nil {
			next(ctx)
			return
		}
		limit := uploadLimitFor(ctx.Header("Content-Type"))
		if r.ContentLength > limit {
			// The body is not read at all: close the connection after answering.
			ctx.SetHeader("Connection", "close")
			_ = huma.WriteErr(a, ctx, http.StatusRequestEntityTooLarge, tooLargeTitle, tooLargeDetail)
			return
		}
		r.Body = &cappedBody{ReadCloser: r.Body, left: limit + 1}
		next(ctx)
	}
}

func uploadLimitFor(contentType string) int64 {
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "multipart/form-data" {
		return audio.MaxUploadBytes + multipartOverhead
	}
	return audio.MaxUploadBytes
}

// cappedBody ends a body after left bytes.
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}

// readUpload takes the audio file (and form fields) out of a request body:
// multipart/form-data with a file part named file, or the audio itself.
// allowed are the form fields besides file.
func readUpload(body *AudioUpload, allowed ...string) (*upload, error) {
	mt, params, err := mime.ParseMediaType(body.contentType)
	if body.contentType == "" {
		mt, err = "application/octet-stream", nil
	}
	if err != nil {
		return nil, huma.Error415UnsupportedMediaType("Content-Type is not a media type: " + body.contentType)
	}
	if mt != "multipart/form-data" {
		for _, t := range audioMediaTypes {
			if mt == t {
				if int64(len(body.RawBody)) > audio.MaxUploadBytes {
					return nil, errTooLarge
				}
				return &upload{file: body.RawBody, loc: "query"}, nil
			}
		}
		return nil, huma.Error415UnsupportedMediaType(fmt.Sprintf("upload audio as multipart/form-data (a file field) or as one of %s, not %s",
			strings.Join(audioMediaTypes, ", "), mt))
	}
	if int64(len(body.RawBody)) > audio.MaxUploadBytes+multipartOverhead {
		return nil, errTooLarge
	}
	return readMultipart(body.RawBody, params["boundary"], allowed)
}

func readMultipart(raw []byte, boundary string, allowed []string) (*upload, error) {
	if boundary == "" {
		return nil, huma.Error400BadRequest("multipart/form-data without a boundary")
	}
	up := &upload{fields: map[string]string{}, loc: "body"}
	mr := multipart.NewReader(bytes.NewReader(raw), boundary)
	var v core.ValidationError
	seenFile := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, huma.Error400BadRequest("malformed multipart body: " + err.Error())
		}
		name := part.FormName()
		switch {
		case name == "file":
			if seenFile {
				v.Add("file", "must be given once", nil)
				continue
			}
			seenFile = true
			up.filename = part.FileName()
			b, err := io.ReadAll(io.LimitReader(part, audio.MaxUploadBytes+1))
			if err != nil {
				return nil, huma.Error400BadRequest("malformed multipart body: " + err.Error())
			}
			if int64(len(b)) > audio.MaxUploadBytes {
				return nil, errTooLarge
			}
			up.file = b
		case contains(allowed, name):
			b, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				return nil, huma.Error400BadRequest("malformed multipart body: " + err.Error())
			}
			if _, dup := up.fields[name]; dup {
				v.Add(name, "must be given once", nil)
			}
			up.fields[name] = string(b)
		default:
			v.Add(name, "is not a field of this upload (file, "+strings.Join(allowed, ", ")+")", nil)
		}
	}
	if !seenFile {
		v.Add("file", "is required: a file part holding the audio", nil)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return up, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// uploadProblem answers an error of readUpload: HTTP errors as they are,
// field errors as 422 naming the form field.
func (s *server) uploadProblem(ctx context.Context, err error) error {
	var se huma.StatusError
	if errors.As(err, &se) {
		return se
	}
	return s.problem(ctx, err, "body")
}

// decodeUpload converts the uploaded audio to the stored form.
func decodeUpload(file []byte) (wav []byte, duration time.Duration, err error) {
	clip, err := audio.Decode(file)
	switch {
	case err == nil:
		return audio.EncodeWAV(clip.Samples), clip.Duration(), nil
	case errors.Is(err, audio.ErrNotAudio):
		return nil, 0, fileProblem("not a recognised audio file (WAV expected)", nil)
	case errors.Is(err, audio.ErrEmpty) || len(file) == 0:
		return nil, 0, fileProblem("is empty: the audio holds no sound", nil)
	case errors.Is(err, audio.ErrTooLong):
		return nil, 0, fileProblem(fmt.Sprintf("is longer than %s", audio.MaxDuration), nil)
	case errors.Is(err, audio.ErrUnsupported):
		return nil, 0, fileProblem(err.Error(), nil)
	}
	return nil, 0, fileProblem("cannot be read as audio: "+err.Error(), nil)
}

func (s *server) registerPromptUploads(a huma.API, tags []string) {
	uploadErrors := []int{http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity}
	huma.Register(a, huma.Operation{
		OperationID: "create-prompt", Method: http.MethodPost, Path: "/v1/prompts", Summary: "Upload a prompt",
		Description: "Uploads a recording as multipart/form-data (fields file, name, language, replaces) or as the body itself " +
			"(audio/wav, audio/x-wav, audio/wave, audio/mpeg or application/octet-stream) with name, language and replaces as query parameters. " +
			"Any common WAV (PCM 8-32 bit, float, G.711; 8-192 kHz; mono or more channels) is converted to 8 kHz mono 16-bit; " +
			"files over 20 MB are refused with 413, files that are not audio, empty or longer than 10 minutes with 422 naming file, and nothing is stored. " +
			idempotencyHeaderDoc,
		Tags: tags, DefaultStatus: http.StatusCreated, Errors: append(uploadErrors, http.StatusConflict),
		MaxBodyBytes: -1, Middlewares: huma.Middlewares{uploadLimit(a)},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		PromptUploadParams
		AudioUpload
	}) (*promptCreated, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		up, err := readUpload(&in.AudioUpload, "name", "language", "replaces")
		if err != nil {
			return nil, s.uploadProblem(ctx, err)
		}
		meta := in.PromptUploadParams
		for f, dst := range map[string]*string{"name": &meta.Name, "language": &meta.Language, "replaces": &meta.Replaces} {
			if v, ok := up.fields[f]; ok {
				*dst = v
			}
		}
		if meta.Name == "" && up.filename != "" {
			base := path.Base(strings.ReplaceAll(up.filename, `\`, "/"))
			meta.Name = strings.TrimSuffix(base, path.Ext(base))
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		p := &core.Prompt{ID: core.PromptID(core.NewID(core.PrefixPrompt)), Name: meta.Name, Language: meta.Language,
			Replaces: meta.Replaces, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := p.Validate(system.Has); err != nil {
			return nil, s.problem(ctx, err, up.loc)
		}
		wav, d, err := decodeUpload(up.file)
		if err != nil {
			return nil, err
		}
		p.DurationMS = d.Milliseconds()
		if err := s.Prompts.CreatePrompt(ctx, p, wav); err != nil {
			return nil, s.problem(ctx, err, up.loc)
		}
		return &promptCreated{ETag: etag(p.Version), Location: "/v1/prompts/" + string(p.ID), Body: toPrompt(p)}, nil
	})
	documentUpload(a, "/v1/prompts", http.MethodPost, true)

	huma.Register(a, huma.Operation{
		OperationID: "replace-prompt-audio", Method: http.MethodPut, Path: "/v1/prompts/{id}/audio", Summary: "Replace a prompt's audio",
		Description: "Replaces the recording, in the formats and limits of the upload (multipart with a file field, or the audio as the body). " +
			"If-Match is honoured. Calls play the new audio from their next playback on.",
		Tags: tags, Errors: append(uploadErrors, http.StatusNotFound, http.StatusPreconditionFailed),
		MaxBodyBytes: -1, Middlewares: huma.Middlewares{uploadLimit(a)},
	}, func(ctx context.Context, in *struct {
		PromptIDParam
		IfMatch string `header:"If-Match" doc:"ETag from an earlier read; the audio is not replaced (412) if the prompt changed since."`
		AudioUpload
	}) (*promptOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		p, err := s.Prompts.GetPrompt(ctx, core.PromptID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if !ifMatch(in.IfMatch, p.Version) {
			return nil, huma.Error412PreconditionFailed("the prompt changed since the ETag in If-Match was read")
		}
		up, err := readUpload(&in.AudioUpload)
		if err != nil {
			return nil, s.uploadProblem(ctx, err)
		}
		wav, d, err := decodeUpload(up.file)
		if err != nil {
			return nil, err
		}
		p.DurationMS = d.Milliseconds()
		p.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		if err := s.Prompts.UpdatePrompt(ctx, p, wav, p.Version); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &promptOutput{ETag: etag(p.Version), Body: toPrompt(p)}, nil
	})
	documentUpload(a, "/v1/prompts/{id}/audio", http.MethodPut, false)
}

// documentUpload describes an upload's request body: multipart or raw audio.
func documentUpload(a huma.API, route, method string, withFields bool) {
	p := a.OpenAPI().Paths[route]
	if p == nil {
		return
	}
	op := p.Post
	if method == http.MethodPut {
		op = p.Put
	}
	if op == nil {
		return
	}
	props := map[string]*huma.Schema{
		"file": {Type: huma.TypeString, Format: "binary", Description: "The audio file (at most 20 MB, 10 minutes)."},
	}
	if withFields {
		props["name"] = &huma.Schema{Type: huma.TypeString, MaxLength: ptr(100), Description: "Default: the file's name without its extension."}
		props["language"] = &huma.Schema{Type: huma.TypeString, MaxLength: ptr(35), Description: "BCP 47 language tag (default en)."}
		props["replaces"] = &huma.Schema{Type: huma.TypeString, MaxLength: ptr(100), Description: "A system prompt this recording replaces for its language."}
	}
	content := map[string]*huma.MediaType{
		"multipart/form-data": {Schema: &huma.Schema{Type: huma.TypeObject, Properties: props, Required: []string{"file"}, AdditionalProperties: false}},
	}
	for _, t := range audioMediaTypes {
		content[t] = &huma.MediaType{Schema: &huma.Schema{Type: huma.TypeString, Format: "binary"}}
	}
	// Not marked required: an empty body is answered 422 naming file, like
	// any other upload that holds no sound.
	op.RequestBody = &huma.RequestBody{Content: content}
}

func ptr[T any](v T) *T { return &v }

// SystemPrompt is a prompt shipped with the PBX.
type SystemPrompt struct {
	Name      string   `json:"name" example:"goodbye"`
	Languages []string `json:"languages" nullable:"false" doc:"Languages it ships in."`
	// ReplacedBy lists the stored prompts played instead, per language.
	ReplacedBy []SystemPromptReplacement `json:"replaced_by" nullable:"false" doc:"Stored prompts played instead of it, per language."`
}

// SystemPromptReplacement is a stored prompt replacing a system prompt.
type SystemPromptReplacement struct {
	Language string `json:"language"`
	PromptID string `json:"prompt_id"`
}

type systemPromptList struct {
	Body struct {
		Items []SystemPrompt `json:"items" nullable:"false"`
	}
}

func registerPrompts(a huma.API, s *server) {
	tags := []string{"Prompts"}
	s.registerPromptUploads(a, tags)
	huma.Register(a, huma.Operation{
		OperationID: "list-prompts", Method: http.MethodGet, Path: "/v1/prompts", Summary: "List prompts",
		Description: "Uploaded prompts by name, keyset-paginated. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *ListParams) (*promptList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		page, err := s.Prompts.ListPrompts(ctx, in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &promptList{}
		out.Body.Items = make([]Prompt, 0, len(page.Items))
		for _, p := range page.Items {
			out.Body.Items = append(out.Body.Items, toPrompt(p))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-prompt", Method: http.MethodGet, Path: "/v1/prompts/{id}", Summary: "Get a prompt",
		Description: "One prompt and its ETag. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *PromptIDParam) (*promptOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		p, err := s.Prompts.GetPrompt(ctx, core.PromptID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &promptOutput{ETag: etag(p.Version), Body: toPrompt(p)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-prompt-audio", Method: http.MethodGet, Path: "/v1/prompts/{id}/audio", Summary: "Download a prompt's audio",
		Description: "The stored recording as WAV: PCM, 8 kHz, mono, 16-bit. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *PromptIDParam) (*promptAudioOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		wav, version, err := s.Prompts.PromptAudio(ctx, core.PromptID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &promptAudioOutput{ContentType: "audio/wav", ETag: etag(version),
			ContentDisposition: `attachment; filename="` + in.ID + `.wav"`, Body: wav}, nil
	})
	if p := a.OpenAPI().Paths["/v1/prompts/{id}/audio"]; p != nil && p.Get != nil {
		if r := p.Get.Responses["200"]; r != nil {
			r.Content = map[string]*huma.MediaType{"audio/wav": {Schema: &huma.Schema{Type: huma.TypeString, Format: "binary"}}}
		}
	}
	huma.Register(a, huma.Operation{
		OperationID: "update-prompt", Method: http.MethodPatch, Path: "/v1/prompts/{id}", Summary: "Change a prompt",
		Description: "Applies a JSON merge patch (RFC 7396) to name, language and replaces; null in replaces stops replacing, " +
			"null in language sets en. With If-Match, the update happens only if the prompt still has that ETag (412 otherwise). " +
			"A replacement takes effect on the next playback.",
		Tags: tags, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		PromptIDParam
		IfMatch string `header:"If-Match" doc:"ETag from an earlier read; the update is refused with 412 if the prompt changed since."`
		RawBody []byte `contentType:"application/merge-patch+json"`
	}) (*promptOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		var patch PromptPatch
		nulls, err := readMergePatch(in.RawBody, &patch, "language", "replaces")
		if err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		p, err := s.Prompts.GetPrompt(ctx, core.PromptID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if !ifMatch(in.IfMatch, p.Version) {
			return nil, huma.Error412PreconditionFailed("the prompt changed since the ETag in If-Match was read")
		}
		if patch.Name != nil {
			p.Name = *patch.Name
		}
		if patch.Language != nil {
			p.Language = *patch.Language
		}
		if nulls["language"] {
			p.Language = core.DefaultLanguage
		}
		if patch.Replaces != nil {
			p.Replaces = *patch.Replaces
		}
		if nulls["replaces"] {
			p.Replaces = ""
		}
		if err := p.Validate(system.Has); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		p.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		if err := s.Prompts.UpdatePrompt(ctx, p, nil, p.Version); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &promptOutput{ETag: etag(p.Version), Body: toPrompt(p)}, nil
	})
	documentMergePatch(a, "/v1/prompts/{id}", reflect.TypeFor[PromptPatch](), "PromptPatch")
	huma.Register(a, huma.Operation{
		OperationID: "delete-prompt", Method: http.MethodDelete, Path: "/v1/prompts/{id}", Summary: "Delete a prompt",
		Description: "Deletes the prompt and its audio; 409 names the call plans, music-on-hold classes and extensions still playing it. " +
			"A system prompt it replaced is played from the built-in library again.",
		Tags: tags, DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *PromptIDParam) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if err := s.Prompts.DeletePrompt(ctx, core.PromptID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "list-system-prompts", Method: http.MethodGet, Path: "/v1/system-prompts", Summary: "List system prompts",
		Description: "The prompts shipped with the PBX, the languages each exists in, and the uploaded prompts replacing them. " +
			"A prompt is played from its replacement in the caller's language, else built in for that language, else in English.",
		Tags: tags, Errors: []int{http.StatusForbidden},
	}, func(ctx context.Context, _ *struct{}) (*systemPromptList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		reps, err := s.Prompts.PromptReplacements(ctx)
		if err != nil {
			return nil, s.problem(ctx, err, "")
		}
		byName := map[string][]SystemPromptReplacement{}
		for _, p := range reps {
			byName[p.Replaces] = append(byName[p.Replaces], SystemPromptReplacement{Language: p.Language, PromptID: string(p.ID)})
		}
		out := &systemPromptList{}
		out.Body.Items = []SystemPrompt{}
		for _, name := range system.Names() {
			sp := SystemPrompt{Name: name, Languages: systemLanguages(name), ReplacedBy: byName[name]}
			if sp.ReplacedBy == nil {
				sp.ReplacedBy = []SystemPromptReplacement{}
			}
			out.Body.Items = append(out.Body.Items, sp)
		}
		return out, nil
	})
}

// readMergePatch decodes a JSON merge patch (RFC 7396) into dst, a struct of
// pointer fields: keys are checked as spelled, and a null is allowed only
// for the fields named nullable (returned in the set).
func readMergePatch(raw []byte, dst any, nullable ...string) (map[string]bool, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, core.ValidationError{{Field: "", Message: "must be a JSON object (a merge patch)"}}
	}
	if err := checkKeys(raw, reflect.TypeOf(dst)); err != nil {
		return nil, err
	}
	var v core.ValidationError
	nulls := map[string]bool{}
	rest := map[string]json.RawMessage{}
	for name, val := range fields {
		if string(bytes.TrimSpace(val)) != "null" {
			rest[name] = val
			continue
		}
		if !contains(nullable, name) {
			v.Add(name, "cannot be null", nil)
			continue
		}
		nulls[name] = true
	}
	b, _ := json.Marshal(rest)
	if err := decodeStrict(b, dst); err != nil {
		var ve core.ValidationError
		if errors.As(err, &ve) {
			v = append(v, ve...)
		} else {
			v = append(v, jsonFieldError(err))
		}
	}
	return nulls, v.Err()
}

// documentMergePatch documents a PATCH read raw with the schema of its patch type.
func documentMergePatch(a huma.API, route string, t reflect.Type, name string) {
	if p := a.OpenAPI().Paths[route]; p != nil && p.Patch != nil {
		schema := a.OpenAPI().Components.Schemas.Schema(t, true, name)
		p.Patch.RequestBody.Content = map[string]*huma.MediaType{
			"application/merge-patch+json": {Schema: schema},
			"application/json":             {Schema: schema},
		}
	}
}

// systemLanguages lists the languages with their own recording of a system
// prompt (system.WAV falls back to English for the others).
func systemLanguages(name string) []string {
	en, ok := system.WAV(system.Fallback, name)
	if !ok {
		return []string{}
	}
	langs := []string{system.Fallback}
	for _, l := range system.Languages() {
		if l == system.Fallback {
			continue
		}
		if b, ok := system.WAV(l, name); ok && !bytes.Equal(b, en) {
			langs = append(langs, l)
		}
	}
	return langs
}
