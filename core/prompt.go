package core

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// PromptID identifies a stored prompt ("pmt_...").
type PromptID string

// MOHClassID identifies a music-on-hold class ("moh_...").
type MOHClassID string

// ID prefixes of prompts and music-on-hold classes.
const (
	PrefixPrompt   = "pmt_"
	PrefixMOHClass = "moh_"
)

// DefaultMOHClassID is the class created with the database, named
// DefaultMOHClassName, played when nothing names another class. It can be
// edited but not deleted.
const DefaultMOHClassID MOHClassID = "moh_vj3bxx11dgev1160"

// DefaultMOHClassName is the name of the default class.
const DefaultMOHClassName = "default"

// DefaultLanguage is the language of a prompt that names none, and the
// language played when a prompt has no recording in the one asked for.
const DefaultLanguage = "en"

// Prompt is a recording uploaded to the PBX: played by id, or in place of
// the system prompt it replaces for its language.
type Prompt struct {
	ID       PromptID
	Name     string
	Language string // BCP 47 tag, canonical case ("en", "en-US", "fr")
	// Replaces is the system prompt this recording stands in for in its
	// language ("" for none). At most one prompt replaces a name per language.
	Replaces   string
	DurationMS int64 // playing time of the stored audio
	SizeBytes  int64 // size of the stored WAV (8 kHz mono 16-bit)
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// PromptRepo stores prompts and their audio (8 kHz mono 16-bit WAV), the
// audio written in the same transaction as the prompt.
type PromptRepo interface {
	CreatePrompt(ctx context.Context, p *Prompt, wav []byte) error
	GetPrompt(ctx context.Context, id PromptID) (*Prompt, error)
	ListPrompts(ctx context.Context, p PageRequest) (Page[*Prompt], error)
	// UpdatePrompt writes p if its stored version is still expectVersion;
	// a nil wav keeps the stored audio. p.Version is advanced.
	UpdatePrompt(ctx context.Context, p *Prompt, wav []byte, expectVersion int64) error
	// DeletePrompt refuses (an InUseError) while call plans or
	// music-on-hold classes name the prompt.
	DeletePrompt(ctx context.Context, id PromptID) error
	// PromptVersion is a prompt's version, read without its audio.
	PromptVersion(ctx context.Context, id PromptID) (int64, error)
	// PromptAudio is the stored WAV of a prompt and the prompt's version.
	PromptAudio(ctx context.Context, id PromptID) ([]byte, int64, error)
	// PromptReplacing is the prompt replacing a system prompt in exactly
	// that language (ErrNotFound when none does).
	PromptReplacing(ctx context.Context, name, language string) (PromptID, int64, error)
	// PromptReplacements lists every prompt that replaces a system prompt.
	PromptReplacements(ctx context.Context) ([]*Prompt, error)
}

var languageRE = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)

// NormalizeLanguage checks a BCP 47 language tag (RFC 5646 §2.1, as far as
// the shape of its subtags goes) and returns it in the canonical case of
// RFC 5646 §2.1.1: language lower-case, script title-case, region upper-case.
func NormalizeLanguage(tag string) (string, bool) {
	if len(tag) > 35 || !languageRE.MatchString(tag) {
		return "", false
	}
	parts := strings.Split(tag, "-")
	ext := false // after a singleton (extension or private use) all is lower-case
	for i, p := range parts {
		ext = ext || len(p) == 1
		switch {
		case i > 0 && !ext && len(p) == 2:
			parts[i] = strings.ToUpper(p)
		case i == 1 && len(p) == 4 && isAlpha(p):
			parts[i] = strings.ToUpper(p[:1]) + strings.ToLower(p[1:])
		default:
			parts[i] = strings.ToLower(p)
		}
	}
	return strings.Join(parts, "-"), true
}

func isAlpha(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// LanguageFallbacks are the languages tried, in order, for a recording in
// language: the tag itself, its shorter prefixes ("en-US" -> "en") and
// finally DefaultLanguage.
func LanguageFallbacks(language string) []string {
	var out []string
	if l, ok := NormalizeLanguage(language); ok {
		for {
			out = append(out, l)
			i := strings.LastIndexByte(l, '-')
			if i < 0 {
				break
			}
			l = l[:i]
		}
	}
	for _, l := range out {
		if l == DefaultLanguage {
			return out
		}
	}
	return append(out, DefaultLanguage)
}

// Validate checks a prompt and fills defaults. isSystem says whether a name
// is a system prompt (the embedded library lives outside core).
func (p *Prompt) Validate(isSystem func(string) bool) error {
	var v ValidationError
	p.Name = strings.TrimSpace(p.Name)
	if n := utf8.RuneCountInString(p.Name); n == 0 || n > 100 || hasControl(p.Name) || !utf8.ValidString(p.Name) {
		v.Add("name", "must be 1 to 100 printable characters", p.Name)
	}
	if p.Language == "" {
		p.Language = DefaultLanguage
	}
	if l, ok := NormalizeLanguage(p.Language); ok {
		p.Language = l
	} else {
		v.Add("language", "must be a BCP 47 language tag such as en, en-US or fr", p.Language)
	}
	if p.Replaces != "" && (isSystem == nil || !isSystem(p.Replaces)) {
		v.Add("replaces", "names no system prompt (see /v1/system-prompts)", p.Replaces)
	}
	return v.Err()
}

// MOHOrder says how a class's prompts follow each other.
type MOHOrder string

// Orders of a music-on-hold class.
const (
	MOHOrdered MOHOrder = "ordered"
	MOHShuffle MOHOrder = "shuffle"
)

// MaxMOHPrompts is the most prompts a class lists.
const MaxMOHPrompts = 100

// MOHClass is a playlist callers hear while they wait.
type MOHClass struct {
	ID   MOHClassID
	Name string
	// Prompts are played in turn, looping: stored prompt ids ("pmt_...")
	// or system prompt names ("moh-default").
	Prompts   []string
	Order     MOHOrder
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MOHClassRepo stores music-on-hold classes. Create and update refuse (a
// ValidationError naming prompts[i]) a stored prompt that does not exist.
type MOHClassRepo interface {
	CreateMOHClass(ctx context.Context, c *MOHClass) error
	GetMOHClass(ctx context.Context, id MOHClassID) (*MOHClass, error)
	ListMOHClasses(ctx context.Context, p PageRequest) (Page[*MOHClass], error)
	UpdateMOHClass(ctx context.Context, c *MOHClass, expectVersion int64) error
	// DeleteMOHClass refuses the default class and (an InUseError) a class
	// still in use.
	DeleteMOHClass(ctx context.Context, id MOHClassID) error
}

// Validate checks a class and fills defaults. isSystem says whether a name
// is a system prompt; stored prompt ids are checked by the repository.
func (c *MOHClass) Validate(isSystem func(string) bool) error {
	var v ValidationError
	c.Name = strings.TrimSpace(c.Name)
	if n := utf8.RuneCountInString(c.Name); n == 0 || n > 100 || hasControl(c.Name) || !utf8.ValidString(c.Name) {
		v.Add("name", "must be 1 to 100 printable characters", c.Name)
	}
	if len(c.Prompts) == 0 || len(c.Prompts) > MaxMOHPrompts {
		v.Add("prompts", fmt.Sprintf("must list 1 to %d prompts", MaxMOHPrompts), len(c.Prompts))
	}
	for i, ref := range c.Prompts {
		field := fmt.Sprintf("prompts[%d]", i)
		switch {
		case strings.HasPrefix(ref, PrefixPrompt):
			if !HasPrefix(ref, PrefixPrompt) {
				v.Add(field, "is not a prompt id", ref)
			}
		case isSystem == nil || !isSystem(ref):
			v.Add(field, "names no stored prompt (pmt_...) or system prompt", ref)
		}
	}
	if c.Order == "" {
		c.Order = MOHOrdered
	}
	if c.Order != MOHOrdered && c.Order != MOHShuffle {
		v.Add("order", "must be ordered or shuffle", c.Order)
	}
	return v.Err()
}
