package store

import (
	"context"
	"slices"
	"testing"
)

func TestExtensionDigestAlgorithmsRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	e := newExt("1001")
	if err := db.CreateExtension(ctx, e); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		algs []string
	}{
		{"server default", nil},
		{"sha-256 first", []string{"SHA-256", "MD5"}},
		{"md5 only", []string{"MD5"}},
		{"back to the server default", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur, err := db.GetExtension(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			cur.SIPDigestAlgorithms = tt.algs
			if err := db.UpdateExtension(ctx, cur, cur.Version); err != nil {
				t.Fatal(err)
			}
			got, err := db.ExtensionBySIPUsername(ctx, "1001")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.SIPDigestAlgorithms, tt.algs) || (got.SIPDigestAlgorithms == nil) != (tt.algs == nil) {
				t.Fatalf("stored %q, want %q", got.SIPDigestAlgorithms, tt.algs)
			}
		})
	}
}
