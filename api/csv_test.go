package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// TestCallRecordCSVEscapesFormulas: no cell of the call-record CSV starts a
// spreadsheet formula, whichever text field carries it.
func TestCallRecordCSVEscapesFormulas(t *testing.T) {
	e := newFullEnv(t)
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		set   func(r *call.Record, v string)
		value string
		want  string
	}{
		{"name equals", func(r *call.Record, v string) { r.FromName = v }, `=HYPERLINK("http://x.example","y")`, `'=HYPERLINK("http://x.example","y")`},
		{"name plus", func(r *call.Record, v string) { r.FromName = v }, "+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{"name minus", func(r *call.Record, v string) { r.FromName = v }, "-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"name at", func(r *call.Record, v string) { r.FromName = v }, "@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"},
		{"name tab", func(r *call.Record, v string) { r.FromName = v }, "\t=1+1", "'\t=1+1"},
		{"name carriage return", func(r *call.Record, v string) { r.FromName = v }, "\r=1+1", "'\r=1+1"},
		{"name plain", func(r *call.Record, v string) { r.FromName = v }, "Ann Lee", "Ann Lee"},
		{"name inner equals", func(r *call.Record, v string) { r.FromName = v }, "a=b", "a=b"},
		{"from number formula", func(r *call.Record, v string) { r.FromNumber = v }, "=1+2", "'=1+2"},
		{"from number e164", func(r *call.Record, v string) { r.FromNumber = v }, "+14155550100", "+14155550100"},
		{"from number plus text", func(r *call.Record, v string) { r.FromNumber = v }, "+1+cmd", "'+1+cmd"},
		{"to number formula", func(r *call.Record, v string) { r.ToNumber = v }, "@A1", "'@A1"},
		{"sip call id", func(r *call.Record, v string) { r.SIPCallID = v }, "=cmd|'/c calc'!A1", "'=cmd|'/c calc'!A1"},
		{"hangup cause", func(r *call.Record, v string) { r.HangupCause = v }, "-bye", "'-bye"},
		{"codec", func(r *call.Record, v string) { r.Caller.Codec = v }, "=PCMU", "'=PCMU"},
	}
	for i, tt := range tests {
		r := &call.Record{ID: call.ID(fmt.Sprintf("call_csv%02d", i)), SIPCallID: fmt.Sprintf("sip-%d", i),
			Direction: call.Internal, FromNumber: "1001", FromName: "x", ToNumber: "1002",
			StartedAt: start.Add(time.Duration(i) * time.Second)}
		tt.set(r, tt.value)
		if err := e.db.CreateCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	res := e.do("GET", "/v1/call-records?limit=500", adminKey, nil, "Accept", "text/csv")
	if res.status != 200 {
		t.Fatalf("csv: %d %s", res.status, res.body)
	}
	rows, err := csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string][]string{}
	for _, row := range rows[1:] {
		byID[row[0]] = row
		for j, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) && cell != "+14155550100" {
				t.Errorf("%s column %s starts a formula: %q", row[0], rows[0][j], cell)
			}
		}
	}
	col := func(name string) int {
		for j, h := range rows[0] {
			if h == name {
				return j
			}
		}
		t.Fatalf("no column %s", name)
		return 0
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := byID[fmt.Sprintf("call_csv%02d", i)]
			if row == nil {
				t.Fatal("record missing from the CSV")
			}
			found := false
			for _, c := range []string{"from_name", "from_number", "to_number", "sip_call_id", "hangup_cause", "caller_codec"} {
				found = found || row[col(c)] == tt.want
			}
			if !found {
				t.Fatalf("no cell is %q in %q", tt.want, row)
			}
		})
	}
}
