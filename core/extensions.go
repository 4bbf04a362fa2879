package core

import (
	"context"
	"fmt"
	"time"
)

// ExtensionChange carries the secrets a create or update sets; nil leaves a
// secret as it is (or, on create, generates the SIP password).
type ExtensionChange struct {
	SIPPassword  *string
	VoicemailPIN *string
}

// Extensions applies the rules for creating and changing extensions.
type Extensions struct {
	Repo ExtensionRepo
	Now  func() time.Time
	// Emergency are the emergency numbers (the server's list); an extension
	// number may not collide with one nor with a feature code
	// (ReservedNumberError).
	Emergency []string
	// OnChange, when set, is called after a create, update, password
	// rotation or delete is stored, with the extension as it was (nil on
	// create) and as it is (nil on delete); caches of extension data (the
	// SIP front's credentials) are kept current through it.
	OnChange func(before, after *Extension)
}

func (s *Extensions) changed(before, after *Extension) {
	if s.OnChange != nil {
		s.OnChange(before, after)
	}
}

// withReservedNumber adds to the validation error of an extension (nil or a
// ValidationError) the collision of a well-formed number with an emergency
// number or a feature code.
func (s *Extensions) withReservedNumber(err error, number string) error {
	if !extensionNumberRE.MatchString(number) {
		return err
	}
	fe := ReservedNumberError(number, s.Emergency)
	if fe == nil {
		return err
	}
	v, ok := err.(ValidationError)
	if err != nil && !ok {
		return err
	}
	return append(v, fe)
}

func (s *Extensions) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// Create validates spec, fills defaults, generates a SIP password when none is
// given, and stores the new extension. The returned extension carries the
// password so the caller can show it once.
func (s *Extensions) Create(ctx context.Context, spec ExtensionSpec, ch ExtensionChange) (*Extension, error) {
	spec.Normalize()
	e := &Extension{ID: ExtensionID(NewID(PrefixExtension)), ExtensionSpec: spec, Version: 1}
	if err := s.withReservedNumber(applyChange(e, ch), e.Number); err != nil {
		return nil, err
	}
	if e.SIPPassword == "" {
		e.SIPPassword = NewSIPPassword()
	}
	e.CreatedAt = s.now()
	e.UpdatedAt = e.CreatedAt
	if err := s.Repo.CreateExtension(ctx, e, ExtensionEvent(EventExtensionCreated, e, e.CreatedAt)); err != nil {
		return nil, fmt.Errorf("create extension %s: %w", spec.Number, err)
	}
	s.changed(nil, e)
	return e, nil
}

// Update loads the extension, lets mutate change its spec, validates the result
// and stores it if nobody changed it meanwhile. expectVersion 0 accepts any
// stored version; otherwise a mismatch is ErrPrecondition.
func (s *Extensions) Update(ctx context.Context, id ExtensionID, expectVersion int64, mutate func(*ExtensionSpec) (ExtensionChange, error)) (*Extension, error) {
	e, err := s.Repo.GetExtension(ctx, id)
	if err != nil {
		return nil, err
	}
	if expectVersion != 0 && e.Version != expectVersion {
		return nil, fmt.Errorf("extension %s changed since it was read: %w", id, ErrPrecondition)
	}
	before := *e
	spec := e.ExtensionSpec
	oldNumber, oldUser := spec.Number, spec.SIPUsername
	ch, err := mutate(&spec)
	if err != nil {
		return nil, err
	}
	if spec.SIPUsername == oldUser && spec.Number != oldNumber && oldUser == oldNumber {
		// The username followed the number by default; keep following it.
		spec.SIPUsername = spec.Number
	}
	spec.Normalize()
	e.ExtensionSpec = spec
	err = applyChange(e, ch)
	if spec.Number != oldNumber {
		// A number kept from before the reservation rules (or before the
		// emergency list changed) does not block other changes.
		err = s.withReservedNumber(err, spec.Number)
	}
	if err != nil {
		return nil, err
	}
	e.UpdatedAt = s.now()
	if err := s.Repo.UpdateExtension(ctx, e, e.Version, ExtensionEvent(EventExtensionUpdated, e, e.UpdatedAt)); err != nil {
		return nil, fmt.Errorf("update extension %s: %w", id, err)
	}
	s.changed(&before, e)
	return e, nil
}

// RotateSIPPassword replaces the SIP password with a generated one and returns
// the extension carrying it.
func (s *Extensions) RotateSIPPassword(ctx context.Context, id ExtensionID) (*Extension, error) {
	e, err := s.Repo.GetExtension(ctx, id)
	if err != nil {
		return nil, err
	}
	before := *e
	e.SIPPassword = NewSIPPassword()
	e.UpdatedAt = s.now()
	if err := s.Repo.UpdateExtension(ctx, e, e.Version, ExtensionEvent(EventExtensionUpdated, e, e.UpdatedAt)); err != nil {
		return nil, fmt.Errorf("rotate sip password of %s: %w", id, err)
	}
	s.changed(&before, e)
	return e, nil
}

// Delete removes an extension and records extension.deleted.
func (s *Extensions) Delete(ctx context.Context, id ExtensionID) error {
	e, err := s.Repo.GetExtension(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Repo.DeleteExtension(ctx, id, ExtensionEvent(EventExtensionDeleted, e, s.now())); err != nil {
		return err
	}
	s.changed(e, nil)
	return nil
}

func applyChange(e *Extension, ch ExtensionChange) error {
	var v ValidationError
	if err := e.Validate(); err != nil {
		v = append(v, err.(ValidationError)...)
	}
	if ch.SIPPassword != nil {
		if err := ValidateSIPPassword(*ch.SIPPassword); err != nil {
			v = append(v, err.(ValidationError)...)
		} else {
			e.SIPPassword = Secret(*ch.SIPPassword)
		}
	}
	if pin := ch.VoicemailPIN; pin != nil {
		if *pin == "" {
			e.VoicemailPINHash = ""
		} else if err := ValidateVoicemailPIN(*pin); err != nil {
			v = append(v, err.(ValidationError)...)
		} else {
			e.VoicemailPINHash = HashPIN(*pin)
		}
	}
	return v.Err()
}
