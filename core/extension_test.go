package core

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestExtensionSpecValidate(t *testing.T) {
	valid := func() ExtensionSpec {
		s := DefaultExtensionSpec()
		s.Number = "1001"
		s.Normalize()
		return s
	}
	tests := []struct {
		name   string
		change func(*ExtensionSpec)
		field  string // "" means valid
	}{
		{"defaults", func(*ExtensionSpec) {}, ""},
		{"two digits", func(s *ExtensionSpec) { s.Number, s.SIPUsername = "10", "10" }, ""},
		{"one digit", func(s *ExtensionSpec) { s.Number = "1" }, "number"},
		{"seven digits", func(s *ExtensionSpec) { s.Number = "1234567" }, "number"},
		{"letters", func(s *ExtensionSpec) { s.Number = "10a1" }, "number"},
		{"email ok", func(s *ExtensionSpec) { s.Email = "ann@example.com" }, ""},
		{"email with name", func(s *ExtensionSpec) { s.Email = "Ann <ann@example.com>" }, "email"},
		{"email broken", func(s *ExtensionSpec) { s.Email = "ann@" }, "email"},
		{"mobile e164", func(s *ExtensionSpec) { s.Mobile = "+447700900123" }, ""},
		{"mobile national", func(s *ExtensionSpec) { s.Mobile = "07700900123" }, "mobile"},
		{"caller id", func(s *ExtensionSpec) { s.OutboundCallerID = "+14155550100" }, ""},
		{"caller id bad", func(s *ExtensionSpec) { s.OutboundCallerID = "+0155" }, "outbound_caller_id"},
		{"language region", func(s *ExtensionSpec) { s.Language = "fr-CA" }, ""},
		{"language junk", func(s *ExtensionSpec) { s.Language = "not a tag" }, "language"},
		{"timezone", func(s *ExtensionSpec) { s.Timezone = "Europe/Paris" }, ""},
		{"timezone unknown", func(s *ExtensionSpec) { s.Timezone = "Mars/Olympus" }, "timezone"},
		{"timezone local", func(s *ExtensionSpec) { s.Timezone = "Local" }, "timezone"},
		{"timezone path", func(s *ExtensionSpec) { s.Timezone = "../../etc/passwd" }, "timezone"},
		{"ring low", func(s *ExtensionSpec) { s.RingTimeoutSeconds = 4 }, "ring_timeout_seconds"},
		{"ring high", func(s *ExtensionSpec) { s.RingTimeoutSeconds = 301 }, "ring_timeout_seconds"},
		{"ring edge", func(s *ExtensionSpec) { s.RingTimeoutSeconds = 300 }, ""},
		{"username", func(s *ExtensionSpec) { s.SIPUsername = "ann.lee" }, ""},
		{"username space", func(s *ExtensionSpec) { s.SIPUsername = "ann lee" }, "sip_username"},
		{"username header injection", func(s *ExtensionSpec) { s.SIPUsername = "a\r\nVia: x" }, "sip_username"},
		{"name control", func(s *ExtensionSpec) { s.Name = "Ann\nLee" }, "name"},
		{"digest server default", func(s *ExtensionSpec) { s.SIPDigestAlgorithms = nil }, ""},
		{"digest sha-256", func(s *ExtensionSpec) { s.SIPDigestAlgorithms = []string{"SHA-256"} }, ""},
		{"digest both", func(s *ExtensionSpec) { s.SIPDigestAlgorithms = []string{"SHA-256", "MD5"} }, ""},
		{"digest empty", func(s *ExtensionSpec) { s.SIPDigestAlgorithms = []string{} }, "sip_digest_algorithms"},
		{"digest unknown", func(s *ExtensionSpec) { s.SIPDigestAlgorithms = []string{"SHA-512-256"} }, "sip_digest_algorithms"},
		{"digest repeated", func(s *ExtensionSpec) { s.SIPDigestAlgorithms = []string{"MD5", "MD5"} }, "sip_digest_algorithms"},
		{"digest sess", func(s *ExtensionSpec) { s.SIPDigestAlgorithms = []string{"MD5-sess"} }, "sip_digest_algorithms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.change(&s)
			err := s.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ve ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			if len(ve) != 1 || ve[0].Field != tt.field {
				t.Fatalf("want one error on %s, got %v", tt.field, err)
			}
		})
	}
}

func TestDigestAlgorithmsNormalized(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"nil stays nil", nil, nil},
		{"case and space", []string{" sha-256", "md5 "}, []string{"SHA-256", "MD5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultExtensionSpec()
			s.Number = "1001"
			s.SIPDigestAlgorithms = tt.in
			s.Normalize()
			if (s.SIPDigestAlgorithms == nil) != (tt.want == nil) || strings.Join(s.SIPDigestAlgorithms, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %q, want %q", s.SIPDigestAlgorithms, tt.want)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSecretsStayHidden(t *testing.T) {
	pw := NewSIPPassword()
	if len(pw.Reveal()) < 20 {
		t.Fatalf("generated password too short: %d", len(pw.Reveal()))
	}
	if pw.String() == pw.Reveal() {
		t.Fatal("String reveals the secret")
	}
	b, _ := pw.MarshalText()
	if string(b) == pw.Reveal() {
		t.Fatal("MarshalText reveals the secret")
	}
}

func TestPINHash(t *testing.T) {
	h := HashPIN("4321")
	tests := []struct {
		pin  string
		want bool
	}{{"4321", true}, {"4322", false}, {"", false}, {"43210", false}}
	for _, tt := range tests {
		if got := VerifyPIN(h, tt.pin); got != tt.want {
			t.Errorf("VerifyPIN(%q) = %v", tt.pin, got)
		}
	}
	if HashPIN("4321") == h {
		t.Error("hashes are not salted")
	}
	if VerifyPIN("garbage", "4321") {
		t.Error("a malformed hash verified")
	}
}

func TestSIPPasswordAndPINRules(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"short", ValidateSIPPassword("short")},
		{"space", ValidateSIPPassword("has a space in it")},
		{"quote", ValidateSIPPassword(`quote"inside1234`)},
		{"pin letters", ValidateVoicemailPIN("12ab")},
		{"pin short", ValidateVoicemailPIN("123")},
		{"pin long", ValidateVoicemailPIN("12345678901")},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", tt.name, tt.err)
		}
	}
	if err := ValidateSIPPassword("Correct-Horse-42"); err != nil {
		t.Errorf("good password refused: %v", err)
	}
	if err := ValidateVoicemailPIN("0000"); err != nil {
		t.Errorf("good pin refused: %v", err)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID(PrefixExtension)
		if !HasPrefix(id, PrefixExtension) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	if HasPrefix("ext_", PrefixExtension) || HasPrefix("key_0123456789abcdef", PrefixExtension) {
		t.Fatal("HasPrefix accepted a malformed id")
	}
}

func TestReservedNumberError(t *testing.T) {
	emergency := []string{"911", "933", "112"}
	tests := []struct {
		number string
		want   string // part of the message; "" means allowed
	}{
		{"1001", ""},
		{"911", "is the emergency number 911"},
		{"91", "is the start of the emergency number 911"},
		{"9", "is the start of the emergency number 911"},
		{"9112", "starts with the emergency number 911"},
		{"911000", "starts with the emergency number 911"},
		{"93", "is the start of the emergency number 933"},
		{"11", "is the start of the emergency number 112"},
		{"1120", "starts with the emergency number 112"},
		{"912", ""},
		{"190", ""},
		{"*82", "is the feature code *82"},
		{"*8", "is the start of the feature code *82"},
		{"*821", "starts with the feature code *82"},
		{"82", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			fe := ReservedNumberError(tt.number, emergency)
			if tt.want == "" {
				if fe != nil {
					t.Fatalf("refused: %v", fe)
				}
				return
			}
			if fe == nil || fe.Field != "number" || !strings.Contains(fe.Message, tt.want) {
				t.Fatalf("got %v, want number: %s", fe, tt.want)
			}
		})
	}
	t.Run("no emergency list", func(t *testing.T) {
		if fe := ReservedNumberError("911", nil); fe != nil {
			t.Fatalf("refused without an emergency list: %v", fe)
		}
	})
}

// memExtensions is an in-memory ExtensionRepo.
type memExtensions struct{ m map[ExtensionID]*Extension }

func (r *memExtensions) CreateExtension(_ context.Context, e *Extension, _ ...Event) error {
	c := *e
	r.m[e.ID] = &c
	return nil
}

func (r *memExtensions) GetExtension(_ context.Context, id ExtensionID) (*Extension, error) {
	e, ok := r.m[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := *e
	return &c, nil
}

func (r *memExtensions) ListExtensions(context.Context, ExtensionFilter, PageRequest) (Page[*Extension], error) {
	return Page[*Extension]{}, nil
}

func (r *memExtensions) UpdateExtension(_ context.Context, e *Extension, _ int64, _ ...Event) error {
	e.Version++
	c := *e
	r.m[e.ID] = &c
	return nil
}

func (r *memExtensions) DeleteExtension(_ context.Context, id ExtensionID, _ ...Event) error {
	delete(r.m, id)
	return nil
}

func TestExtensionsRefuseReservedNumbers(t *testing.T) {
	ctx := context.Background()
	repo := &memExtensions{m: map[ExtensionID]*Extension{}}
	s := &Extensions{Repo: repo, Emergency: []string{"911", "112"}}
	create := func(number string) (*Extension, error) {
		spec := DefaultExtensionSpec()
		spec.Number = number
		return s.Create(ctx, spec, ExtensionChange{})
	}
	for _, n := range []string{"911", "91", "9112", "11", "1120"} {
		t.Run("create "+n, func(t *testing.T) {
			_, err := create(n)
			var v ValidationError
			if !errors.As(err, &v) || len(v) != 1 || v[0].Field != "number" {
				t.Fatalf("create %s: %v, want one number error", n, err)
			}
		})
	}
	t.Run("format error once", func(t *testing.T) {
		_, err := create("911a")
		var v ValidationError
		if !errors.As(err, &v) || len(v) != 1 || v[0].Field != "number" {
			t.Fatalf("got %v, want one number error", err)
		}
	})
	e, err := create("1001")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("renumber", func(t *testing.T) {
		_, err := s.Update(ctx, e.ID, 0, func(spec *ExtensionSpec) (ExtensionChange, error) {
			spec.Number = "91"
			return ExtensionChange{}, nil
		})
		var v ValidationError
		if !errors.As(err, &v) || v[0].Field != "number" {
			t.Fatalf("renumber to 91: %v", err)
		}
	})
	t.Run("kept number", func(t *testing.T) {
		// A number that became an emergency number later keeps working.
		s.Emergency = append(s.Emergency, "1001")
		defer func() { s.Emergency = s.Emergency[:2] }()
		if _, err := s.Update(ctx, e.ID, 0, func(spec *ExtensionSpec) (ExtensionChange, error) {
			spec.Name = "Renamed"
			return ExtensionChange{}, nil
		}); err != nil {
			t.Fatalf("rename: %v", err)
		}
	})
}
