package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
	"github.com/dialtone-pbx/dialtone/webhook"
)

// EventReader reads the outbox.
type EventReader interface {
	EventsAfter(ctx context.Context, after int64, f store.EventFilter, limit int) ([]core.Event, error)
	SubscribeEvents() (<-chan struct{}, func())
	LastEventSequence(ctx context.Context) (int64, error)
}

// KeepaliveInterval is how often an idle event stream sends a comment.
const KeepaliveInterval = 15 * time.Second

// parseTypes reads a comma-separated list of event types or wildcards.
func parseTypes(raw string) ([]string, error) {
	if raw == "" {
		return nil, nil
	}
	var out []string
	for _, t := range strings.Split(raw, ",") {
		t = strings.TrimSpace(t)
		if !core.ValidEventPattern(t) {
			return nil, huma.Error422UnprocessableEntity("validation failed",
				&huma.ErrorDetail{Location: "query.types", Message: "unknown event type " + t, Value: t})
		}
		out = append(out, t)
	}
	return out, nil
}

// eventFilter narrows the outbox to what the API key may see.
func eventFilter(ctx context.Context, types []string) store.EventFilter {
	f := store.EventFilter{Types: types}
	if k := principal(ctx); k != nil && k.Role == core.RoleMember {
		f.Extension = k.ExtensionID
	}
	return f
}

type eventHistory struct {
	Body struct {
		Items     []webhook.Envelope `json:"items" nullable:"false"`
		NextAfter int64              `json:"next_after,omitempty" doc:"Pass as after for the next page; absent once caught up."`
	}
}

func registerEvents(a huma.API, s *server) {
	tags := []string{"Events"}
	huma.Register(a, huma.Operation{
		OperationID: "stream-events", Method: http.MethodGet, Path: "/v1/events",
		Summary: "Stream events (Server-Sent Events)",
		Description: "Each event is sent as an SSE message whose id is the event's sequence, event is its type and data the " +
			"envelope. With Last-Event-ID (header, or last_event_id in the query) the stream first replays every later " +
			"event still retained, then continues live; without it the stream starts with the next event. Idle streams get " +
			"a comment every 15 s. A member key sees only its own extension's events.",
		Tags: tags,
		Responses: map[string]*huma.Response{"200": {Description: "An event stream", Content: map[string]*huma.MediaType{
			"text/event-stream": {Schema: &huma.Schema{Type: "string"}},
		}}},
		Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		Types       string `query:"types" doc:"Comma-separated event types or wildcards (call.*)."`
		LastEventID string `header:"Last-Event-ID" doc:"Sequence of the last event received."`
		LastEventQ  string `query:"last_event_id" doc:"Same as the Last-Event-ID header, for clients that cannot set headers."`
	}) (*huma.StreamResponse, error) {
		types, err := parseTypes(in.Types)
		if err != nil {
			return nil, err
		}
		resume := in.LastEventID
		if resume == "" {
			resume = in.LastEventQ
		}
		var after int64
		if resume != "" {
			if after, err = strconv.ParseInt(resume, 10, 64); err != nil || after < 0 {
				return nil, huma.Error422UnprocessableEntity("validation failed",
					&huma.ErrorDetail{Location: "header.Last-Event-ID", Message: "must be an event sequence number", Value: resume})
			}
		} else if after, err = s.Events.LastEventSequence(ctx); err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		f := eventFilter(ctx, types)
		return &huma.StreamResponse{Body: func(hctx huma.Context) { s.streamEvents(ctx, hctx, after, f) }}, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "list-event-history", Method: http.MethodGet, Path: "/v1/events/history",
		Summary:     "Read past events",
		Description: "Events with a sequence above after, oldest first, for clients that poll instead of streaming.",
		Tags:        tags, Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		After int64  `query:"after" minimum:"0" doc:"Return events with a higher sequence."`
		Types string `query:"types" doc:"Comma-separated event types or wildcards."`
		Limit int    `query:"limit" minimum:"1" maximum:"500" default:"100"`
	}) (*eventHistory, error) {
		types, err := parseTypes(in.Types)
		if err != nil {
			return nil, err
		}
		evs, err := s.Events.EventsAfter(ctx, in.After, eventFilter(ctx, types), in.Limit)
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &eventHistory{}
		out.Body.Items = make([]webhook.Envelope, len(evs))
		for i := range evs {
			out.Body.Items[i] = webhook.EnvelopeOf(&evs[i])
		}
		if len(evs) == in.Limit {
			out.Body.NextAfter = evs[len(evs)-1].Sequence
		}
		return out, nil
	})
}

// streamEvents writes events after the given sequence as SSE until the
// client goes away or the server stops.
func (s *server) streamEvents(ctx context.Context, hctx huma.Context, after int64, f store.EventFilter) {
	hctx.SetHeader("Content-Type", "text/event-stream")
	hctx.SetHeader("Cache-Control", "no-cache")
	hctx.SetHeader("X-Accel-Buffering", "no")
	hctx.SetStatus(http.StatusOK)
	w := hctx.BodyWriter()
	flush := func() {
		if rw, ok := w.(http.ResponseWriter); ok {
			_ = http.NewResponseController(rw).Flush()
		}
	}
	// Subscribe before reading, so nothing committed in between is missed.
	wake, unsubscribe := s.Events.SubscribeEvents()
	defer unsubscribe()
	keepalive := time.NewTicker(KeepaliveInterval)
	defer keepalive.Stop()
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	flush()
	for {
		evs, err := s.Events.EventsAfter(ctx, after, f, 500)
		if err != nil {
			return
		}
		for i := range evs {
			b, _ := json.Marshal(webhook.EnvelopeOf(&evs[i]))
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", evs[i].Sequence, evs[i].Type, b); err != nil {
				return
			}
			after = evs[i].Sequence
		}
		if len(evs) > 0 {
			flush()
		}
		if len(evs) == 500 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.stopping():
			return
		case <-wake:
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			flush()
		}
	}
}

func (s *server) stopping() <-chan struct{} { return s.Stop }
