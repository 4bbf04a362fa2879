package routing

import (
	"context"
	"errors"
	"testing"

	"github.com/dialtone-pbx/dialtone/core"
)

type fakeExtensions map[string]core.ExtensionID

func (f fakeExtensions) ExtensionByNumber(_ context.Context, number string) (*core.Extension, error) {
	if number == "boom" {
		return nil, errors.New("disk on fire")
	}
	id, ok := f[number]
	if !ok {
		return nil, core.ErrNotFound
	}
	return &core.Extension{ID: id}, nil
}

func TestResolverDialled(t *testing.T) {
	r := &Resolver{Extensions: fakeExtensions{"1001": "ext_a", "911": "ext_shadow"}, Emergency: []string{"911", "112"}}
	caller := &core.Extension{ID: "ext_caller"}
	tests := []struct {
		dialled string
		want    Target
		err     bool
	}{
		{"1001", Target{Kind: KindExtension, ExtensionID: "ext_a"}, false},
		{"1002", Target{Kind: KindExternalNumber, Number: "1002"}, false},
		{"+14155550100", Target{Kind: KindExternalNumber, Number: "+14155550100"}, false},
		{"911", Target{Kind: KindExternalNumber, Number: "911"}, false},
		{"*824155550100", Target{Kind: KindExternalNumber, Number: "*824155550100"}, false},
		{"*281", Target{Kind: KindFeature, Feature: FeatureScheduleToggle, Arg: "1"}, false},
		{"*28", Target{Kind: KindExternalNumber, Number: "*28"}, false},
		{"*28a", Target{Kind: KindExternalNumber, Number: "*28a"}, false},
		{"boom", Target{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.dialled, func(t *testing.T) {
			got, err := r.Dialled(context.Background(), caller, tt.dialled)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFromRoute(t *testing.T) {
	tests := []struct {
		route core.Route
		want  Target
	}{
		{core.Route{Type: core.RouteExtension, ExtensionID: "ext_a"}, Target{Kind: KindExtension, ExtensionID: "ext_a"}},
		{core.Route{Type: core.RouteExternalNumber, Number: "+14155550100"}, Target{Kind: KindExternalNumber, Number: "+14155550100"}},
		{core.Route{Type: core.RouteCallPlan, CallPlanID: "cpl_x"}, Target{Kind: KindCallPlan, CallPlanID: "cpl_x"}},
		{core.Route{Type: core.RouteReject}, Target{Kind: KindReject}},
		{core.Route{Type: "unheard_of"}, Target{Kind: KindReject}},
	}
	for _, tt := range tests {
		t.Run(string(tt.route.Type), func(t *testing.T) {
			if got := FromRoute(tt.route); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
