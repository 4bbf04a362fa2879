package api

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// CallMedia is the media quality of both legs of a call.
type CallMedia struct {
	Caller call.LegQuality `json:"caller"`
	Callee call.LegQuality `json:"callee"`
}

// CallRecord is the record of one call.
type CallRecord struct {
	ID          string          `json:"id" example:"call_8d2kx0c4m1q7w9za"`
	SIPCallID   string          `json:"sip_call_id"`
	Direction   string          `json:"direction" enum:"internal,inbound,outbound"`
	FromNumber  string          `json:"from_number"`
	FromName    string          `json:"from_name"`
	ToNumber    string          `json:"to_number"`
	TrunkID     string          `json:"trunk_id,omitempty" doc:"Inbound calls: the trunk the call came in on; outbound calls: the trunk it left on."`
	OutTrunkID  string          `json:"outbound_trunk_id,omitempty" doc:"Inbound calls sent back out (a number forwarded to an outside number, a call plan's transfer to one): the trunk they left on."`
	NumberID    string          `json:"number_id,omitempty"`
	Attempts    int             `json:"trunk_attempts,omitempty" doc:"Calls sent out through a trunk: trunks tried; more than one after failover."`
	Dialled     string          `json:"dialled,omitempty" doc:"What the caller dialled; to_number is the normalised number called."`
	CallerID    string          `json:"caller_id_presented,omitempty" doc:"Calls sent out through a trunk: the caller ID sent to it."`
	StartedAt   time.Time       `json:"started_at"`
	AnsweredAt  *time.Time      `json:"answered_at,omitempty"`
	EndedAt     *time.Time      `json:"ended_at,omitempty" doc:"Absent while the call is in progress."`
	RingSeconds float64         `json:"ring_seconds"`
	TalkSeconds float64         `json:"talk_seconds"`
	Disposition string          `json:"disposition" enum:"answered,no_answer,busy,failed,cancelled,"`
	HangupCause string          `json:"hangup_cause" example:"normal_clearing"`
	HangupBy    string          `json:"hangup_by" enum:"caller,callee,system,"`
	Media       CallMedia       `json:"media"`
	PlanPath    []call.PlanStep `json:"plan_path,omitempty" doc:"The nodes of call plans the call went through, in order, with the digits pressed at each."`
}

func toCallRecord(r *call.Record) CallRecord {
	return CallRecord{
		ID: string(r.ID), SIPCallID: r.SIPCallID, Direction: string(r.Direction), FromNumber: r.FromNumber,
		FromName: r.FromName, ToNumber: r.ToNumber, TrunkID: r.TrunkID, OutTrunkID: r.OutboundTrunkID, NumberID: r.NumberID, Attempts: r.Attempts, Dialled: r.Dialled, CallerID: r.CallerIDPresented, StartedAt: r.StartedAt, AnsweredAt: r.AnsweredAt, EndedAt: r.EndedAt,
		RingSeconds: r.RingSeconds(), TalkSeconds: r.TalkSeconds(), Disposition: string(r.Disposition),
		HangupCause: r.HangupCause, HangupBy: string(r.HangupBy), Media: CallMedia{Caller: r.Caller, Callee: r.Callee},
		PlanPath: r.PlanPath,
	}
}

type callRecordList struct {
	Items      []CallRecord `json:"items" nullable:"false"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

type callRecordQuery struct {
	ListParams
	From        time.Time `query:"from" doc:"Only calls started at or after this time (RFC 3339)."`
	To          time.Time `query:"to" doc:"Only calls started before this time (RFC 3339)."`
	Number      string    `query:"number" maxLength:"32" doc:"Only calls from or to this number."`
	Disposition string    `query:"disposition" enum:"answered,no_answer,busy,failed,cancelled"`
	Direction   string    `query:"direction" enum:"internal,inbound,outbound"`
	Accept      string    `header:"Accept" doc:"text/csv streams the same list as CSV (every matching record, no paging)."`
}

var csvHeader = []string{"id", "sip_call_id", "direction", "from_number", "from_name", "to_number", "started_at",
	"answered_at", "ended_at", "ring_seconds", "talk_seconds", "disposition", "hangup_cause", "hangup_by",
	"caller_codec", "caller_packets_in", "caller_lost", "caller_jitter_ms",
	"callee_codec", "callee_packets_in", "callee_lost", "callee_jitter_ms"}

func csvRow(r *call.Record) []string {
	t := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return p.Format(time.RFC3339Nano)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	row := []string{string(r.ID), r.SIPCallID, string(r.Direction), r.FromNumber, r.FromName, r.ToNumber,
		r.StartedAt.Format(time.RFC3339Nano), t(r.AnsweredAt), t(r.EndedAt), f(r.RingSeconds()), f(r.TalkSeconds()),
		string(r.Disposition), r.HangupCause, string(r.HangupBy),
		r.Caller.Codec, u(r.Caller.PacketsIn), u(r.Caller.Lost), f(r.Caller.JitterMs),
		r.Callee.Codec, u(r.Callee.PacketsIn), u(r.Callee.Lost), f(r.Callee.JitterMs)}
	for i, v := range row {
		row[i] = csvSafe(v)
	}
	return row
}

// csvFormulaStart are the first characters that make a spreadsheet read a
// cell as a formula (OWASP, CSV injection), line feed included.
const csvFormulaStart = "=+-@\t\r\n"

// phoneNumberRE is a plain number: a spreadsheet reads it as a number, never
// as a formula, so an E.164 +14155550100 is left as it is.
var phoneNumberRE = regexp.MustCompile(`^\+?[0-9]{1,20}$`)

// csvSafe keeps a spreadsheet from reading a value as a formula: a value
// starting with = + - @ tab, CR or LF gets a leading single quote, which
// spreadsheets show as text and do not display. Every cell goes through it:
// caller names, numbers and SIP Call-IDs come from outside.
func csvSafe(s string) string {
	if s == "" || !strings.ContainsRune(csvFormulaStart, rune(s[0])) || phoneNumberRE.MatchString(s) {
		return s
	}
	return "'" + s
}

// callRecordsKey names a page of call records for the coalescer: the
// filter as the store applies it (times to the microsecond; a member's own
// number in Number) and the page.
func callRecordsKey(f call.Filter, p core.PageRequest) string {
	t := func(v time.Time) string {
		if v.IsZero() {
			return ""
		}
		return strconv.FormatInt(v.UnixMicro(), 10)
	}
	// Free text is quoted, so no value can pass for another field.
	return strings.Join([]string{"call-records", t(f.From), t(f.To), strconv.Quote(f.Number), string(f.Disposition),
		string(f.Direction), strconv.Itoa(p.Limit), strconv.Quote(p.Cursor)}, "\x00")
}

func registerCallRecords(a huma.API, s *server) {
	tags := []string{"Call records"}
	listSchema := a.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[callRecordList](), true, "CallRecordList")
	huma.Register(a, huma.Operation{
		OperationID: "list-call-records",
		Method:      http.MethodGet,
		Path:        "/v1/call-records",
		Summary:     "List call records",
		Description: "Call records, newest first, keyset-paginated. With `Accept: text/csv` every matching record " +
			"is streamed as CSV. A member key sees only calls from or to its own extension; a number filter naming another is 403.",
		Tags:   tags,
		Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
		Responses: map[string]*huma.Response{
			"200": {Description: "OK", Content: map[string]*huma.MediaType{
				"application/json": {Schema: listSchema},
				"text/csv":         {Schema: &huma.Schema{Type: "string"}},
			}},
		},
	}, func(ctx context.Context, in *callRecordQuery) (*huma.StreamResponse, error) {
		f := call.Filter{From: in.From, To: in.To, Number: in.Number,
			Disposition: call.Disposition(in.Disposition), Direction: call.Direction(in.Direction)}
		if num, member := s.memberNumber(ctx); member {
			if f.Number != "" && f.Number != num {
				return nil, huma.Error403Forbidden("a member key sees only its own extension's calls")
			}
			f.Number = num
		}
		if strings.Contains(in.Accept, "text/csv") {
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				hctx.SetHeader("Content-Type", "text/csv; charset=utf-8")
				hctx.SetHeader("Content-Disposition", `attachment; filename="call-records.csv"`)
				w := csv.NewWriter(hctx.BodyWriter())
				_ = w.Write(csvHeader)
				n := 0
				err := s.CallRecords.EachCallRecord(ctx, f, func(r *call.Record) error {
					if err := w.Write(csvRow(r)); err != nil {
						return err
					}
					if n++; n%500 == 0 {
						w.Flush()
					}
					return w.Error()
				})
				w.Flush()
				if err != nil {
					s.Logger.ErrorContext(ctx, "stream call records", "error", err)
				}
			}}, nil
		}
		// Requests for the same page of the same records share it (coalesce.go).
		p := in.page()
		b, release, err := s.reads.do(ctx, callRecordsKey(f, p), func(ctx context.Context) ([]byte, error) {
			page, err := s.CallRecords.ListCallRecords(ctx, f, p)
			if err != nil {
				return nil, s.problem(ctx, err, "query")
			}
			b, ok := appendCallRecordList(getBodyBuf(), &page, &s.recordJSON)
			if !ok {
				// A value encoding/json refuses: let it say so.
				putBodyBuf(b)
				body := callRecordList{Items: make([]CallRecord, 0, len(page.Items)), NextCursor: page.NextCursor}
				for _, r := range page.Items {
					body.Items = append(body.Items, toCallRecord(r))
				}
				return jsonMarshal(body)
			}
			return b, nil
		})
		if err != nil {
			return nil, err
		}
		return jsonStream(b, release), nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "get-call-record",
		Method:      http.MethodGet,
		Path:        "/v1/call-records/{id}",
		Summary:     "Get a call record",
		Description: "One call record with its media quality. A member key sees only calls from or to its own extension (404 for others).",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		ID string `path:"id" doc:"Call id."`
	}) (*struct{ Body CallRecord }, error) {
		r, err := s.CallRecords.GetCallRecord(ctx, call.ID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if num, member := s.memberNumber(ctx); member && r.FromNumber != num && r.ToNumber != num {
			return nil, s.problem(ctx, fmt.Errorf("call record %s: %w", in.ID, core.ErrNotFound), "path")
		}
		return &struct{ Body CallRecord }{Body: toCallRecord(r)}, nil
	})
}
