package main

import (
	"bytes"
	"log/slog"
	"testing"
)

// TestAttrsHandlerWritesWhatSlogWrites: loggers derived through
// attrsHandler write exactly the lines the handler under it writes when it
// formats the attributes itself, groups and all.
func TestAttrsHandlerWritesWhatSlogWrites(t *testing.T) {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	tests := []struct {
		name string
		use  func(l *slog.Logger)
	}{
		{"no attributes", func(l *slog.Logger) { l.Info("hello", "n", 1) }},
		{"one With", func(l *slog.Logger) { l.With("call_id", "c1", "from", "100").Warn("answered", "code", 200) }},
		{"With of a With", func(l *slog.Logger) {
			call := l.With("call_id", "c1", "direction", "internal")
			call.With("leg", "caller").Info("latched", "peer", "127.0.0.1:4000")
			call.Info("ended")
		}},
		{"group after attributes", func(l *slog.Logger) {
			l.With("component", "sip").WithGroup("req").With("method", "INVITE").Info("in", "size", 812)
		}},
		{"empty group and empty With", func(l *slog.Logger) { l.WithGroup("").With().Info("same", "a", "b") }},
		{"below the level", func(l *slog.Logger) { l.With("call_id", "c2").Debug("not written") }},
		{"value resolved when written", func(l *slog.Logger) {
			l.With(slog.Group("rec", "disposition", "answered")).Error("failed", "err", "boom")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, json := range []bool{false, true} {
				var want, got bytes.Buffer
				opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: noTime}
				mk := func(b *bytes.Buffer) slog.Handler {
					if json {
						return slog.NewJSONHandler(b, opts)
					}
					return slog.NewTextHandler(b, opts)
				}
				tt.use(slog.New(mk(&want)))
				tt.use(slog.New(keepAttrs(mk(&got))))
				if got.String() != want.String() {
					t.Fatalf("json=%v:\ngot  %q\nwant %q", json, got.String(), want.String())
				}
			}
		})
	}
}

// TestAttrsHandlerKeepsAttributesUnformatted: a derived logger holds its
// own attributes and a pointer to its parent's, not a formatted copy of
// them all.
func TestAttrsHandlerKeepsAttributesUnformatted(t *testing.T) {
	var out bytes.Buffer
	root := slog.New(keepAttrs(slog.NewTextHandler(&out, nil)))
	call := root.With("call_id", "c1", "from", "100", "to", "200")
	leg := call.With("leg", "caller")
	h, ok := leg.Handler().(*attrsHandler)
	if !ok {
		t.Fatalf("handler %T, want *attrsHandler", leg.Handler())
	}
	if len(h.attrs) != 1 || h.parent == nil || len(h.parent.attrs) != 3 {
		t.Fatalf("leg keeps %d attributes, parent %v", len(h.attrs), h.parent)
	}
	allocs := testing.AllocsPerRun(100, func() { _ = call.With("leg", "callee") })
	if allocs > 3 {
		t.Fatalf("deriving a logger made %v allocations", allocs)
	}
	if out.Len() != 0 {
		t.Fatalf("deriving loggers wrote %q", out.String())
	}
}
