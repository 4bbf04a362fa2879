package core

import (
	"context"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/language"
)

// ExtensionSpec is everything about an extension that its owner sets.
type ExtensionSpec struct {
	Number             string
	Name               string
	Email              string
	Mobile             string
	OutboundCallerID   string
	Language           string
	Timezone           string
	Enabled            bool
	RingTimeoutSeconds int
	VoicemailEnabled   bool
	SIPUsername        string
	HideFromDirectory  bool
	// CallPermissions are the classes of numbers the extension may call.
	CallPermissions []string
	// EmergencyCallbackNumber is presented on emergency calls (E.164).
	EmergencyCallbackNumber string
	// SIPDigestAlgorithms are the digest algorithms (DigestAlgorithms)
	// offered to this extension's phones, in order of preference, and the
	// only ones its credentials are accepted with; nil means the server's.
	// An extension with a list of its own can be told from others by its
	// challenge, where every extension on the server's list is challenged
	// like an unknown user.
	SIPDigestAlgorithms []string
	// NamePromptID is the extension's recorded name, played by dial by
	// name ("" reads its number instead).
	NamePromptID string
	// NoAnswerCallPlanID is the call plan calls go to when the extension
	// does not answer, is busy or has no phone registered ("" for none).
	NoAnswerCallPlanID string
}

// Extension is a phone user: a short number, SIP credentials and preferences.
type Extension struct {
	ID ExtensionID
	ExtensionSpec
	// SIPPassword is kept so digest authentication and phone provisioning can use it.
	SIPPassword Secret
	// VoicemailPINHash is empty when no PIN is set.
	VoicemailPINHash string
	// Version increases with every update; it backs ETags and If-Match.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ExtensionFilter narrows an extension list.
type ExtensionFilter struct {
	NumberPrefix string
	Query        string // matched against name and email
}

// ExtensionRepo stores extensions.
// The events given to writes are appended in the same transaction.
type ExtensionRepo interface {
	CreateExtension(ctx context.Context, e *Extension, events ...Event) error
	GetExtension(ctx context.Context, id ExtensionID) (*Extension, error)
	ListExtensions(ctx context.Context, f ExtensionFilter, p PageRequest) (Page[*Extension], error)
	// UpdateExtension stores e if the stored version is still expectVersion, and
	// sets e.Version and e.UpdatedAt to the new values. A version mismatch is
	// ErrPrecondition.
	UpdateExtension(ctx context.Context, e *Extension, expectVersion int64, events ...Event) error
	DeleteExtension(ctx context.Context, id ExtensionID, events ...Event) error
}

// Extension field limits.
const (
	DefaultRingTimeoutSeconds = 30
	MinRingTimeoutSeconds     = 5
	MaxRingTimeoutSeconds     = 300
	MinSIPPasswordLength      = 12
	MaxSIPPasswordLength      = 128
)

var (
	extensionNumberRE = regexp.MustCompile(`^[0-9]{2,6}$`)
	e164RE            = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	sipUsernameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~+-]{0,63}$`)
	pinRE             = regexp.MustCompile(`^[0-9]{4,10}$`)
)

// DigestAlgorithms are the SIP digest algorithms an extension may be
// offered (RFC 7616 §3.3, RFC 8760 §2). MD5 is what most phones know;
// SHA-256 is stronger but baresip 1.0 and many phones give up on it.
var DigestAlgorithms = []string{"MD5", "SHA-256"}

// DefaultExtensionSpec holds the values an extension gets for fields its creator omits.
func DefaultExtensionSpec() ExtensionSpec {
	return ExtensionSpec{
		Language:           "en",
		Timezone:           "UTC",
		Enabled:            true,
		RingTimeoutSeconds: DefaultRingTimeoutSeconds,
		CallPermissions:    append([]string(nil), DefaultCallPermissions...),
	}
}

// Normalize trims surrounding space and fills derived defaults.
func (s *ExtensionSpec) Normalize() {
	for _, f := range []*string{&s.Number, &s.Name, &s.Email, &s.Mobile, &s.OutboundCallerID, &s.Language, &s.Timezone, &s.SIPUsername} {
		*f = strings.TrimSpace(*f)
	}
	if s.SIPUsername == "" {
		s.SIPUsername = s.Number
	}
	if s.Language == "" {
		s.Language = "en"
	}
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	if s.SIPDigestAlgorithms != nil {
		// Algorithm names are case-insensitive tokens (RFC 7616 §3.3).
		algs := make([]string, len(s.SIPDigestAlgorithms))
		for i, a := range s.SIPDigestAlgorithms {
			algs[i] = strings.ToUpper(strings.TrimSpace(a))
		}
		s.SIPDigestAlgorithms = algs
	}
}

// Validate reports every field that breaks a rule, with JSON field names.
func (s *ExtensionSpec) Validate() error {
	var v ValidationError
	if !extensionNumberRE.MatchString(s.Number) {
		v.Add("number", "must be 2 to 6 digits", s.Number)
	}
	if len(s.Name) > 100 || hasControl(s.Name) {
		v.Add("name", "must be at most 100 printable characters", s.Name)
	}
	if s.Email != "" {
		if a, err := mail.ParseAddress(s.Email); err != nil || a.Address != s.Email || len(s.Email) > 254 {
			v.Add("email", "must be a plain email address such as ann@example.com", s.Email)
		}
	}
	if s.Mobile != "" && !e164RE.MatchString(s.Mobile) {
		v.Add("mobile", "must be an E.164 number such as +14155550100", s.Mobile)
	}
	if s.OutboundCallerID != "" && !e164RE.MatchString(s.OutboundCallerID) {
		v.Add("outbound_caller_id", "must be empty or an E.164 number such as +14155550100", s.OutboundCallerID)
	}
	if tag, err := language.Parse(s.Language); err != nil || len(s.Language) > 35 {
		v.Add("language", "must be a BCP 47 language tag such as en or fr-CA", s.Language)
	} else {
		s.Language = tag.String()
	}
	if !validTimezone(s.Timezone) {
		v.Add("timezone", "must be an IANA time zone such as Europe/Paris", s.Timezone)
	}
	if s.RingTimeoutSeconds < MinRingTimeoutSeconds || s.RingTimeoutSeconds > MaxRingTimeoutSeconds {
		v.Add("ring_timeout_seconds", "must be between 5 and 300", s.RingTimeoutSeconds)
	}
	for _, p := range s.CallPermissions {
		if !slices.Contains(CallClasses, p) {
			v.Add("call_permissions", "must be a set of internal, local, national, mobile, international, premium", p)
			break
		}
	}
	if s.EmergencyCallbackNumber != "" && !e164RE.MatchString(s.EmergencyCallbackNumber) {
		v.Add("emergency_callback_number", "must be empty or an E.164 number", s.EmergencyCallbackNumber)
	}
	if s.SIPDigestAlgorithms != nil && !validDigestAlgorithms(s.SIPDigestAlgorithms) {
		v.Add("sip_digest_algorithms", "must be null (the server's algorithms) or a list of MD5 and SHA-256 without repeats, in order of preference", s.SIPDigestAlgorithms)
	}
	if !sipUsernameRE.MatchString(s.SIPUsername) {
		v.Add("sip_username", "must be 1 to 64 letters, digits or ._~+- and start with a letter or digit", s.SIPUsername)
	}
	return v.Err()
}

func validDigestAlgorithms(algs []string) bool {
	if len(algs) == 0 || len(algs) > len(DigestAlgorithms) {
		return false
	}
	for i, a := range algs {
		if !slices.Contains(DigestAlgorithms, a) || slices.Contains(algs[:i], a) {
			return false
		}
	}
	return true
}

func validTimezone(name string) bool {
	if name == "" || name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// Feature codes are dialled strings the PBX acts on itself instead of looking
// up an extension or a route.
const (
	// FeatureHideCallerID, dialled before a number, places that one call
	// without the caller's ID (*82 then the number, as in North America).
	FeatureHideCallerID = "*82"
	// FeatureScheduleToggle followed by a schedule's override code flips
	// that schedule between closed and its hours ("night mode").
	FeatureScheduleToggle = "*28"
)

// FeatureCodes lists every feature code; extension numbers may not shadow one.
var FeatureCodes = []string{FeatureHideCallerID, FeatureScheduleToggle}

// ReservedNumberError reports an extension number that collides with an
// emergency number or a feature code: equal to one, the start of one (an
// extension 91 shadows 911 on a phone that sends what was dialled as soon as
// it matches a number), or starting with one (9112 shadows 911 for the same
// phone, the other way round). It returns nil for a number that collides with
// nothing.
func ReservedNumberError(number string, emergency []string) *FieldError {
	if number == "" {
		return nil
	}
	check := func(reserved, what string) *FieldError {
		reserved = strings.TrimSpace(reserved)
		var msg string
		switch {
		case reserved == "":
			return nil
		case number == reserved:
			msg = "is the " + what + " " + reserved
		case strings.HasPrefix(reserved, number):
			msg = "is the start of the " + what + " " + reserved + ": phones dialling it would reach this extension instead"
		case strings.HasPrefix(number, reserved):
			msg = "starts with the " + what + " " + reserved + ": phones dialling this extension would reach " + reserved + " instead"
		default:
			return nil
		}
		return &FieldError{Field: "number", Message: msg + "; choose another number", Value: number}
	}
	for _, e := range emergency {
		if fe := check(e, "emergency number"); fe != nil {
			return fe
		}
	}
	for _, c := range FeatureCodes {
		if fe := check(c, "feature code"); fe != nil {
			return fe
		}
	}
	return nil
}

// ValidateSIPPassword checks a password chosen by the caller rather than generated.
func ValidateSIPPassword(pw string) error {
	var v ValidationError
	if len(pw) < MinSIPPasswordLength || len(pw) > MaxSIPPasswordLength {
		v.Add("sip_password", "must be 12 to 128 characters", nil)
	} else if strings.IndexFunc(pw, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' || r == '\\' }) >= 0 {
		v.Add("sip_password", "must be printable ASCII without spaces, quotes or backslashes", nil)
	}
	return v.Err()
}

// ValidateVoicemailPIN checks a voicemail PIN.
func ValidateVoicemailPIN(pin string) error {
	if !pinRE.MatchString(pin) {
		return ValidationError{{Field: "voicemail_pin", Message: "must be 4 to 10 digits"}}
	}
	return nil
}
