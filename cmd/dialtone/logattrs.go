package main

import (
	"context"
	"log/slog"
)

// attrsHandler keeps the attributes a logger is given with With as they
// are, and has the handler under it format them only when a record is
// written. slog's own handlers format them at once, into a buffer of every
// derived logger: the PBX derives a logger per call and per media leg, most
// of which write nothing at the configured level, so that buffer would be
// memory held for every live call to no purpose.
//
// parent holds the attributes of the logger this one was derived from, so
// a derived logger keeps only its own. Groups are handed to the handler
// under it, with the attributes given so far.
type attrsHandler struct {
	inner  slog.Handler
	parent *attrsHandler
	attrs  []slog.Attr
}

func keepAttrs(h slog.Handler) slog.Handler { return &attrsHandler{inner: h} }

func (h *attrsHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *attrsHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return &attrsHandler{inner: h.inner, parent: h, attrs: attrs}
}

func (h *attrsHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	inner := h.inner
	if all := h.all(nil); len(all) > 0 {
		inner = inner.WithAttrs(all)
	}
	return &attrsHandler{inner: inner.WithGroup(name)}
}

// all appends the attributes of h and its parents to dst, the oldest first.
func (h *attrsHandler) all(dst []slog.Attr) []slog.Attr {
	if h == nil {
		return dst
	}
	return append(h.parent.all(dst), h.attrs...)
}

func (h *attrsHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.parent == nil && len(h.attrs) == 0 {
		return h.inner.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(h.all(make([]slog.Attr, 0, 8))...)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.inner.Handle(ctx, out)
}
