package audio

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// fakePrompts is an in-memory PromptStore counting the audio it hands out.
type fakePrompts struct {
	mu        sync.Mutex
	audio     map[core.PromptID][]int16
	versions  map[core.PromptID]int64
	replacing map[string]core.PromptID // name + "/" + language
	classes   map[core.MOHClassID]*core.MOHClass
	reads     int
	fail      error
}

func newFakePrompts() *fakePrompts {
	return &fakePrompts{audio: map[core.PromptID][]int16{}, versions: map[core.PromptID]int64{},
		replacing: map[string]core.PromptID{}, classes: map[core.MOHClassID]*core.MOHClass{}}
}

func (f *fakePrompts) put(id core.PromptID, samples []int16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audio[id] = samples
	f.versions[id]++
}

func (f *fakePrompts) PromptVersion(_ context.Context, id core.PromptID) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	v, ok := f.versions[id]
	if !ok {
		return 0, core.ErrNotFound
	}
	return v, nil
}

func (f *fakePrompts) PromptAudio(_ context.Context, id core.PromptID) ([]byte, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.audio[id]
	if !ok {
		return nil, 0, core.ErrNotFound
	}
	f.reads++
	return EncodeWAV(s), f.versions[id], nil
}

func (f *fakePrompts) PromptReplacing(_ context.Context, name, language string) (core.PromptID, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", 0, f.fail
	}
	id, ok := f.replacing[name+"/"+language]
	if !ok {
		return "", 0, fmt.Errorf("replacing %s: %w", name, core.ErrNotFound)
	}
	return id, f.versions[id], nil
}

func (f *fakePrompts) GetMOHClass(_ context.Context, id core.MOHClassID) (*core.MOHClass, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.classes[id]
	if !ok {
		return nil, core.ErrNotFound
	}
	return c, nil
}

func (f *fakePrompts) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// fakeSystem ships "goodbye" in English and French and "beep" in English,
// each recording a distinct constant so tests can tell them apart; French
// falls back to English like the real library.
func fakeSystem(languages ...string) SystemPrompts {
	rec := map[string][]int16{
		"en/goodbye": {1, 1}, "fr/goodbye": {2, 2}, "en/beep": {3, 3},
	}
	return SystemPrompts{
		Samples: func(language, name string) ([]int16, bool) {
			if s, ok := rec[language+"/"+name]; ok && slices.Contains(languages, language) {
				return s, true
			}
			s, ok := rec["en/"+name]
			return s, ok
		},
		Languages: func() []string { return languages },
	}
}

func TestLibrarySamples(t *testing.T) {
	ctx := context.Background()
	st := newFakePrompts()
	st.put("pmt_welcome000000000", []int16{10, 10, 10})
	st.put("pmt_frgoodbye0000000", []int16{20})
	st.put("pmt_engoodbye0000000", []int16{30})
	st.replacing["goodbye/fr"] = "pmt_frgoodbye0000000"
	withEn := newFakePrompts()
	withEn.put("pmt_engoodbye0000000", []int16{30})
	withEn.replacing["goodbye/en"] = "pmt_engoodbye0000000"

	tests := []struct {
		name     string
		store    *fakePrompts
		sys      SystemPrompts
		prompt   call.Prompt
		language string
		want     []int16
		err      error
	}{
		{"stored by id", st, fakeSystem("en"), "pmt_welcome000000000", "de", []int16{10, 10, 10}, nil},
		{"system in English", st, fakeSystem("en"), "goodbye", "en", []int16{1, 1}, nil},
		{"replacement in the caller's language", st, fakeSystem("en", "fr"), "goodbye", "fr", []int16{20}, nil},
		{"replacement in the base language", st, fakeSystem("en", "fr"), "goodbye", "fr-CA", []int16{20}, nil},
		{"no replacement for English callers", st, fakeSystem("en", "fr"), "goodbye", "en-GB", []int16{1, 1}, nil},
		{"built-in in the caller's language", withEn, fakeSystem("en", "fr"), "goodbye", "fr", []int16{2, 2}, nil},
		{"English replacement when the language has no recordings", withEn, fakeSystem("en", "fr"), "goodbye", "de", []int16{30}, nil},
		{"English built-in as last resort", st, fakeSystem("en", "fr"), "beep", "fr", []int16{3, 3}, nil},
		{"unknown name", st, fakeSystem("en"), "fanfare", "en", nil, core.ErrNotFound},
		{"unknown id", st, fakeSystem("en"), "pmt_nothing000000000", "en", nil, core.ErrNotFound},
		{"empty", st, fakeSystem("en"), "", "en", nil, core.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewLibrary(tt.store, tt.sys).Samples(ctx, tt.prompt, tt.language)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("samples = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLibraryStoreErrors(t *testing.T) {
	st := newFakePrompts()
	boom := errors.New("database gone")
	st.fail = boom
	lib := NewLibrary(st, fakeSystem("en"))
	for _, p := range []call.Prompt{"goodbye", "pmt_welcome000000000"} {
		if _, err := lib.Samples(context.Background(), p, "en"); !errors.Is(err, boom) {
			t.Fatalf("%s: err = %v, want the store's", p, err)
		}
	}
}

func TestLibraryCacheFollowsVersions(t *testing.T) {
	ctx := context.Background()
	st := newFakePrompts()
	st.put("pmt_a000000000000000", []int16{1})
	lib := NewLibrary(st, fakeSystem("en"))
	for range 3 {
		if got, _ := lib.Samples(ctx, "pmt_a000000000000000", "en"); !slices.Equal(got, []int16{1}) {
			t.Fatalf("samples = %v", got)
		}
	}
	if st.readCount() != 1 {
		t.Fatalf("audio read %d times, want once (cached)", st.readCount())
	}
	st.put("pmt_a000000000000000", []int16{2, 2})
	if got, _ := lib.Samples(ctx, "pmt_a000000000000000", "en"); !slices.Equal(got, []int16{2, 2}) {
		t.Fatalf("after an update: %v", got)
	}
	if st.readCount() != 2 || lib.size != 4 || len(lib.entries) != 1 {
		t.Fatalf("reads %d, cache %d bytes in %d entries", st.readCount(), lib.size, len(lib.entries))
	}

	// A replacement that changes is followed too.
	st.put("pmt_r000000000000000", []int16{5})
	st.replacing["beep/en"] = "pmt_r000000000000000"
	if got, _ := lib.Samples(ctx, "beep", "en"); !slices.Equal(got, []int16{5}) {
		t.Fatalf("replacement: %v", got)
	}
	st.put("pmt_r000000000000000", []int16{6})
	if got, _ := lib.Samples(ctx, "beep", "en"); !slices.Equal(got, []int16{6}) {
		t.Fatalf("updated replacement: %v", got)
	}
	delete(st.replacing, "beep/en")
	if got, _ := lib.Samples(ctx, "beep", "en"); !slices.Equal(got, []int16{3, 3}) {
		t.Fatalf("after the replacement went: %v", got)
	}
}

func TestLibraryCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	st := newFakePrompts()
	ids := []core.PromptID{"pmt_a000000000000000", "pmt_b000000000000000", "pmt_c000000000000000", "pmt_d000000000000000"}
	for _, id := range ids {
		st.put(id, make([]int16, 100)) // 200 bytes each
	}
	st.put("pmt_huge000000000000", make([]int16, 1000))
	lib := NewLibrary(st, fakeSystem("en"))
	lib.maxBytes = 600
	get := func(id core.PromptID) {
		t.Helper()
		if _, err := lib.Samples(ctx, call.Prompt(id), "en"); err != nil {
			t.Fatal(err)
		}
	}
	get(ids[0])
	get(ids[1])
	get(ids[2])
	get(ids[0]) // most recently used: b is now the eldest
	get(ids[3]) // evicts b
	if lib.size != 600 || len(lib.entries) != 3 {
		t.Fatalf("cache %d bytes in %d entries", lib.size, len(lib.entries))
	}
	if _, ok := lib.entries[ids[1]]; ok {
		t.Fatal("the least recently used prompt was kept")
	}
	reads := st.readCount()
	get(ids[0])
	if st.readCount() != reads {
		t.Fatal("a recently used prompt was evicted")
	}
	get("pmt_huge000000000000") // larger than the whole cache: not kept
	get("pmt_huge000000000000")
	if st.readCount() != reads+2 || lib.size != 600 {
		t.Fatalf("oversized prompt: reads %d, cache %d bytes", st.readCount()-reads, lib.size)
	}
}

func TestLibraryConcurrent(t *testing.T) {
	st := newFakePrompts()
	for i := range 8 {
		st.put(core.PromptID(fmt.Sprintf("pmt_%016d", i)), make([]int16, 50))
	}
	lib := NewLibrary(st, fakeSystem("en"))
	lib.maxBytes = 300
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := call.Prompt(fmt.Sprintf("pmt_%016d", (g+i)%8))
				if s, err := lib.Samples(context.Background(), id, "en"); err != nil || len(s) != 50 {
					t.Errorf("%s: %d samples, %v", id, len(s), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if lib.size > lib.maxBytes || lib.size != int64(len(lib.entries))*100 {
		t.Fatalf("cache %d bytes in %d entries", lib.size, len(lib.entries))
	}
}

func TestLibraryMOH(t *testing.T) {
	ctx := context.Background()
	st := newFakePrompts()
	st.classes[core.DefaultMOHClassID] = &core.MOHClass{ID: core.DefaultMOHClassID, Prompts: []string{"moh-default"}, Order: core.MOHOrdered}
	st.classes["moh_lobby00000000000"] = &core.MOHClass{ID: "moh_lobby00000000000", Prompts: []string{"pmt_a000000000000000", "moh-default"}, Order: core.MOHShuffle}
	lib := NewLibrary(st, fakeSystem("en"))
	tests := []struct {
		name    string
		id      string
		want    []call.Prompt
		shuffle bool
		err     error
	}{
		{"default for an empty id", "", []call.Prompt{"moh-default"}, false, nil},
		{"named class", "moh_lobby00000000000", []call.Prompt{"pmt_a000000000000000", "moh-default"}, true, nil},
		{"unknown", "moh_nothing000000000", nil, false, core.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, shuffle, err := lib.MOH(ctx, tt.id)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !slices.Equal(got, tt.want) || shuffle != tt.shuffle {
				t.Fatalf("MOH = %v %v, want %v %v", got, shuffle, tt.want, tt.shuffle)
			}
		})
	}
}

func TestLibraryWithoutSystemPrompts(t *testing.T) {
	st := newFakePrompts()
	st.put("pmt_r000000000000000", []int16{7})
	st.replacing["goodbye/en"] = "pmt_r000000000000000"
	lib := NewLibrary(st)
	if got, err := lib.Samples(context.Background(), "goodbye", "fr"); err != nil || !slices.Equal(got, []int16{7}) {
		t.Fatalf("replacement: %v %v", got, err)
	}
	if _, err := lib.Samples(context.Background(), "beep", "en"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("system prompt without a system library: %v", err)
	}
}
