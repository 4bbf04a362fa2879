package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// APIKeys applies the rules for issuing API keys.
type APIKeys struct {
	Repo       APIKeyRepo
	Extensions ExtensionRepo
	Now        func() time.Time
}

// APIKeySpec is what the creator of a key chooses.
type APIKeySpec struct {
	Name        string
	Role        string
	ExtensionID ExtensionID
}

// Create issues a key and returns it with its secret, which is not kept.
func (s *APIKeys) Create(ctx context.Context, spec APIKeySpec) (*APIKey, Secret, error) {
	spec.Name = strings.TrimSpace(spec.Name)
	var v ValidationError
	if spec.Name == "" || len(spec.Name) > 100 || hasControl(spec.Name) {
		v.Add("name", "must be 1 to 100 printable characters", spec.Name)
	}
	role := ParseRole(spec.Role)
	switch role {
	case RoleUnknown:
		v.Add("role", "must be admin or member", spec.Role)
	case RoleAdmin:
		if spec.ExtensionID != "" {
			v.Add("extension_id", "must be empty for an admin key", spec.ExtensionID)
		}
	case RoleMember:
		if spec.ExtensionID == "" {
			v.Add("extension_id", "is required for a member key", "")
		} else if _, err := s.Extensions.GetExtension(ctx, spec.ExtensionID); err != nil {
			if !IsNotFound(err) {
				return nil, "", err
			}
			v.Add("extension_id", "names no extension", spec.ExtensionID)
		}
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	secret := NewAPIKeySecret()
	k, err := s.store(ctx, spec.Name, role, spec.ExtensionID, secret)
	return k, secret, err
}

func (s *APIKeys) store(ctx context.Context, name string, role Role, ext ExtensionID, secret Secret) (*APIKey, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	k := &APIKey{
		ID: APIKeyID(NewID(PrefixAPIKey)), Name: name, Role: role, ExtensionID: ext,
		Hint: SecretHint(secret.Reveal()), CreatedAt: now().UTC(),
	}
	if err := s.Repo.CreateAPIKey(ctx, k, HashAPIKeySecret(secret.Reveal())); err != nil {
		return nil, fmt.Errorf("create api key: %w", err)
	}
	return k, nil
}

// Bootstrap gives a database without keys its first admin key: configured when
// it is not empty, otherwise a generated one. It returns the secret and true
// only when it created a key.
func (s *APIKeys) Bootstrap(ctx context.Context, configured string) (Secret, bool, error) {
	n, err := s.Repo.CountAPIKeys(ctx)
	if err != nil || n > 0 {
		return "", false, err
	}
	secret := Secret(configured)
	if configured == "" {
		secret = NewAPIKeySecret()
	}
	if _, err := s.store(ctx, "bootstrap admin", RoleAdmin, "", secret); err != nil {
		return "", false, err
	}
	return secret, true, nil
}

// Authenticate finds the key a bearer secret belongs to.
func (s *APIKeys) Authenticate(ctx context.Context, secret string) (*APIKey, error) {
	if secret == "" {
		return nil, ErrUnauthorized
	}
	k, err := s.Repo.APIKeyBySecretHash(ctx, HashAPIKeySecret(secret))
	if IsNotFound(err) {
		return nil, ErrUnauthorized
	}
	return k, err
}

// IsNotFound reports whether err means the thing asked for does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
