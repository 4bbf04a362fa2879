package b2bua

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

// queueStore is a store with a write queue: it records what was queued and
// says whether new work is admitted.
type queueStore struct {
	call.RecordRepo // only the queue methods are used
	full            bool

	mu       sync.Mutex
	created  []call.ID
	finished []call.ID
	events   []core.EventType
	asked    int
}

func (s *queueStore) AdmitWrites() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked++
	return !s.full
}

func (s *queueStore) QueueCallRecordCreate(r *call.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.created = append(s.created, r.ID)
	return nil
}

func (s *queueStore) QueueCallRecordFinish(r *call.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = append(s.finished, r.ID)
	return nil
}

func (s *queueStore) QueueEvents(evs ...core.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		s.events = append(s.events, e.Type)
	}
	return nil
}

func (s *queueStore) AppendEvents(context.Context, ...core.Event) error {
	panic("a queued store's events are queued, not appended")
}

// noRoutes is a directory without extensions or outbound routes.
type noRoutes struct{ Directory }

func (noRoutes) ExtensionByNumber(context.Context, string) (*core.Extension, error) {
	return nil, core.ErrNotFound
}

func (noRoutes) ListOutboundRoutes(context.Context) ([]*core.OutboundRoute, error) { return nil, nil }

// extDir is a directory of extensions by number.
type extDir struct {
	Directory
	exts map[string]*core.Extension
}

func (d extDir) ExtensionByNumber(_ context.Context, n string) (*core.Extension, error) {
	if e, ok := d.exts[n]; ok {
		return e, nil
	}
	return nil, core.ErrNotFound
}

// responses is a server transaction that keeps what is sent on it.
type responses struct {
	sip.ServerTransaction
	mu  sync.Mutex
	got []*sip.Response
}

func (r *responses) Respond(res *sip.Response) error {
	r.mu.Lock()
	r.got = append(r.got, res)
	r.mu.Unlock()
	return nil
}

func invite(user string) *sip.Request {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: user, Host: "pbx.test"})
	req.AppendHeader(sip.NewHeader("Call-ID", "bp-"+user))
	return req
}

// TestBackPressure: while the store's write backlog is too deep, new calls
// get 503 with Retry-After before any record or event exists for them;
// emergency calls are still taken.
func TestBackPressure(t *testing.T) {
	caller := &core.Extension{ID: "ext_a", ExtensionSpec: core.ExtensionSpec{Number: "100", Name: "A"}}
	trunk := &core.Trunk{ID: "trk_1"}
	number := &core.PhoneNumber{ID: "num_1", Number: "+15550100"}
	tests := []struct {
		name    string
		full    bool
		run     func(b *B2BUA, tx *responses)
		refused bool
	}{
		{"internal call, backlog deep", true, func(b *B2BUA, tx *responses) { b.HandleInvite(invite("200"), tx, caller) }, true},
		{"inbound call, backlog deep", true, func(b *B2BUA, tx *responses) {
			b.HandleInbound(invite("+15550100"), tx, Inbound{Trunk: trunk, Number: number, FromNumber: "+15550111"})
		}, true},
		{"emergency call, backlog deep", true, func(b *B2BUA, tx *responses) { b.HandleInvite(invite("911"), tx, caller) }, false},
		{"emergency call hiding caller id, backlog deep", true, func(b *B2BUA, tx *responses) { b.HandleInvite(invite("*82911"), tx, caller) }, false},
		{"internal call, backlog shallow", false, func(b *B2BUA, tx *responses) { b.HandleInvite(invite("200"), tx, caller) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &queueStore{full: tc.full}
			b := New(Config{Domain: "pbx.test"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, noRoutes{}, nil, nil, st, st)
			tx := &responses{}
			tc.run(b, tx)
			if len(tx.got) == 0 {
				t.Fatal("no final response")
			}
			res := tx.got[len(tx.got)-1]
			retry := res.GetHeader("Retry-After")
			if !tc.refused {
				if res.StatusCode == sip.StatusServiceUnavailable && res.Reason == "Overloaded" || retry != nil {
					t.Fatalf("refused: %d %s", res.StatusCode, res.Reason)
				}
				if len(st.created) != 1 || len(st.finished) != 1 || st.events[0] != core.EventCallCreated || st.events[1] != core.EventCallEnded {
					t.Fatalf("created %v, finished %v, events %v", st.created, st.finished, st.events)
				}
				return
			}
			if res.StatusCode != sip.StatusServiceUnavailable || retry == nil {
				t.Fatalf("got %d %s, Retry-After %v; want 503 with Retry-After", res.StatusCode, res.Reason, retry)
			}
			if secs, err := strconv.Atoi(retry.Value()); err != nil || secs < 2 || secs > 5 {
				t.Fatalf("Retry-After %q, want 2 to 5 seconds", retry.Value())
			}
			if len(st.created)+len(st.finished)+len(st.events) != 0 || b.Live() != 0 || st.asked != 1 {
				t.Fatalf("a refused call left state: records %v %v, events %v, live %d, asked %d",
					st.created, st.finished, st.events, b.Live(), st.asked)
			}
		})
	}
}

// TestOriginateBackPressure: a click-to-call is refused as unavailable
// while the write backlog is too deep.
func TestOriginateBackPressure(t *testing.T) {
	st := &queueStore{full: true}
	dir := extDir{exts: map[string]*core.Extension{
		"100": {ID: "ext_a", ExtensionSpec: core.ExtensionSpec{Number: "100", Enabled: true}},
		"200": {ID: "ext_b", ExtensionSpec: core.ExtensionSpec{Number: "200", Enabled: true}},
	}}
	b := New(Config{Domain: "pbx.test"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, dir, nil, nil, st, st)
	b.registry = registrar.NewRegistry(5, time.Now)
	b.registry.Upsert(registrar.Binding{ExtensionID: "ext_a", Contact: "sip:100@127.0.0.1:5090", Source: "127.0.0.1:5090",
		Transport: "UDP", ExpiresAt: time.Now().Add(time.Hour)})
	_, err := b.Originate(context.Background(), call.Originate{From: "100", To: "200"})
	if !errors.Is(err, core.ErrUnavailable) || len(st.created) != 0 || b.Live() != 0 {
		t.Fatalf("originate: %v, records %v", err, st.created)
	}
}
