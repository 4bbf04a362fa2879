package audio

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// PromptStore is where the library reads uploaded prompts and
// music-on-hold classes (store.DB implements it).
type PromptStore interface {
	// PromptVersion is a stored prompt's version (cheap: no audio read).
	PromptVersion(ctx context.Context, id core.PromptID) (int64, error)
	// PromptAudio is a stored prompt's WAV (8 kHz mono 16-bit) and version.
	PromptAudio(ctx context.Context, id core.PromptID) ([]byte, int64, error)
	// PromptReplacing is the prompt replacing system prompt name in exactly
	// language; core.ErrNotFound when none does.
	PromptReplacing(ctx context.Context, name, language string) (core.PromptID, int64, error)
	GetMOHClass(ctx context.Context, id core.MOHClassID) (*core.MOHClass, error)
}

// SystemPrompts is the built-in prompt library (package system, which
// imports this one and so is handed in):
//
//	audio.SystemPrompts{Samples: system.Samples, Languages: system.Languages}
type SystemPrompts struct {
	// Samples is a prompt in a language, falling back to English; false
	// when no such prompt ships. The slice is shared, never modified.
	Samples func(language, name string) ([]int16, bool)
	// Languages lists the languages with built-in recordings.
	Languages func() []string
}

// DefaultCacheBytes bounds the decoded stored prompts a Library keeps.
const DefaultCacheBytes = 64 << 20

// Library finds the audio of the prompts calls play: stored prompts by id,
// system prompts by name and language with stored replacements taking
// precedence. Decoded stored prompts are cached by id and version, least
// recently used first out, so a changed prompt plays from the next call on.
// Safe for concurrent use.
type Library struct {
	store  PromptStore
	system SystemPrompts

	mu       sync.Mutex
	entries  map[core.PromptID]*list.Element // of *cached
	lru      list.List                       // front: most recently used
	size     int64                           // bytes of samples held
	maxBytes int64
}

type cached struct {
	id      core.PromptID
	version int64
	samples []int16
}

// NewLibrary returns a library reading stored prompts from store and
// built-in ones from sys (without it, only stored prompts and
// replacements are found).
func NewLibrary(store PromptStore, sys ...SystemPrompts) *Library {
	l := &Library{store: store, entries: map[core.PromptID]*list.Element{}, maxBytes: DefaultCacheBytes}
	if len(sys) > 0 {
		l.system = sys[0]
	}
	return l
}

// Samples is prompt p as 8 kHz mono 16-bit PCM for a caller speaking
// language. A "pmt_" id is that stored prompt. A name is a system prompt:
// for the language, then its shorter forms (fr-CA, fr), then English, a
// stored replacement in that language plays if there is one, else the
// built-in recording when that language has built-in recordings; English
// built-in is the last resort. Unknown prompts are core.ErrNotFound. The
// slice returned is shared: callers must not modify it.
func (l *Library) Samples(ctx context.Context, p call.Prompt, language string) ([]int16, error) {
	s := string(p)
	if strings.HasPrefix(s, core.PrefixPrompt) {
		version, err := l.store.PromptVersion(ctx, core.PromptID(s))
		if err != nil {
			return nil, fmt.Errorf("prompt %s: %w", s, err)
		}
		return l.stored(ctx, core.PromptID(s), version)
	}
	if s == "" {
		return nil, fmt.Errorf("empty prompt name: %w", core.ErrNotFound)
	}
	builtIn := map[string]bool{}
	if l.system.Languages != nil {
		for _, lang := range l.system.Languages() {
			builtIn[lang] = true
		}
	}
	for _, lang := range core.LanguageFallbacks(language) {
		id, version, err := l.store.PromptReplacing(ctx, s, lang)
		switch {
		case err == nil:
			return l.stored(ctx, id, version)
		case !errors.Is(err, core.ErrNotFound):
			return nil, fmt.Errorf("prompt replacing %s in %s: %w", s, lang, err)
		}
		if builtIn[lang] && l.system.Samples != nil {
			if samples, ok := l.system.Samples(lang, s); ok {
				return samples, nil
			}
		}
	}
	if l.system.Samples != nil {
		if samples, ok := l.system.Samples(core.DefaultLanguage, s); ok {
			return samples, nil
		}
	}
	return nil, fmt.Errorf("prompt %q: %w", s, core.ErrNotFound)
}

// stored is a stored prompt's samples at version, from the cache or decoded.
func (l *Library) stored(ctx context.Context, id core.PromptID, version int64) ([]int16, error) {
	if samples, ok := l.lookup(id, version); ok {
		return samples, nil
	}
	wav, v, err := l.store.PromptAudio(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", id, err)
	}
	samples, err := DecodeWAV8k(wav)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: stored audio: %w", id, err)
	}
	l.add(&cached{id: id, version: v, samples: samples})
	return samples, nil
}

func (l *Library) lookup(id core.PromptID, version int64) ([]int16, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[id]
	if !ok {
		return nil, false
	}
	c := e.Value.(*cached)
	if c.version != version {
		l.remove(e)
		return nil, false
	}
	l.lru.MoveToFront(e)
	return c.samples, true
}

func (l *Library) add(c *cached) {
	n := int64(len(c.samples)) * 2
	if n > l.maxBytes {
		return // played straight from the store each time
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[c.id]; ok {
		if e.Value.(*cached).version >= c.version {
			l.lru.MoveToFront(e)
			return
		}
		l.remove(e)
	}
	l.entries[c.id] = l.lru.PushFront(c)
	l.size += n
	for l.size > l.maxBytes {
		l.remove(l.lru.Back())
	}
}

func (l *Library) remove(e *list.Element) {
	c := l.lru.Remove(e).(*cached)
	delete(l.entries, c.id)
	l.size -= int64(len(c.samples)) * 2
}

// MOH is the playlist of a music-on-hold class (the default class for an
// empty id) and whether it is to be shuffled. Read afresh on each call, so
// an edited class plays from the next hold on.
func (l *Library) MOH(ctx context.Context, classID string) ([]call.Prompt, bool, error) {
	id := core.MOHClassID(classID)
	if id == "" {
		id = core.DefaultMOHClassID
	}
	c, err := l.store.GetMOHClass(ctx, id)
	if err != nil {
		return nil, false, fmt.Errorf("music-on-hold class %s: %w", id, err)
	}
	prompts := make([]call.Prompt, len(c.Prompts))
	for i, p := range c.Prompts {
		prompts[i] = call.Prompt(p)
	}
	return prompts, c.Order == core.MOHShuffle, nil
}
