package core

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// ExtensionID identifies an extension ("ext_...").
type ExtensionID string

// APIKeyID identifies an API key ("key_...").
type APIKeyID string

// ID prefixes, one per resource kind.
const (
	PrefixExtension = "ext_"
	PrefixAPIKey    = "key_"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 80 random bits, lower-case and URL safe.
func NewID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + idEncoding.EncodeToString(b[:])
}

// HasPrefix reports whether id is a well-formed identifier with the given prefix.
func HasPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != 16 {
		return false
	}
	for _, c := range rest {
		if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", c) {
			return false
		}
	}
	return true
}
