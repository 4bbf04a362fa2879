package core

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strings"
)

// Secret is a value that must never be printed, logged or serialised by accident.
// Reveal returns the value where it is genuinely needed.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string { return redacted }

// LogValue keeps the secret out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps the secret out of JSON and YAML.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// RandomToken returns n random bytes encoded as unpadded base64url.
func RandomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewSIPPassword returns a generated SIP password: 24 characters drawn from an
// alphabet that survives phone keypads, provisioning files and digest headers.
func NewSIPPassword() Secret {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return Secret(b)
}

const pinIterations = 20000

// HashPIN derives a salted PBKDF2-SHA256 hash of a voicemail PIN.
func HashPIN(pin string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	return encodePINHash(salt, pin)
}

func encodePINHash(salt []byte, pin string) string {
	key, _ := pbkdf2.Key(sha256.New, pin, salt, pinIterations, 32)
	return "pbkdf2-sha256$" + hex.EncodeToString(salt) + "$" + hex.EncodeToString(key)
}

// VerifyPIN reports whether pin matches a hash made by HashPIN.
func VerifyPIN(hash, pin string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 3 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	salt, err := hex.DecodeString(parts[1])
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(encodePINHash(salt, pin)), []byte(hash)) == 1
}
