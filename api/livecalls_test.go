package api_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// changingCalls is a call engine whose calls in progress the test changes.
type changingCalls struct {
	refusingCalls
	mu   sync.Mutex
	list []call.Snapshot
}

func (c *changingCalls) Calls(q call.LiveQuery) []call.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return selectSnapshots(c.list, q)
}

// selectSnapshots is the page q selects of list, as a call engine gives it.
func selectSnapshots(list []call.Snapshot, q call.LiveQuery) []call.Snapshot {
	inOrder := func(a, b call.Snapshot) int { return call.SnapshotHead(a).Compare(call.SnapshotHead(b)) }
	if !slices.IsSortedFunc(list, inOrder) {
		list = slices.SortedFunc(slices.Values(list), inOrder)
	}
	var page []call.Snapshot
	for _, s := range list {
		if q.Limit > 0 && len(page) == q.Limit {
			break
		}
		if q.Takes(call.SnapshotHead(s)) {
			page = append(page, s)
		}
	}
	return page
}

func (c *changingCalls) Call(id call.ID) (call.Snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.list, func(s call.Snapshot) bool { return s.ID == id })
	if i < 0 {
		return call.Snapshot{}, false
	}
	return c.list[i], true
}

// end removes the calls with these IDs, as if they had hung up.
func (c *changingCalls) end(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = slices.DeleteFunc(c.list, func(s call.Snapshot) bool { return slices.Contains(ids, string(s.ID)) })
}

// tiedCalls is n calls, three at a time starting in the same nanosecond,
// in no particular order, and their IDs in the order the list gives them:
// by start, then by ID.
func tiedCalls(n int) ([]call.Snapshot, []string) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	list := snapshots(n)
	for i := range list {
		list[i].StartedAt = start.Add(time.Duration(i/3) * time.Nanosecond)
		if i%2 == 1 {
			list[i].FromNumber, list[i].ToNumber = "2001", "2002"
		}
	}
	want := slices.Clone(list)
	slices.SortFunc(want, func(a, b call.Snapshot) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	ids := make([]string, len(want))
	for i, c := range want {
		ids[i] = string(c.ID)
	}
	r := rand.New(rand.NewPCG(5, 6))
	r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	return list, ids
}

type liveCallsPage struct {
	status     int
	body       string
	ids        []string
	nextCursor string
}

func getLiveCalls(t *testing.T, h http.Handler, key, query string) liveCallsPage {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v1/calls"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	p := liveCallsPage{status: w.Code, body: w.Body.String()}
	if w.Code != http.StatusOK {
		return p
	}
	var body struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: %v: %s", query, err, w.Body)
	}
	if body.Items == nil {
		t.Fatalf("%s: no items array: %s", query, w.Body)
	}
	if body.NextCursor != nil && *body.NextCursor == "" {
		t.Fatalf("%s: an empty next_cursor: %s", query, w.Body)
	}
	for _, it := range body.Items {
		p.ids = append(p.ids, it.ID)
	}
	if body.NextCursor != nil {
		p.nextCursor = *body.NextCursor
	}
	return p
}

// TestLiveCallsPages: the live calls list comes a page at a time, oldest
// first with calls that started together in ID order; walking the cursors
// gives every call once, whatever the page size.
func TestLiveCallsPages(t *testing.T) {
	list, want := tiedCalls(123)
	h := readsEnvWith(t, 0, &changingCalls{list: list})
	for _, tt := range []struct {
		name  string
		limit string
		size  int
	}{
		{"default", "", 50},
		{"one", "1", 1},
		{"seven", "7", 7},
		{"exact", "41", 41},
		{"all", "500", 500},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			cursor, pages := "", 0
			for {
				q := url.Values{}
				if tt.limit != "" {
					q.Set("limit", tt.limit)
				}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				p := getLiveCalls(t, h, adminKey, "?"+q.Encode())
				if p.status != http.StatusOK {
					t.Fatalf("page %d: %d %s", pages, p.status, p.body)
				}
				pages++
				got = append(got, p.ids...)
				if p.nextCursor == "" {
					if len(p.ids) > tt.size || (len(p.ids) == 0 && pages > 1) {
						t.Fatalf("last page %d holds %d", pages, len(p.ids))
					}
					break
				}
				if len(p.ids) != tt.size {
					t.Fatalf("page %d holds %d, want %d", pages, len(p.ids), tt.size)
				}
				if pages > len(want)+1 {
					t.Fatal("the cursors do not end")
				}
				cursor = p.nextCursor
			}
			if !slices.Equal(got, want) {
				t.Fatalf("walked %d calls in %d pages:\ngot  %v\nwant %v", len(got), pages, got, want)
			}
		})
	}
}

// TestLiveCallsCursorOutlivesItsCall: a cursor names a place in the order,
// not a call, so calls ending between two reads (the one the cursor came
// from among them) neither repeat nor skip the calls still up.
func TestLiveCallsCursorOutlivesItsCall(t *testing.T) {
	list, want := tiedCalls(30)
	calls := &changingCalls{list: list}
	h := readsEnvWith(t, 0, calls)
	first := getLiveCalls(t, h, adminKey, "?limit=10")
	if first.status != http.StatusOK || !slices.Equal(first.ids, want[:10]) || first.nextCursor == "" {
		t.Fatalf("first page: %d %v", first.status, first.ids)
	}
	calls.end(want[9], want[10], want[3])
	second := getLiveCalls(t, h, adminKey, "?limit=10&cursor="+url.QueryEscape(first.nextCursor))
	if second.status != http.StatusOK || !slices.Equal(second.ids, want[11:21]) {
		t.Fatalf("second page: %d\ngot  %v\nwant %v", second.status, second.ids, want[11:21])
	}
}

// TestLiveCallsBadPage: a page the list cannot give is a 422 naming the
// parameter.
func TestLiveCallsBadPage(t *testing.T) {
	list, _ := tiedCalls(5)
	h := readsEnvWith(t, 0, &changingCalls{list: list})
	for _, tt := range []struct{ name, query, field string }{
		{"not base64", "?cursor=garbage!", "cursor"},
		{"another list's cursor", "?cursor=WyJhIl0", "cursor"},
		{"keys of the wrong type", "?cursor=WyJhIiwxXQ", "cursor"},
		{"no call ID", "?cursor=WzEsIiJd", "cursor"},
		{"limit zero", "?limit=0", "limit"},
		{"limit over 500", "?limit=501", "limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := getLiveCalls(t, h, adminKey, tt.query)
			if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, `"query.`+tt.field+`"`) {
				t.Fatalf("%d %s", p.status, p.body)
			}
		})
	}
}

// TestLiveCallsOfAMember: a member key sees the calls from or to its own
// extension, in the list and one by one, and cannot reach the others: a
// hangup of another's call is a 404 that never reaches the call engine.
func TestLiveCallsOfAMember(t *testing.T) {
	list, ordered := tiedCalls(12) // odd ones are from 2001 to 2002, the others from 1001 to 1002
	calls := &changingCalls{refusingCalls: refusingCalls{t: t}, list: list}
	h := readsEnvWith(t, 0, calls)
	send := func(method, path, key string, body any) (int, []byte) {
		t.Helper()
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.Bytes()
	}
	status, body := send(http.MethodPost, "/v1/extensions", adminKey, map[string]any{"number": "2002"})
	var ext struct{ ID string }
	if status != http.StatusCreated || json.Unmarshal(body, &ext) != nil {
		t.Fatalf("create extension: %d %s", status, body)
	}
	status, body = send(http.MethodPost, "/v1/api-keys", adminKey, map[string]any{"name": "2002's app", "role": "member", "extension_id": ext.ID})
	var key struct{ Secret string }
	if status != http.StatusCreated || json.Unmarshal(body, &key) != nil {
		t.Fatalf("create member key: %d %s", status, body)
	}
	var own, others []string
	for _, id := range ordered {
		c, _ := calls.Call(call.ID(id))
		if c.ToNumber == "2002" {
			own = append(own, id)
		} else {
			others = append(others, id)
		}
	}
	if len(own) == 0 || len(others) == 0 {
		t.Fatalf("own calls %v, others %v", own, others)
	}
	if p := getLiveCalls(t, h, key.Secret, ""); p.status != http.StatusOK || !slices.Equal(p.ids, own) {
		t.Fatalf("the member's list: %d %v, want %v", p.status, p.ids, own)
	}
	if status, body := send(http.MethodGet, "/v1/calls/"+own[0], key.Secret, nil); status != http.StatusOK {
		t.Fatalf("get own call: %d %s", status, body)
	}
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/v1/calls/" + others[0]},
		{http.MethodPost, "/v1/calls/" + others[0] + "/hangup"},
	} {
		if status, body := send(req.method, req.path, key.Secret, nil); status != http.StatusNotFound {
			t.Fatalf("%s %s with the member's key: %d %s", req.method, req.path, status, body)
		}
	}
}
