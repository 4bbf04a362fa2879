package api

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

func jsonTestRecords(n int) []*call.Record {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := make([]*call.Record, n)
	for i := range recs {
		ended := start.Add(time.Duration(i)*time.Second + 90*time.Second)
		recs[i] = &call.Record{ID: call.ID(fmt.Sprintf("call_%04d", i)), Direction: call.Internal, FromNumber: "1001",
			ToNumber: fmt.Sprint(2000 + i%7), StartedAt: start.Add(time.Duration(i) * time.Second), EndedAt: &ended,
			Disposition: call.Answered, Caller: call.LegQuality{PacketsIn: uint64(i), JitterMs: 1.5}}
	}
	return recs
}

// TestRecordJSON: a list served through the cache is byte for byte the list
// encoded afresh, whatever was kept before; a record that changed (a new
// record in its place) is encoded anew; the cache holds at most
// recordJSONSize records.
func TestRecordJSON(t *testing.T) {
	recs := jsonTestRecords(3 * recordJSONSize)
	changed := *recs[5]
	changed.Disposition, changed.HangupCause = call.NoAnswer, call.CauseNoAnswer
	pages := []struct {
		name  string
		items []*call.Record
		next  string
	}{
		{"first page", recs[:50], "cur1"},
		{"the same page again", recs[:50], "cur1"},
		{"overlapping the last", recs[10:60], ""},
		{"a changed record in place", append([]*call.Record{&changed}, recs[6:50]...), "cur2"},
		{"one record twice", []*call.Record{recs[7], recs[7]}, ""},
		{"empty", nil, ""},
		{"past the cache's size", recs[100 : 100+2*recordJSONSize], "cur3"},
		{"the first page once evicted", recs[:50], "cur1"},
	}
	var cache recordJSON
	for _, p := range pages {
		page := core.Page[*call.Record]{Items: p.items, NextCursor: p.next}
		want, ok := appendCallRecordList(nil, &page, nil)
		if !ok {
			t.Fatalf("%s: not encoded", p.name)
		}
		got, ok := appendCallRecordList([]byte("prefix"), &page, &cache)
		if !ok || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("%s (ok %v):\ngot  %s\nwant prefix%s", p.name, ok, got, want)
		}
		if n := len(cache.m); n > recordJSONSize {
			t.Fatalf("%s: %d records kept, at most %d", p.name, n, recordJSONSize)
		}
	}
}

// TestRecordJSONServesKept: what the cache holds for a record is what the
// list carries, so a kept record is not encoded again.
func TestRecordJSONServesKept(t *testing.T) {
	recs := jsonTestRecords(3)
	var cache recordJSON
	cache.keep(recs[1:2], [][]byte{[]byte(`{"kept":true}`)})
	got, ok := appendCallRecordList(nil, &core.Page[*call.Record]{Items: recs}, &cache)
	if !ok || !bytes.Contains(got, []byte(`},{"kept":true},{`)) {
		t.Fatalf("list: %s (ok %v)", got, ok)
	}
	var kept [3][]byte
	cache.lookup(recs, kept[:])
	for i, b := range kept {
		if b == nil {
			t.Fatalf("record %d not kept once listed", i)
		}
	}
}

// TestRecordJSONRefusal: records encoding/json would refuse are not kept.
func TestRecordJSONRefusal(t *testing.T) {
	recs := jsonTestRecords(2)
	bad := *recs[1]
	bad.StartedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	var cache recordJSON
	if _, ok := appendCallRecordList(nil, &core.Page[*call.Record]{Items: []*call.Record{recs[0], &bad}}, &cache); ok {
		t.Fatal("a year past 9999 was encoded")
	}
	if len(cache.m) != 0 {
		t.Fatalf("%d records kept from a refused list", len(cache.m))
	}
}
