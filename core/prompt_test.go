package core

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeLanguage(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"en", "en", true},
		{"EN", "en", true},
		{"en-us", "en-US", true},
		{"fr-CA", "fr-CA", true},
		{"zh-hant-tw", "zh-Hant-TW", true},
		{"es-419", "es-419", true},
		{"de-x-ab", "de-x-ab", true},
		{"", "", false},
		{"e", "", false},
		{"english", "", false},
		{"en_US", "", false},
		{"en-", "", false},
		{"en-us-" + strings.Repeat("a", 40), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := NormalizeLanguage(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("NormalizeLanguage(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLanguageFallbacks(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"en", []string{"en"}},
		{"fr", []string{"fr", "en"}},
		{"fr-ca", []string{"fr-CA", "fr", "en"}},
		{"en-GB", []string{"en-GB", "en"}},
		{"", []string{"en"}},
		{"not a tag", []string{"en"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := LanguageFallbacks(tt.in); !slices.Equal(got, tt.want) {
				t.Fatalf("LanguageFallbacks(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func isSystemForTest(name string) bool { return name == "goodbye" || name == "moh-default" }

func TestPromptValidate(t *testing.T) {
	tests := []struct {
		name   string
		p      Prompt
		fields []string
		lang   string
	}{
		{"defaults", Prompt{Name: " Welcome "}, nil, "en"},
		{"canonical language", Prompt{Name: "a", Language: "fr-ca"}, nil, "fr-CA"},
		{"replaces a system prompt", Prompt{Name: "a", Replaces: "goodbye"}, nil, "en"},
		{"empty name", Prompt{Name: "  "}, []string{"name"}, ""},
		{"long name", Prompt{Name: strings.Repeat("é", 101)}, []string{"name"}, ""},
		{"control in name", Prompt{Name: "a\nb"}, []string{"name"}, ""},
		{"bad language", Prompt{Name: "a", Language: "english!"}, []string{"language"}, ""},
		{"unknown system prompt", Prompt{Name: "a", Replaces: "nothing"}, []string{"replaces"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate(isSystemForTest)
			checkFields(t, err, tt.fields)
			if err == nil && tt.p.Language != tt.lang {
				t.Fatalf("language = %q, want %q", tt.p.Language, tt.lang)
			}
		})
	}
}

func TestMOHClassValidate(t *testing.T) {
	long := make([]string, MaxMOHPrompts+1)
	for i := range long {
		long[i] = "moh-default"
	}
	tests := []struct {
		name   string
		c      MOHClass
		fields []string
	}{
		{"system prompt", MOHClass{Name: "x", Prompts: []string{"moh-default"}}, nil},
		{"stored prompt", MOHClass{Name: "x", Prompts: []string{"pmt_0123456789abcdef"}, Order: MOHShuffle}, nil},
		{"no prompts", MOHClass{Name: "x"}, []string{"prompts"}},
		{"too many prompts", MOHClass{Name: "x", Prompts: long}, []string{"prompts"}},
		{"unknown system prompt", MOHClass{Name: "x", Prompts: []string{"moh-default", "jazz"}}, []string{"prompts[1]"}},
		{"malformed prompt id", MOHClass{Name: "x", Prompts: []string{"pmt_nope"}}, []string{"prompts[0]"}},
		{"bad order", MOHClass{Name: "x", Prompts: []string{"goodbye"}, Order: "random"}, []string{"order"}},
		{"empty name", MOHClass{Prompts: []string{"goodbye"}}, []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate(isSystemForTest)
			checkFields(t, err, tt.fields)
			if err == nil && tt.c.Order == "" {
				t.Fatal("order not defaulted")
			}
		})
	}
}

func checkFields(t *testing.T, err error, fields []string) {
	t.Helper()
	if len(fields) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var v ValidationError
	if !errors.As(err, &v) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v is not a validation error", err)
	}
	var got []string
	for _, f := range v {
		got = append(got, f.Field)
	}
	if !slices.Equal(got, fields) {
		t.Fatalf("fields = %v, want %v", got, fields)
	}
}
