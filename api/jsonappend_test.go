package api

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// tricky are strings encoding/json escapes in every way it has.
var tricky = []string{"", "plain", `quote " and \ backslash`, "<html> & </html>", "tab\tnl\ncr\rbs\bff\f",
	"\x00\x01\x1f\x7f", "caf\u00e9 \u4e2d\u6587 \U0001F600", "line\u2028para\u2029", "bad \xff\xfe utf-8 \xc3",
	"+14155550100", "sip:1002@127.0.0.82:25962;transport=udp"}

var trickyFloats = []float64{0, 1, -1, 0.5, 1.25, 12.34, 1e-7, 1.5e-7, 1e20, 1e21, 123456789.123, -2.5e-9, math.MaxFloat64,
	math.SmallestNonzeroFloat64, 3.0000000000000004}

// fill sets every field reachable from v to a random value from the tricky
// sets, nil or empty at times, so an appender that misses or misorders a
// field differs from encoding/json.
func fill(r *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(tricky[r.IntN(len(tricky))])
	case reflect.Int, reflect.Int64:
		v.SetInt([]int64{0, 1, -3, 42, math.MaxInt32}[r.IntN(5)])
	case reflect.Uint64:
		v.SetUint([]uint64{0, 7, 1 << 40, math.MaxUint64}[r.IntN(4)])
	case reflect.Float64:
		v.SetFloat(trickyFloats[r.IntN(len(trickyFloats))])
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			t := time.Date(1970+r.IntN(100), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60),
				[]int{0, 1000, 123456000, 999999999, 100000000}[r.IntN(5)], time.UTC)
			if r.IntN(3) == 0 {
				t = t.In(time.FixedZone("x", -5*3600-30*60))
			}
			v.Set(reflect.ValueOf(t))
			return
		}
		for i := range v.NumField() {
			fill(r, v.Field(i))
		}
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(r, p.Elem())
		v.Set(p)
	case reflect.Slice:
		n := r.IntN(4)
		if n == 0 && r.IntN(2) == 0 {
			v.SetZero()
			return
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fill(r, s.Index(i))
		}
		v.Set(s)
	default:
		panic("fill: no case for " + v.Type().String())
	}
}

// TestAppendersMatchEncodingJSON: the hand-rolled appenders write, from
// live call snapshots and call records, what encoding/json writes for the
// API's LiveCall (times through the microsecondTimes transformer) and
// CallRecord of random values of every field, so a field added to those
// (or to what they hold) without its appender fails here.
func TestAppendersMatchEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var calls core.Page[call.Snapshot]
		fill(r, reflect.ValueOf(&calls).Elem())
		body := liveCallListBody{Items: []LiveCall{}, NextCursor: calls.NextCursor}
		for _, c := range calls.Items {
			body.Items = append(body.Items, toLiveCall(c))
		}
		want, err := jsonMarshal(withMicroseconds(reflect.ValueOf(body)).Interface())
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendLiveCallList(nil, &calls)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("live calls %d (ok %v):\ngot  %s\nwant %s", i, ok, got, want)
		}

		var page core.Page[*call.Record]
		fill(r, reflect.ValueOf(&page).Elem())
		for i, rec := range page.Items {
			if rec == nil { // the store returns no nil records
				page.Items[i] = &call.Record{}
			}
		}
		records := callRecordList{Items: []CallRecord{}, NextCursor: page.NextCursor}
		for _, rec := range page.Items {
			records.Items = append(records.Items, toCallRecord(rec))
		}
		want, err = jsonMarshal(records)
		if err != nil {
			t.Fatal(err)
		}
		got, ok = appendCallRecordList(nil, &page, nil)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("call records %d (ok %v):\ngot  %s\nwant %s", i, ok, got, want)
		}
	}
}

// TestAppendersRefuseWhatEncodingJSONRefuses: a NaN, an infinity or a year
// past 9999 makes the appender say no, so the caller falls back on
// encoding/json and its error.
func TestAppendersRefuseWhatEncodingJSONRefuses(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	late := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]*call.Record{
		"nan":       {StartedAt: now, Caller: call.LegQuality{JitterMs: math.NaN()}},
		"inf":       {StartedAt: now, Callee: call.LegQuality{JitterMs: math.Inf(-1)}},
		"year":      {StartedAt: late},
		"plan year": {StartedAt: now, PlanPath: []call.PlanStep{{At: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}}},
	}
	for name, rec := range cases {
		if _, err := jsonMarshal(callRecordList{Items: []CallRecord{toCallRecord(rec)}}); err == nil {
			t.Fatalf("%s: encoding/json takes it", name)
		}
		if _, ok := appendCallRecordList(nil, &core.Page[*call.Record]{Items: []*call.Record{rec}}, &recordJSON{}); ok {
			t.Errorf("%s: the appender takes what encoding/json refuses", name)
		}
	}
	if _, ok := appendLiveCallList(nil, &core.Page[call.Snapshot]{Items: []call.Snapshot{{StartedAt: now, Legs: []call.LegSnapshot{{Quality: call.LegQuality{JitterMs: math.NaN()}}}}}}); ok {
		t.Error("live calls: the appender takes a NaN")
	}
	if _, ok := appendLiveCallList(nil, &core.Page[call.Snapshot]{Items: []call.Snapshot{{StartedAt: late}}}); ok {
		t.Error("live calls: the appender takes the year 10000")
	}
}

func BenchmarkAppendLiveCallList(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	calls := make([]call.Snapshot, 400)
	for i := range calls {
		fill(r, reflect.ValueOf(&calls[i]).Elem())
	}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ := appendLiveCallList(getBodyBuf(), &core.Page[call.Snapshot]{Items: calls})
			putBodyBuf(buf)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			body := liveCallListBody{Items: make([]LiveCall, 0, len(calls))}
			for _, c := range calls {
				body.Items = append(body.Items, toLiveCall(c))
			}
			_, _ = jsonMarshal(withMicroseconds(reflect.ValueOf(body)).Interface())
		}
	})
}
