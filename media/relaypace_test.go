package media

import (
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name  string
		steps []struct {
			served int
			at     time.Duration
		}
		want time.Duration // what idle returns at the last step
	}{
		{"a quiet loop waits in the poller", []struct {
			served int
			at     time.Duration
		}{{1, 0}, {1, 10 * time.Millisecond}, {0, 25 * time.Millisecond}}, 0},
		{"a busy loop sleeps", []struct {
			served int
			at     time.Duration
		}{{30, 5 * time.Millisecond}, {30, 15 * time.Millisecond}, {0, 21 * time.Millisecond}}, paceDelay},
		{"still busy within the window", []struct {
			served int
			at     time.Duration
		}{{100, 21 * time.Millisecond}, {0, 22 * time.Millisecond}, {0, 30 * time.Millisecond}}, paceDelay},
		{"busy, then traffic stops", []struct {
			served int
			at     time.Duration
		}{{100, 21 * time.Millisecond}, {0, 22 * time.Millisecond}, {0, 43 * time.Millisecond}}, 0},
		{"a long idle spell is a low rate", []struct {
			served int
			at     time.Duration
		}{{60, 5 * time.Second}, {0, 5 * time.Second}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pacer{windowStart: t0}
			var got time.Duration
			for _, s := range tt.steps {
				p.served(s.served)
				got = p.idle(t0.Add(s.at))
			}
			if got != tt.want {
				t.Fatalf("idle = %v, want %v", got, tt.want)
			}
		})
	}
}
