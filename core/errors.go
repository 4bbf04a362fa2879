// Package core holds Dialtone's domain: typed identifiers, domain types, the error
// vocabulary and the repository interfaces the rest of the system implements.
// It imports no I/O layer.
package core

import (
	"errors"
	"fmt"
	"strings"
)

// The error vocabulary. Layers map these onto their own protocol: api/ to HTTP
// status codes, sip/ to SIP response codes.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrInvalid      = errors.New("invalid")
	ErrForbidden    = errors.New("forbidden")
	ErrUnauthorized = errors.New("unauthorized")
	ErrPrecondition = errors.New("precondition failed")
	ErrBusy         = errors.New("busy")
	ErrNoRoute      = errors.New("no route")
	ErrUnavailable  = errors.New("unavailable")
)

// FieldError says which input field is wrong and why.
type FieldError struct {
	Field   string
	Message string
	Value   any
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// ValidationError gathers every field error found in one input.
type ValidationError []*FieldError

func (v ValidationError) Error() string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = f.Error()
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (v ValidationError) Unwrap() error { return ErrInvalid }

// Add records a field error.
func (v *ValidationError) Add(field, message string, value any) {
	*v = append(*v, &FieldError{Field: field, Message: message, Value: value})
}

// Err returns nil when no field error was recorded.
func (v ValidationError) Err() error {
	if len(v) == 0 {
		return nil
	}
	return v
}

// ConflictError names the field whose value is already taken.
type ConflictError struct {
	Resource string
	Field    string
	Value    string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s with %s %q already exists", e.Resource, e.Field, e.Value)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// InUseError says a resource cannot go while others refer to it.
type InUseError struct {
	Resource string
	UsedBy   string   // what kind of thing refers to it
	Refs     []string // which ones (the first few)
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("%s is used by %s: %s", e.Resource, e.UsedBy, strings.Join(e.Refs, ", "))
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *InUseError) Unwrap() error { return ErrConflict }
