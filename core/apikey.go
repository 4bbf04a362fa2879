package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Role is what an API key may do.
type Role int

// Roles. RoleUnknown is the zero value and grants nothing.
const (
	RoleUnknown Role = iota
	RoleAdmin
	RoleMember
)

func (r Role) String() string {
	switch r {
	case RoleAdmin:
		return "admin"
	case RoleMember:
		return "member"
	}
	return "unknown"
}

// ParseRole turns "admin" or "member" into a Role.
func ParseRole(s string) Role {
	switch s {
	case "admin":
		return RoleAdmin
	case "member":
		return RoleMember
	}
	return RoleUnknown
}

// APIKey is a credential for the REST API. Only a hash of its secret is kept.
type APIKey struct {
	ID   APIKeyID
	Name string
	Role Role
	// ExtensionID binds a member key to the one extension it may see and edit.
	ExtensionID ExtensionID
	// Hint is the last characters of the secret, to tell keys apart.
	Hint      string
	CreatedAt time.Time
}

// APIKeyRepo stores API keys by the hash of their secret.
type APIKeyRepo interface {
	CreateAPIKey(ctx context.Context, k *APIKey, secretHash string) error
	APIKeyBySecretHash(ctx context.Context, secretHash string) (*APIKey, error)
	GetAPIKey(ctx context.Context, id APIKeyID) (*APIKey, error)
	ListAPIKeys(ctx context.Context, p PageRequest) (Page[*APIKey], error)
	// DeleteAPIKey refuses (ErrConflict) to revoke the last admin key.
	DeleteAPIKey(ctx context.Context, id APIKeyID) error
	CountAPIKeys(ctx context.Context) (int, error)
}

// NewAPIKeySecret returns a new API key secret with 256 random bits.
func NewAPIKeySecret() Secret {
	return Secret("dtk_" + RandomToken(32))
}

// HashAPIKeySecret is the form in which API key secrets are stored and looked up.
// The secrets are long random strings, so a fast hash is sufficient.
func HashAPIKeySecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretHint returns the last four characters of a secret.
func SecretHint(secret string) string {
	if len(secret) <= 8 {
		return ""
	}
	return secret[len(secret)-4:]
}
