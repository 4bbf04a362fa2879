package registrar

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
)

// memRepo keeps registrations in memory.
type memRepo struct{}

func (memRepo) LoadRegistrations(context.Context, time.Time) ([]core.Registration, error) {
	return nil, nil
}

func (memRepo) SaveRegistrations(context.Context, []core.Registration, []core.RegistrationKey) error {
	return nil
}

func refreshRequest(t *testing.T, source string, headers ...string) *sip.Request {
	t.Helper()
	raw := "REGISTER sip:pbx.test SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + source + ";branch=z9hG4bK-1\r\n" +
		"From: <sip:301@pbx.test>;tag=a\r\nTo: <sip:301@pbx.test>\r\n" +
		"Call-ID: reg-1\r\nCSeq: 7 REGISTER\r\nMax-Forwards: 70\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	m, err := sip.ParseMessage([]byte(raw + "Content-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sip.Request)
	req.SetSource(source)
	req.SetTransport("UDP")
	return req
}

// TestRefresh checks which REGISTERs Refresh applies itself, without
// anything to wait for, and that it leaves the others alone (the bindings
// unchanged) for Register.
func TestRefresh(t *testing.T) {
	const contact = "Contact: <sip:301@192.0.2.1:5062>"
	cases := []struct {
		name    string
		source  string
		headers []string
		applied bool
		status  int // the answer when applied
		expires time.Duration
	}{
		{"refresh from the same source", "192.0.2.1:5062", []string{contact, "Expires: 600"}, true, 200, 600 * time.Second},
		{"refresh with an expires parameter", "192.0.2.1:5062", []string{contact + ";expires=900"}, true, 200, 900 * time.Second},
		{"query without contacts", "192.0.2.1:5062", nil, true, 200, 300 * time.Second},
		{"interval too brief, refused", "192.0.2.1:5062", []string{contact, "Expires: 5"}, true, 423, 300 * time.Second},
		{"moved to another port", "192.0.2.1:5999", []string{contact, "Expires: 600"}, false, 0, 0},
		{"another contact", "192.0.2.1:5062", []string{"Contact: <sip:301@192.0.2.1:5070>", "Expires: 600"}, false, 0, 0},
		{"removal", "192.0.2.1:5062", []string{contact, "Expires: 0"}, false, 0, 0},
		{"wildcard removal", "192.0.2.1:5062", []string{"Contact: *", "Expires: 0"}, false, 0, 0},
		{"two contacts", "192.0.2.1:5062", []string{contact, "Contact: <sip:301@192.0.2.1:5071>", "Expires: 600"}, false, 0, 0},
	}
	ext := &core.Extension{ID: "ext_301", ExtensionSpec: core.ExtensionSpec{SIPUsername: "301"}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			r := NewRegistry(5, func() time.Time { return now })
			if _, err := r.Restore(context.Background(), memRepo{}, PersistConfig{FlushEvery: time.Hour}, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			defer r.Close(context.Background())
			g := &Registrar{Registry: r, Limits: DefaultLimits(), Now: func() time.Time { return now }}
			first := refreshRequest(t, "192.0.2.1:5062", contact, "Expires: 300")
			if res := g.Register(first, ext); res.StatusCode != 200 {
				t.Fatalf("first registration: %d", res.StatusCode)
			}
			before := r.All()
			reported := 0
			r.OnChange(func(core.ExtensionID, []Binding, []Binding) { reported++ })
			req := refreshRequest(t, tc.source, tc.headers...)
			req.CSeq().SeqNo = 8
			res, applied := g.Refresh(req, ext)
			if applied != tc.applied {
				t.Fatalf("Refresh applied it: %v, want %v", applied, tc.applied)
			}
			after := r.All()
			if !applied {
				if res != nil || !reflect.DeepEqual(before, after) {
					t.Fatalf("left alone, yet answered %v or bindings changed: %+v -> %+v", res, before, after)
				}
				return
			}
			if reported != 0 {
				t.Fatalf("a refresh reported %d changes", reported)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("answer %d, want %d", res.StatusCode, tc.status)
			}
			if len(after) != 1 || !after[0].ExpiresAt.Equal(now.Add(tc.expires)) || after[0].Source != "192.0.2.1:5062" {
				t.Fatalf("bindings after: %+v", after)
			}
		})
	}
}

// TestRefreshExpired checks that a binding that has expired is registered
// anew, not refreshed.
func TestRefreshExpired(t *testing.T) {
	now := time.Now()
	r := NewRegistry(5, func() time.Time { return now })
	g := &Registrar{Registry: r, Limits: DefaultLimits(), Now: func() time.Time { return now }}
	ext := &core.Extension{ID: "ext_302", ExtensionSpec: core.ExtensionSpec{SIPUsername: "301"}}
	g.Register(refreshRequest(t, "192.0.2.1:5062", "Contact: <sip:301@192.0.2.1:5062>", "Expires: 60"), ext)
	for i, after := range []time.Duration{59 * time.Second, 61 * time.Second} {
		now = now.Add(after)
		req := refreshRequest(t, "192.0.2.1:5062", "Contact: <sip:301@192.0.2.1:5062>", "Expires: 60")
		req.CSeq().SeqNo = uint32(10 + i)
		want := after < time.Minute
		if _, got := g.Refresh(req, ext); got != want {
			t.Fatalf("%v after: Refresh applied it: %v, want %v", after, got, want)
		}
	}
}

// TestAnswerAgain checks which REGISTERs count as applied already (answered
// again with nothing changed): those whose every contact is bound from the
// same source and transport with their Call-ID and CSeq. A copy of an older
// request is not: the full path fails it as out of order (TestOutOfOrder),
// so its copies must not be answered 200.
func TestAnswerAgain(t *testing.T) {
	const contact = "Contact: <sip:301@192.0.2.1:5062>"
	now := time.Now()
	r := NewRegistry(5, func() time.Time { return now })
	g := &Registrar{Registry: r, Limits: DefaultLimits(), Now: func() time.Time { return now }}
	ext := &core.Extension{ID: "ext_301", ExtensionSpec: core.ExtensionSpec{SIPUsername: "301"}}
	if res := g.Register(refreshRequest(t, "192.0.2.1:5062", contact, "Expires: 300"), ext); res.StatusCode != 200 {
		t.Fatalf("registration: %d", res.StatusCode)
	}
	cases := []struct {
		name    string
		source  string
		cseq    uint32
		callID  string
		headers []string
		want    bool
	}{
		{"the same request", "192.0.2.1:5062", 7, "reg-1", []string{contact, "Expires: 300"}, true},
		{"an older CSeq", "192.0.2.1:5062", 6, "reg-1", []string{contact, "Expires: 300"}, false},
		{"another expiry", "192.0.2.1:5062", 7, "reg-1", []string{contact, "Expires: 3600"}, true},
		{"a later CSeq", "192.0.2.1:5062", 8, "reg-1", []string{contact, "Expires: 300"}, false},
		{"another Call-ID", "192.0.2.1:5062", 7, "reg-2", []string{contact, "Expires: 300"}, false},
		{"another source", "192.0.2.1:5999", 7, "reg-1", []string{contact, "Expires: 300"}, false},
		{"another contact", "192.0.2.1:5062", 7, "reg-1", []string{"Contact: <sip:301@192.0.2.1:5070>", "Expires: 300"}, false},
		{"a contact more", "192.0.2.1:5062", 7, "reg-1", []string{contact, "Contact: <sip:301@192.0.2.1:5070>", "Expires: 300"}, false},
		{"a removal", "192.0.2.1:5062", 7, "reg-1", []string{contact, "Expires: 0"}, false},
		{"a wildcard removal", "192.0.2.1:5062", 7, "reg-1", []string{"Contact: *", "Expires: 0"}, false},
		{"a query", "192.0.2.1:5062", 7, "reg-1", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := refreshRequest(t, tc.source, tc.headers...)
			req.CSeq().SeqNo = tc.cseq
			*req.CallID() = sip.CallIDHeader(tc.callID)
			res := g.AnswerAgain(req, ext)
			if got := res != nil; got != tc.want {
				t.Fatalf("answered again: %v, want %v", got, tc.want)
			}
			if res != nil && res.StatusCode != 200 {
				t.Fatalf("answered again %d", res.StatusCode)
			}
		})
	}
	if b := r.All(); len(b) != 1 || b[0].CSeq != 7 {
		t.Fatalf("bindings changed: %+v", b)
	}
}

// TestOutOfOrder checks that a REGISTER arriving after a later one of its
// Call-ID fails and changes nothing when it would change a binding the later
// one made (RFC 3261 §10.3 steps 6 and 7), and that the full path and the
// refresh path agree on it.
func TestOutOfOrder(t *testing.T) {
	const contact = "Contact: <sip:301@192.0.2.1:5062>"
	cases := []struct {
		name    string
		cseq    uint32
		callID  string
		headers []string
		status  int
		// left is what is bound afterwards: contact URI -> CSeq, expiry
		left map[string][2]int
	}{
		{"removal, older CSeq", 6, "reg-1", []string{contact, "Expires: 0"}, 400, map[string][2]int{"sip:301@192.0.2.1:5062": {7, 300}}},
		{"removal, same CSeq", 7, "reg-1", []string{contact, "Expires: 0"}, 400, map[string][2]int{"sip:301@192.0.2.1:5062": {7, 300}}},
		{"removal, later CSeq", 8, "reg-1", []string{contact, "Expires: 0"}, 200, map[string][2]int{}},
		{"removal, older CSeq of another Call-ID", 2, "reg-2", []string{contact, "Expires: 0"}, 200, map[string][2]int{}},
		{"removal of a contact not bound, older CSeq", 6, "reg-1", []string{"Contact: <sip:301@192.0.2.1:5070>", "Expires: 0"}, 200, map[string][2]int{"sip:301@192.0.2.1:5062": {7, 300}}},
		{"wildcard, older CSeq", 6, "reg-1", []string{"Contact: *", "Expires: 0"}, 400, map[string][2]int{"sip:301@192.0.2.1:5062": {7, 300}}},
		{"wildcard, same CSeq", 7, "reg-1", []string{"Contact: *", "Expires: 0"}, 400, map[string][2]int{"sip:301@192.0.2.1:5062": {7, 300}}},
		{"wildcard, later CSeq", 8, "reg-1", []string{"Contact: *", "Expires: 0"}, 200, map[string][2]int{}},
		{"wildcard of another Call-ID", 1, "reg-2", []string{"Contact: *", "Expires: 0"}, 200, map[string][2]int{}},
		{"refresh, older CSeq", 6, "reg-1", []string{contact, "Expires: 600"}, 400, map[string][2]int{"sip:301@192.0.2.1:5062": {7, 300}}},
		{"refresh, same CSeq (a copy)", 7, "reg-1", []string{contact, "Expires: 600"}, 200, map[string][2]int{"sip:301@192.0.2.1:5062": {7, 300}}},
		{"refresh, later CSeq", 8, "reg-1", []string{contact, "Expires: 600"}, 200, map[string][2]int{"sip:301@192.0.2.1:5062": {8, 600}}},
		{"new contact with a stale one, older CSeq", 6, "reg-1", []string{"Contact: <sip:301@192.0.2.1:5070>", contact, "Expires: 600"}, 400, map[string][2]int{"sip:301@192.0.2.1:5062": {7, 300}}},
	}
	ext := &core.Extension{ID: "ext_301", ExtensionSpec: core.ExtensionSpec{SIPUsername: "301"}}
	for _, tc := range cases {
		for _, refreshFirst := range []bool{false, true} {
			name := tc.name
			if refreshFirst {
				name += ", through Refresh"
			}
			t.Run(name, func(t *testing.T) {
				now := time.Now()
				r := NewRegistry(5, func() time.Time { return now })
				g := &Registrar{Registry: r, Limits: DefaultLimits(), Now: func() time.Time { return now }}
				if res := g.Register(refreshRequest(t, "192.0.2.1:5062", contact, "Expires: 300"), ext); res.StatusCode != 200 {
					t.Fatalf("registration: %d", res.StatusCode)
				}
				req := refreshRequest(t, "192.0.2.1:5062", tc.headers...)
				req.CSeq().SeqNo = tc.cseq
				*req.CallID() = sip.CallIDHeader(tc.callID)
				var res *sip.Response
				if refreshFirst {
					res, _ = g.Refresh(req, ext)
				}
				if res == nil {
					res = g.Register(req, ext)
				}
				if res.StatusCode != tc.status {
					t.Fatalf("answer %d, want %d", res.StatusCode, tc.status)
				}
				left := map[string][2]int{}
				for _, b := range r.All() {
					left[b.Contact] = [2]int{int(b.CSeq), int(b.ExpiresAt.Sub(now) / time.Second)}
				}
				if !reflect.DeepEqual(left, tc.left) {
					t.Fatalf("bound afterwards: %v, want %v", left, tc.left)
				}
			})
		}
	}
}
