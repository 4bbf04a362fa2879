package routing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dialtone-pbx/dialtone/core"
)

// Extensions finds an extension by its number.
type Extensions interface {
	ExtensionByNumber(ctx context.Context, number string) (*core.Extension, error)
}

// Resolver decides where calls go.
type Resolver struct {
	Extensions Extensions
	// Emergency numbers always go out through the outbound routes.
	Emergency []string
}

// Dialled is the target of digits an extension dialled: a feature code,
// an emergency number or a *82-prefixed number (external), one of the
// extensions, or else an external number for the outbound routes.
func (r *Resolver) Dialled(ctx context.Context, caller *core.Extension, dialled string) (Target, error) {
	if code, ok := strings.CutPrefix(dialled, core.FeatureScheduleToggle); ok && code != "" && digitsOnly(code) {
		return Target{Kind: KindFeature, Feature: FeatureScheduleToggle, Arg: code}, nil
	}
	if strings.HasPrefix(dialled, core.FeatureHideCallerID) || slices.Contains(r.Emergency, dialled) {
		return Target{Kind: KindExternalNumber, Number: dialled}, nil
	}
	ext, err := r.Extensions.ExtensionByNumber(ctx, dialled)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return Target{Kind: KindExternalNumber, Number: dialled}, nil
	case err != nil:
		return Target{}, fmt.Errorf("route %q: %w", dialled, err)
	}
	return Target{Kind: KindExtension, ExtensionID: ext.ID}, nil
}

// Inbound is the target of a call a trunk delivered to number.
func (r *Resolver) Inbound(number *core.PhoneNumber) Target {
	return FromRoute(number.Route)
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
