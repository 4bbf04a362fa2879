package api_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core/plan"
)

// newScheduleEnv serves the API with schedules on the test database.
func newScheduleEnv(t *testing.T) *env {
	t.Helper()
	d, db, logs := fullDeps(t)
	d.Schedules = db
	srv := httptest.NewServer(api.New(d))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, logs: logs, db: db}
}

func officeBody(ext string) map[string]any {
	return map[string]any{
		"name":      "Head office",
		"time_zone": "Europe/Berlin",
		"hours": map[string]any{
			"mon": []any{map[string]any{"start": "13:30", "end": "17:00"}, map[string]any{"start": "09:00", "end": "12:30"}},
			"fri": []any{map[string]any{"start": "09:00", "end": "24:00"}},
		},
		"holidays": []any{
			map[string]any{"name": "Christmas", "start": "2026-12-24", "end": "2026-12-26"},
			map[string]any{"name": "New Year", "start": "2025-12-31", "end": "2026-01-01", "recurring": true},
		},
		"override_code":          "7",
		"override_extension_ids": []string{ext},
	}
}

func TestSchedulesCRUD(t *testing.T) {
	e := newScheduleEnv(t)
	ext := e.createExtension("1001")["id"].(string)
	r := e.do("POST", "/v1/schedules", adminKey, officeBody(ext))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	s := r.json(t)
	id := s["id"].(string)
	if !strings.HasPrefix(id, "sch_") || r.header.Get("Location") != "/v1/schedules/"+id || r.header.Get("ETag") != `"1"` {
		t.Fatalf("id/location/etag: %s %v", id, r.header)
	}
	hours := s["hours"].(map[string]any)
	if mon := hours["mon"].([]any); len(mon) != 2 || mon[0].(map[string]any)["start"] != "09:00" {
		t.Fatalf("monday not stored in order: %v", hours)
	}
	if sun, ok := hours["sun"].([]any); !ok || len(sun) != 0 {
		t.Fatalf("a day without hours is not an empty list: %v", hours)
	}
	if o := s["override"].(map[string]any); o["mode"] != "none" || o["until"] != nil {
		t.Fatalf("override default: %v", o)
	}
	if s["override_code"] != "7" || len(s["override_extension_ids"].([]any)) != 1 || len(s["holidays"].([]any)) != 2 {
		t.Fatalf("fields not stored: %s", r.body)
	}
	if got := e.do("GET", "/v1/schedules/"+id, adminKey, nil); got.status != 200 || got.header.Get("ETag") != `"1"` || got.json(t)["name"] != "Head office" {
		t.Fatalf("get: %d %s", got.status, got.body)
	}

	// Pagination over three schedules, two a page.
	for _, n := range []string{"b", "c"} {
		e.create("/v1/schedules", map[string]any{"name": n, "time_zone": "UTC"})
	}
	var ids []string
	cursor := ""
	for {
		page := e.do("GET", "/v1/schedules?limit=2&cursor="+cursor, adminKey, nil).json(t)
		for _, it := range page["items"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(ids) != 3 || !slices.IsSorted(ids) || !slices.Contains(ids, id) {
		t.Fatalf("listed %v", ids)
	}

	// Merge patch: hours merge by day, null clears, If-Match honoured.
	if r := e.do("PATCH", "/v1/schedules/"+id, adminKey, map[string]any{"name": "x"}, "If-Match", `"9"`); r.status != 412 {
		t.Fatalf("stale If-Match: %d %s", r.status, r.body)
	}
	r = e.do("PATCH", "/v1/schedules/"+id, adminKey, map[string]any{
		"name":          "Branch",
		"hours":         map[string]any{"sat": []any{map[string]any{"start": "10:00", "end": "14:00"}}, "fri": nil},
		"override_code": nil,
		"override":      map[string]any{"mode": "closed"},
	}, "If-Match", `"1"`)
	if r.status != 200 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	p := r.json(t)
	hours = p["hours"].(map[string]any)
	if p["name"] != "Branch" || len(hours["mon"].([]any)) != 2 || len(hours["sat"].([]any)) != 1 || len(hours["fri"].([]any)) != 0 {
		t.Fatalf("hours not merged: %s", r.body)
	}
	if _, ok := p["override_code"]; ok || p["override"].(map[string]any)["mode"] != "closed" || len(p["holidays"].([]any)) != 2 {
		t.Fatalf("patch result: %s", r.body)
	}
	// The patch took effect: the override closes it in open hours.
	if st := e.do("GET", "/v1/schedules/"+id+"/state?at=2026-03-30T08:00:00Z", adminKey, nil).json(t); st["status"] != "closed" || st["reason"] != "override closed" {
		t.Fatalf("state after patch: %v", st)
	}
	// A code freed by the patch can be taken by another schedule.
	body := officeBody(ext)
	body["name"] = "Other"
	other := e.create("/v1/schedules", body)
	if r := e.do("PATCH", "/v1/schedules/"+id, adminKey, map[string]any{"override_code": "7"}); r.status != 409 || !strings.Contains(string(r.body), "override_code") {
		t.Fatalf("duplicate code by patch: %d %s", r.status, r.body)
	}
	if r := e.do("PATCH", "/v1/schedules/"+id, adminKey, map[string]any{"override": nil, "holidays": nil, "override_extension_ids": nil}); r.status != 200 {
		t.Fatalf("clearing patch: %d %s", r.status, r.body)
	} else if p := r.json(t); p["override"].(map[string]any)["mode"] != "none" || len(p["holidays"].([]any)) != 0 || len(p["override_extension_ids"].([]any)) != 0 {
		t.Fatalf("not cleared: %s", r.body)
	}

	for _, del := range []string{id, other} {
		if r := e.do("DELETE", "/v1/schedules/"+del, adminKey, nil); r.status != 204 {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
	}
	if r := e.do("GET", "/v1/schedules/"+id, adminKey, nil); r.status != 404 {
		t.Fatalf("deleted schedule: %d", r.status)
	}
	if r := e.do("DELETE", "/v1/schedules/"+id, adminKey, nil); r.status != 404 {
		t.Fatalf("delete again: %d", r.status)
	}
}

func TestSchedulesInvalid(t *testing.T) {
	e := newScheduleEnv(t)
	ext := e.createExtension("1001")["id"].(string)
	id := e.create("/v1/schedules", officeBody(ext))
	with := func(change func(map[string]any)) map[string]any {
		b := officeBody(ext)
		b["override_code"] = "8"
		change(b)
		return b
	}
	rng := func(start, end string) map[string]any { return map[string]any{"start": start, "end": end} }
	before := e.snapshot("/v1/schedules", "/v1/schedules/"+id)
	tests := []struct {
		name   string
		method string
		body   any
		status int
		loc    string
	}{
		{"missing name", "POST", map[string]any{"time_zone": "UTC"}, 422, "body.name"},
		{"missing zone", "POST", map[string]any{"name": "x"}, 422, "body.time_zone"},
		{"bad zone", "POST", with(func(b map[string]any) { b["time_zone"] = "Mars/Olympus" }), 422, "body.time_zone"},
		{"overlap", "POST", with(func(b map[string]any) {
			b["hours"] = map[string]any{"mon": []any{rng("09:00", "12:00"), rng("11:30", "13:00")}}
		}), 422, "body.hours.mon[1]"},
		{"start after end", "POST", with(func(b map[string]any) { b["hours"] = map[string]any{"tue": []any{rng("18:00", "09:00")}} }), 422, "body.hours.tue[0]"},
		{"not a clock", "POST", with(func(b map[string]any) { b["hours"] = map[string]any{"wed": []any{rng("9am", "17:00")}} }), 422, "body.hours.wed[0].start"},
		{"24:00 start", "POST", with(func(b map[string]any) { b["hours"] = map[string]any{"wed": []any{rng("24:00", "24:00")}} }), 422, "body.hours.wed[0].start"},
		{"holiday date and range", "POST", with(func(b map[string]any) {
			b["holidays"] = []any{map[string]any{"name": "x", "date": "2026-12-25", "start": "2026-12-24", "end": "2026-12-26"}}
		}), 422, "body.holidays[0].date"},
		{"holiday backwards", "POST", with(func(b map[string]any) {
			b["holidays"] = []any{map[string]any{"name": "x", "start": "2026-12-24", "end": "2026-12-01"}}
		}), 422, "body.holidays[0].end"},
		{"holiday without name", "POST", with(func(b map[string]any) { b["holidays"] = []any{map[string]any{"name": "", "date": "2026-12-25"}} }), 422, "body.holidays[0].name"},
		{"long code", "POST", with(func(b map[string]any) { b["override_code"] = "12345" }), 422, "body.override_code"},
		{"duplicate code", "POST", with(func(b map[string]any) { b["override_code"] = "7" }), 409, "body.override_code"},
		{"unknown extension", "POST", with(func(b map[string]any) {
			b["override_extension_ids"] = []string{ext, "ext_0000000000000000"}
		}), 422, "body.override_extension_ids[1]"},
		{"bad mode", "POST", with(func(b map[string]any) { b["override"] = map[string]any{"mode": "auto"} }), 422, "body.override.mode"},
		{"until in the past", "POST", with(func(b map[string]any) {
			b["override"] = map[string]any{"mode": "open", "until": "2020-01-01T00:00:00Z"}
		}), 422, "body.override.until"},
		{"unknown field", "POST", with(func(b map[string]any) { b["colour"] = "red" }), 422, "body.colour"},
		{"case variant", "POST", with(func(b map[string]any) { b["Name"] = "x" }), 422, "body.Name"},
		{"nested case variant", "POST", with(func(b map[string]any) { b["hours"] = map[string]any{"Mon": []any{}} }), 422, "body.hours.Mon"},
		{"nested unknown key", "POST", with(func(b map[string]any) {
			b["holidays"] = []any{map[string]any{"name": "x", "date": "2026-12-25", "Recurring": true}}
		}), 422, "body.holidays[0].Recurring"},
		{"patch bad zone", "PATCH", map[string]any{"time_zone": "Nowhere/Else"}, 422, "body.time_zone"},
		{"patch overlap", "PATCH", map[string]any{"hours": map[string]any{"mon": []any{rng("09:00", "10:00"), rng("08:00", "09:30")}}}, 422, "body.hours.mon[1]"},
		{"patch null name", "PATCH", map[string]any{"name": nil}, 422, "body.name"},
		{"patch case variant", "PATCH", map[string]any{"Name": "x"}, 422, "body.Name"},
		{"patch nested case variant", "PATCH", map[string]any{"override": map[string]any{"Mode": "open"}}, 422, "body.override.Mode"},
		{"patch read-only field", "PATCH", map[string]any{"id": "sch_x"}, 422, "body.id"},
		{"patch wrong type", "PATCH", map[string]any{"name": 5}, 422, "body.name"},
		{"patch unknown extension", "PATCH", map[string]any{"override_extension_ids": []string{"ext_0000000000000000"}}, 422, "body.override_extension_ids[0]"},
		{"patch until in the past", "PATCH", map[string]any{"override": map[string]any{"mode": "closed", "until": "2020-01-01T00:00:00Z"}}, 422, "body.override.until"},
		{"patch not an object", "PATCH", `[1]`, 422, "body"},
		{"override bad mode", "PUT", map[string]any{"mode": "auto"}, 422, "body.mode"},
		{"override until in the past", "PUT", map[string]any{"mode": "closed", "until": "2020-01-01T00:00:00Z"}, 422, "body.until"},
		{"override case variant", "PUT", map[string]any{"Mode": "closed"}, 422, "body.Mode"},
		{"override not a time", "PUT", map[string]any{"mode": "closed", "until": "tomorrow"}, 422, "body.until"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/v1/schedules"
			switch tt.method {
			case "PATCH":
				path += "/" + id
			case "PUT":
				path += "/" + id + "/override"
			}
			r := e.do(tt.method, path, adminKey, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if !strings.Contains(string(r.body), `"location":"`+tt.loc+`"`) {
				t.Fatalf("error does not name %s: %s", tt.loc, r.body)
			}
		})
	}
	if after := e.snapshot("/v1/schedules", "/v1/schedules/"+id); after != before {
		t.Fatalf("refused requests changed schedules:\n%s\n%s", before, after)
	}
}

func TestScheduleState(t *testing.T) {
	e := newScheduleEnv(t)
	ny := e.create("/v1/schedules", map[string]any{
		"name": "ny", "time_zone": "America/New_York",
		"hours":    map[string]any{"sun": []any{map[string]any{"start": "01:00", "end": "03:00"}}, "thu": []any{map[string]any{"start": "09:00", "end": "17:00"}}},
		"holidays": []any{map[string]any{"name": "New Year", "start": "2025-12-31", "end": "2026-01-01", "recurring": true}},
	})
	tests := []struct {
		at, status, reason, holiday, local string
	}{
		{"2026-03-08T06:30:00Z", "open", "open hours sun 01:00-03:00", "", "2026-03-08T01:30:00-05:00"},
		{"2026-03-08T07:00:00Z", "closed", "outside open hours", "", "2026-03-08T03:00:00-04:00"},
		{"2026-11-01T05:30:00Z", "open", "open hours sun 01:00-03:00", "", "2026-11-01T01:30:00-04:00"},
		{"2026-11-01T06:30:00Z", "open", "open hours sun 01:00-03:00", "", "2026-11-01T01:30:00-05:00"},
		{"2026-12-31T04:59:00Z", "closed", "outside open hours", "", "2026-12-30T23:59:00-05:00"},
		{"2026-12-17T14:00:00Z", "open", "open hours thu 09:00-17:00", "", "2026-12-17T09:00:00-05:00"},
		{"2027-01-01T15:00:00Z", "holiday", "holiday New Year", "New Year", "2027-01-01T10:00:00-05:00"},
		{"2026-12-31T14:00:00%2B00:00", "holiday", "holiday New Year", "New Year", "2026-12-31T09:00:00-05:00"},
	}
	for _, tt := range tests {
		t.Run(tt.at, func(t *testing.T) {
			r := e.do("GET", "/v1/schedules/"+ny+"/state?at="+tt.at, adminKey, nil)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			st := r.json(t)
			hol, _ := st["holiday"].(string)
			if st["status"] != tt.status || st["reason"] != tt.reason || hol != tt.holiday || st["local_time"] != tt.local || st["time_zone"] != "America/New_York" {
				t.Fatalf("state %s", r.body)
			}
		})
	}
	if r := e.do("GET", "/v1/schedules/"+ny+"/state", adminKey, nil); r.status != 200 || r.json(t)["at"] == "" {
		t.Fatalf("state now: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/schedules/"+ny+"/state?at=yesterday", adminKey, nil); r.status != 422 || !strings.Contains(string(r.body), `"location":"query.at"`) {
		t.Fatalf("bad at: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/schedules/sch_0000000000000000/state", adminKey, nil); r.status != 404 {
		t.Fatalf("unknown schedule: %d", r.status)
	}

	// The override route: closed until a time, then cleared.
	r := e.do("PUT", "/v1/schedules/"+ny+"/override", adminKey, map[string]any{"mode": "closed", "until": "2099-01-01T12:00:00Z"})
	if r.status != 200 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("put override: %d %s", r.status, r.body)
	}
	st := e.do("GET", "/v1/schedules/"+ny+"/state?at=2026-03-08T06:30:00Z", adminKey, nil).json(t)
	if st["status"] != "closed" || st["reason"] != "override closed until 2099-01-01T07:00:00-05:00" {
		t.Fatalf("state with override: %v", st)
	}
	// Past its expiry the override is ignored.
	if st := e.do("GET", "/v1/schedules/"+ny+"/state?at=2099-01-01T12:00:00Z", adminKey, nil).json(t); st["reason"] != "holiday New Year" {
		t.Fatalf("expired override: %v", st)
	}
	r = e.do("PUT", "/v1/schedules/"+ny+"/override", adminKey, map[string]any{"mode": "none", "until": "2099-01-01T12:00:00Z"})
	if o := r.json(t)["override"].(map[string]any); r.status != 200 || o["mode"] != "none" || o["until"] != nil {
		t.Fatalf("clear override: %d %s", r.status, r.body)
	}
	if st := e.do("GET", "/v1/schedules/"+ny+"/state?at=2026-03-08T06:30:00Z", adminKey, nil).json(t); st["status"] != "open" {
		t.Fatalf("state after clearing: %v", st)
	}
	if r := e.do("PUT", "/v1/schedules/sch_0000000000000000/override", adminKey, map[string]any{"mode": "open"}); r.status != 404 {
		t.Fatalf("override of unknown schedule: %d", r.status)
	}
}

func TestSchedulesMemberKey(t *testing.T) {
	e := newScheduleEnv(t)
	ext := e.createExtension("1001")["id"].(string)
	id := e.create("/v1/schedules", officeBody(ext))
	k := e.do("POST", "/v1/api-keys", adminKey, map[string]any{"name": "phone app", "role": "member", "extension_id": ext})
	if k.status != 201 {
		t.Fatalf("member key: %d %s", k.status, k.body)
	}
	member := k.json(t)["secret"].(string)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/schedules", map[string]any{"name": "x", "time_zone": "UTC"}},
		{"PATCH", "/v1/schedules/" + id, map[string]any{"name": "x"}},
		{"PUT", "/v1/schedules/" + id + "/override", map[string]any{"mode": "closed"}},
		{"DELETE", "/v1/schedules/" + id, nil},
	} {
		if r := e.do(c.method, c.path, member, c.body); r.status != 403 {
			t.Errorf("%s %s by a member: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	r := e.do("GET", "/v1/schedules/"+id, member, nil)
	if r.status != 200 {
		t.Fatalf("member read: %d %s", r.status, r.body)
	}
	if _, ok := r.json(t)["override_code"]; ok {
		t.Fatalf("member sees the override code: %s", r.body)
	}
	if r := e.do("GET", "/v1/schedules/"+id+"/state", member, nil); r.status != 200 {
		t.Fatalf("member state: %d %s", r.status, r.body)
	}
}

func TestDeleteScheduleUsedByCallPlan(t *testing.T) {
	e := newScheduleEnv(t)
	id := e.create("/v1/schedules", map[string]any{"name": "office", "time_zone": "UTC"})
	now := time.Now().UTC().Truncate(time.Microsecond)
	p := &plan.Plan{ID: "cpl_0000000000000001", Name: "Main line", Language: "en", Version: 1, CreatedAt: now, UpdatedAt: now,
		Graph: plan.Graph{Entry: "hours", Nodes: map[string]*plan.Node{
			"hours": {Kind: plan.KindSchedule, ScheduleID: id, Open: "bye", Closed: "bye"},
			"bye":   {Kind: plan.KindHangup},
		}}}
	if err := e.db.CreateCallPlan(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	r := e.do("DELETE", "/v1/schedules/"+id, adminKey, nil)
	if r.status != 409 || !strings.Contains(string(r.body), "Main line (cpl_0000000000000001)") {
		t.Fatalf("delete of a used schedule: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/schedules/"+id, adminKey, nil); r.status != 200 {
		t.Fatalf("refused delete removed it: %d", r.status)
	}
}
