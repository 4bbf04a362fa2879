package api

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// The two lists read most under load, live calls and call records, are
// written by hand-rolled appenders rather than by reflection: a page of
// records or a few hundred live calls cost a fraction of encoding/json's
// time and allocations. The output is byte for byte what encoding/json
// gives the same value with HTML escaping off (huma's and jsonMarshal's
// setting); jsonappend_test.go holds them to it for every field.
//
// An appender returns ok false for a value encoding/json would refuse
// (a NaN or infinite float, a year outside 0-9999): the caller then takes
// encoding/json's path, which reports the error as before.

const hexDigits = "0123456789abcdef"

// bodyBufs recycles the buffers list bodies are encoded into: a list of
// live calls runs to hundreds of kilobytes, and fresh memory of that size
// for every request costs more than encoding into it.
var bodyBufs sync.Pool

// maxPooledBody is the largest buffer put back into bodyBufs.
const maxPooledBody = 4 << 20

// getBodyBuf returns an empty buffer from the pool (nil when it is empty).
func getBodyBuf() []byte {
	if p, ok := bodyBufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

// putBodyBuf gives b back to the pool once nothing reads it any more.
func putBodyBuf(b []byte) {
	if cap(b) > 0 && cap(b) <= maxPooledBody {
		b = b[:0]
		bodyBufs.Put(&b)
	}
}

// appendJSONString is encoding/json's string encoding without HTML
// escaping: quotes, backslashes and control characters escaped, invalid
// UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONFloat is encoding/json's float64 encoding (ES6 number to
// string); ok is false for NaN and infinities.
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// appendJSONTime is time.Time's MarshalJSON (RFC 3339 with nanoseconds);
// ok is false for the years it refuses.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// The appenders below take and return the buffer, as strconv's do, and
// write each member with its leading separator: `,"name":` (first members
// leave out the comma). ok becomes false when a value cannot be encoded.

func appendKey(b []byte, member string) []byte {
	b = append(b, member...)
	return append(b, '"', ':')
}

func appendStrMember(b []byte, member, v string) []byte {
	return appendJSONString(appendKey(b, member), v)
}

func appendTimeMember(b []byte, member string, t time.Time, ok *bool) []byte {
	b, good := appendJSONTime(appendKey(b, member), t)
	if !good {
		*ok = false
	}
	return b
}

func appendFloatMember(b []byte, member string, f float64, ok *bool) []byte {
	b, good := appendJSONFloat(appendKey(b, member), f)
	if !good {
		*ok = false
	}
	return b
}

func appendLegQuality(b []byte, q *call.LegQuality, ok *bool) []byte {
	b = appendStrMember(b, `{"codec`, q.Codec)
	b = strconv.AppendUint(appendKey(b, `,"packets_in`), q.PacketsIn, 10)
	b = strconv.AppendUint(appendKey(b, `,"packets_out`), q.PacketsOut, 10)
	b = strconv.AppendUint(appendKey(b, `,"bytes_in`), q.BytesIn, 10)
	b = strconv.AppendUint(appendKey(b, `,"bytes_out`), q.BytesOut, 10)
	b = strconv.AppendUint(appendKey(b, `,"lost`), q.Lost, 10)
	b = appendFloatMember(b, `,"jitter_ms`, q.JitterMs, ok)
	return append(b, '}')
}

// appendLiveCall appends the LiveCall of c (toLiveCall, times in UTC at
// microsecond precision as microsecondTimes makes them) as encoding/json
// would, straight from the snapshot.
func appendLiveCall(b []byte, c *call.Snapshot, ok *bool) []byte {
	b = appendStrMember(b, `{"id`, string(c.ID))
	b = appendStrMember(b, `,"sip_call_id`, c.SIPCallID)
	b = appendStrMember(b, `,"direction`, string(c.Direction))
	b = appendStrMember(b, `,"state`, c.State.String())
	b = appendStrMember(b, `,"from_number`, c.FromNumber)
	b = appendStrMember(b, `,"from_name`, c.FromName)
	b = appendStrMember(b, `,"to_number`, c.ToNumber)
	b = appendTimeMember(b, `,"started_at`, c.StartedAt.UTC().Truncate(timePrecision), ok)
	if c.AnsweredAt != nil {
		b = appendTimeMember(b, `,"answered_at`, c.AnsweredAt.UTC().Truncate(timePrecision), ok)
	}
	b = append(appendKey(b, `,"legs`), '[')
	for i := range c.Legs {
		if i > 0 {
			b = append(b, ',')
		}
		l := &c.Legs[i]
		b = appendStrMember(b, `{"role`, l.Role)
		b = appendStrMember(b, `,"number`, l.Number)
		b = appendStrMember(b, `,"contact`, l.Contact)
		b = appendLegQuality(appendKey(b, `,"media`), &l.Quality, ok)
		b = append(b, '}')
	}
	return append(b, ']', '}')
}

// appendCallRecord appends the CallRecord of r (toCallRecord) as
// encoding/json would, straight from the record.
func appendCallRecord(b []byte, r *call.Record, ok *bool) []byte {
	b = appendStrMember(b, `{"id`, string(r.ID))
	b = appendStrMember(b, `,"sip_call_id`, r.SIPCallID)
	b = appendStrMember(b, `,"direction`, string(r.Direction))
	b = appendStrMember(b, `,"from_number`, r.FromNumber)
	b = appendStrMember(b, `,"from_name`, r.FromName)
	b = appendStrMember(b, `,"to_number`, r.ToNumber)
	if r.TrunkID != "" {
		b = appendStrMember(b, `,"trunk_id`, r.TrunkID)
	}
	if r.OutboundTrunkID != "" {
		b = appendStrMember(b, `,"outbound_trunk_id`, r.OutboundTrunkID)
	}
	if r.NumberID != "" {
		b = appendStrMember(b, `,"number_id`, r.NumberID)
	}
	if r.Attempts != 0 {
		b = strconv.AppendInt(appendKey(b, `,"trunk_attempts`), int64(r.Attempts), 10)
	}
	if r.Dialled != "" {
		b = appendStrMember(b, `,"dialled`, r.Dialled)
	}
	if r.CallerIDPresented != "" {
		b = appendStrMember(b, `,"caller_id_presented`, r.CallerIDPresented)
	}
	b = appendTimeMember(b, `,"started_at`, r.StartedAt, ok)
	if r.AnsweredAt != nil {
		b = appendTimeMember(b, `,"answered_at`, *r.AnsweredAt, ok)
	}
	if r.EndedAt != nil {
		b = appendTimeMember(b, `,"ended_at`, *r.EndedAt, ok)
	}
	b = appendFloatMember(b, `,"ring_seconds`, r.RingSeconds(), ok)
	b = appendFloatMember(b, `,"talk_seconds`, r.TalkSeconds(), ok)
	b = appendStrMember(b, `,"disposition`, string(r.Disposition))
	b = appendStrMember(b, `,"hangup_cause`, r.HangupCause)
	b = appendStrMember(b, `,"hangup_by`, string(r.HangupBy))
	b = appendLegQuality(appendKey(b, `,"media":{"caller`), &r.Caller, ok)
	b = appendLegQuality(appendKey(b, `,"callee`), &r.Callee, ok)
	b = append(b, '}')
	if len(r.PlanPath) > 0 {
		b = append(appendKey(b, `,"plan_path`), '[')
		for i := range r.PlanPath {
			if i > 0 {
				b = append(b, ',')
			}
			s := &r.PlanPath[i]
			b = appendStrMember(b, `{"plan_id`, s.PlanID)
			b = appendStrMember(b, `,"node`, s.Node)
			b = appendStrMember(b, `,"kind`, s.Kind)
			if s.Digits != "" {
				b = appendStrMember(b, `,"digits`, s.Digits)
			}
			if s.Result != "" {
				b = appendStrMember(b, `,"result`, s.Result)
			}
			b = appendTimeMember(b, `,"at`, s.At, ok)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendLiveCallList appends {"items":[...],"next_cursor":...}, the
// liveCallListBody of page; ok is false when a value cannot be encoded.
func appendLiveCallList(b []byte, page *core.Page[call.Snapshot]) ([]byte, bool) {
	ok := true
	b = append(b, `{"items":[`...)
	for i := range page.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLiveCall(b, &page.Items[i], &ok)
	}
	b = append(b, ']')
	if page.NextCursor != "" {
		b = appendStrMember(b, `,"next_cursor`, page.NextCursor)
	}
	return append(b, '}'), ok
}

// appendCallRecordList appends {"items":[...],"next_cursor":...}, the
// callRecordList of page; ok is false when a value cannot be encoded. The
// records kept in cache (when not nil) are not encoded again, and those
// encoded are kept.
func appendCallRecordList(b []byte, page *core.Page[*call.Record], cache *recordJSON) ([]byte, bool) {
	ok := true
	kept := make([][]byte, len(page.Items))
	if cache != nil {
		cache.lookup(page.Items, kept)
	}
	var newRecs []*call.Record
	var newJSON [][]byte
	b = append(b, `{"items":[`...)
	for i, r := range page.Items {
		if i > 0 {
			b = append(b, ',')
		}
		if kept[i] != nil {
			b = append(b, kept[i]...)
			continue
		}
		start := len(b)
		b = appendCallRecord(b, r, &ok)
		if cache != nil && ok {
			newRecs, newJSON = append(newRecs, r), append(newJSON, slices.Clone(b[start:]))
		}
	}
	if ok && newRecs != nil {
		cache.keep(newRecs, newJSON)
	}
	b = append(b, ']')
	if page.NextCursor != "" {
		b = appendStrMember(b, `,"next_cursor`, page.NextCursor)
	}
	return append(b, '}'), ok
}
