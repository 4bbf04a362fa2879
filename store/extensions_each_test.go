package store

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/dialtone-pbx/dialtone/core"
)

func TestEachExtension(t *testing.T) {
	ctx := context.Background()
	stop := errors.New("stop")
	tests := []struct {
		name    string
		numbers []string
		stopAt  int // fn fails on this call (1-based); 0 never
		calls   int
		err     error
	}{
		{"none", nil, 0, 0, nil},
		{"every extension, by number", []string{"1003", "1001", "1002"}, 0, 3, nil},
		{"stops at fn's error", []string{"1001", "1002", "1003"}, 2, 2, stop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := openTest(t)
			want := map[string]*core.Extension{}
			for _, n := range tt.numbers {
				e := newExt(n)
				if n == "1002" {
					e.SIPUsername, e.Enabled, e.SIPDigestAlgorithms = "bob", false, []string{"SHA-256"}
				}
				if err := db.CreateExtension(ctx, e); err != nil {
					t.Fatal(err)
				}
				want[n] = e
			}
			calls, last := 0, ""
			err := db.EachExtension(ctx, func(e *core.Extension) error {
				calls++
				if e.Number <= last {
					t.Errorf("%s after %s", e.Number, last)
				}
				last = e.Number
				if !reflect.DeepEqual(e, want[e.Number]) {
					t.Errorf("read %+v, stored %+v", e, want[e.Number])
				}
				if calls == tt.stopAt {
					return stop
				}
				return nil
			})
			if !errors.Is(err, tt.err) || calls != tt.calls {
				t.Fatalf("%d calls, error %v; want %d, %v", calls, err, tt.calls, tt.err)
			}
		})
	}
}
