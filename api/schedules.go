package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/schedule"
)

// ScheduleRepo stores schedules.
type ScheduleRepo interface {
	schedule.Repo
}

// ScheduleRange is one span of open hours in a day.
type ScheduleRange struct {
	Start string `json:"start" pattern:"^([01][0-9]|2[0-3]):[0-5][0-9]$" example:"09:00" doc:"Opening time, HH:MM on a 24-hour local wall clock; open from this minute on."`
	End   string `json:"end" pattern:"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$" example:"17:00" doc:"Closing time, HH:MM after start, 24:00 for midnight; closed from this minute on."`
}

// ScheduleHours are the open ranges of each day of the week.
type ScheduleHours struct {
	Mon []ScheduleRange `json:"mon" nullable:"false" doc:"Monday's open ranges, in order; none: closed all day."`
	Tue []ScheduleRange `json:"tue" nullable:"false" doc:"Tuesday's open ranges."`
	Wed []ScheduleRange `json:"wed" nullable:"false" doc:"Wednesday's open ranges."`
	Thu []ScheduleRange `json:"thu" nullable:"false" doc:"Thursday's open ranges."`
	Fri []ScheduleRange `json:"fri" nullable:"false" doc:"Friday's open ranges."`
	Sat []ScheduleRange `json:"sat" nullable:"false" doc:"Saturday's open ranges."`
	Sun []ScheduleRange `json:"sun" nullable:"false" doc:"Sunday's open ranges."`
}

// ScheduleHoursInput are the open ranges of each day as a request gives them.
type ScheduleHoursInput struct {
	Mon []ScheduleRange `json:"mon,omitempty" maxItems:"24" doc:"Monday's open ranges. Ranges must not overlap; a day left out (or null in a patch) has none and is closed all day." example:"[{\"start\":\"09:00\",\"end\":\"12:30\"},{\"start\":\"13:30\",\"end\":\"17:00\"}]"`
	Tue []ScheduleRange `json:"tue,omitempty" maxItems:"24" doc:"Tuesday's open ranges. Ranges must not overlap; a day left out (or null in a patch) has none and is closed all day."`
	Wed []ScheduleRange `json:"wed,omitempty" maxItems:"24" doc:"Wednesday's open ranges. Ranges must not overlap; a day left out (or null in a patch) has none and is closed all day."`
	Thu []ScheduleRange `json:"thu,omitempty" maxItems:"24" doc:"Thursday's open ranges. Ranges must not overlap; a day left out (or null in a patch) has none and is closed all day."`
	Fri []ScheduleRange `json:"fri,omitempty" maxItems:"24" doc:"Friday's open ranges. Ranges must not overlap; a day left out (or null in a patch) has none and is closed all day."`
	Sat []ScheduleRange `json:"sat,omitempty" maxItems:"24" doc:"Saturday's open ranges. Ranges must not overlap; a day left out (or null in a patch) has none and is closed all day."`
	Sun []ScheduleRange `json:"sun,omitempty" maxItems:"24" doc:"Sunday's open ranges. Ranges must not overlap; a day left out (or null in a patch) has none and is closed all day."`
}

func (h *ScheduleHoursInput) days() [7]*[]ScheduleRange {
	return [7]*[]ScheduleRange{&h.Sun, &h.Mon, &h.Tue, &h.Wed, &h.Thu, &h.Fri, &h.Sat}
}

// ScheduleHoliday closes the schedule for a day or a range of days.
type ScheduleHoliday struct {
	Name      string `json:"name" example:"Christmas" doc:"Shown in the state's reason (\"holiday Christmas\")."`
	Date      string `json:"date,omitempty" format:"date" example:"2026-12-25" doc:"The one day closed, in the schedule's zone."`
	Start     string `json:"start,omitempty" format:"date" example:"2026-12-24" doc:"First day of a range of days closed (with end)."`
	End       string `json:"end,omitempty" format:"date" example:"2026-12-26" doc:"Last day of the range, included."`
	Recurring bool   `json:"recurring" doc:"Every year on the same month and day (the year is ignored); a recurring range ending before it starts in the year wraps over new year."`
}

// ScheduleHolidayInput is a holiday as a request gives it: date, or start and end.
type ScheduleHolidayInput struct {
	Name      string `json:"name" maxLength:"100" example:"Christmas" doc:"Shown in the state's reason (\"holiday Christmas\")."`
	Date      string `json:"date,omitempty" format:"date" example:"2026-12-25" doc:"The one day closed, in the schedule's zone. Give either date, or start and end."`
	Start     string `json:"start,omitempty" format:"date" example:"2026-12-24" doc:"First day of a range of days closed (with end)."`
	End       string `json:"end,omitempty" format:"date" example:"2026-12-26" doc:"Last day of the range, included; not before start unless recurring."`
	Recurring bool   `json:"recurring,omitempty" doc:"Every year on the same month and day (the year is ignored); a recurring range ending before it starts in the year wraps over new year (2025-12-31 to 2026-01-02). Default false."`
}

// ScheduleOverride forces a schedule open or closed.
type ScheduleOverride struct {
	Mode  string     `json:"mode" enum:"open,closed,none" doc:"open or closed forces the state until \"until\"; none follows hours and holidays."`
	Until *time.Time `json:"until" nullable:"true" doc:"When the override ends by itself; null: when it is cleared (by the API or night mode by phone)."`
}

// ScheduleOverrideInput sets or clears the override.
type ScheduleOverrideInput struct {
	Mode  string  `json:"mode" enum:"open,closed,none" example:"closed" doc:"open or closed forces the state (over hours and holidays); none clears the override."`
	Until *string `json:"until,omitempty" nullable:"true" format:"date-time" example:"2026-12-24T08:00:00Z" doc:"RFC 3339 instant, in the future, when the override ends by itself; null or left out: until cleared. Ignored with mode none."`
}

// Schedule is open hours with holidays and an override, read in one time zone.
type Schedule struct {
	ID                   string            `json:"id" example:"sch_0m3k9x2c8v1z4q7d" doc:"Opaque id, prefixed sch_."`
	Name                 string            `json:"name" example:"Head office" doc:"Shown to people; not unique."`
	TimeZone             string            `json:"time_zone" example:"Europe/Berlin" doc:"IANA zone the hours and holiday dates are read in, by local wall clock (DST included)."`
	Hours                ScheduleHours     `json:"hours" doc:"Weekly open hours, every day listed (an empty list: closed all day)."`
	Holidays             []ScheduleHoliday `json:"holidays" nullable:"false" doc:"Days closed whatever the hours say (state holiday)."`
	Override             ScheduleOverride  `json:"override" doc:"Forces open or closed over hours and holidays; an expired one is ignored."`
	OverrideCode         string            `json:"override_code,omitempty" example:"1" doc:"Dialled after the night-mode feature code to toggle the override by phone. Shown to admin keys only."`
	OverrideExtensionIDs []string          `json:"override_extension_ids" nullable:"false" doc:"Extensions allowed to toggle the override by phone."`
	CreatedAt            time.Time         `json:"created_at" doc:"When it was created."`
	UpdatedAt            time.Time         `json:"updated_at" doc:"When it last changed, the override included."`
}

// ScheduleInput is a schedule as a request gives it.
type ScheduleInput struct {
	Name                 *string                `json:"name,omitempty" maxLength:"100" example:"Head office" doc:"Required on create."`
	TimeZone             *string                `json:"time_zone,omitempty" maxLength:"64" example:"Europe/Berlin" doc:"IANA time zone the hours and dates are read in. Required on create."`
	Hours                *ScheduleHoursInput    `json:"hours,omitempty" doc:"Weekly open hours; none: always closed (but for an open override)."`
	Holidays             []ScheduleHolidayInput `json:"holidays,omitempty" maxItems:"366" doc:"Days closed whatever the hours say, state holiday."`
	Override             *ScheduleOverrideInput `json:"override,omitempty" doc:"Forces open or closed over hours and holidays. Default none."`
	OverrideCode         *string                `json:"override_code,omitempty" pattern:"^[0-9]{1,4}$" example:"1" doc:"1 to 4 digits, unique among schedules, dialled after the night-mode feature code to toggle the override by phone."`
	OverrideExtensionIDs []string               `json:"override_extension_ids,omitempty" maxItems:"100" example:"[\"ext_0m3k9x2c8v1z4q7d\"]" doc:"Extensions allowed to toggle the override by phone; each must exist."`
}

// ScheduleCreate is the body of create: name and time_zone are required.
type ScheduleCreate ScheduleInput

// SchedulePatch is the body of update, a JSON merge patch (RFC 7396):
// fields left out keep their value, objects (hours, override) merge
// key by key, null clears.
type SchedulePatch struct {
	Name                 *string                `json:"name,omitempty" maxLength:"100" example:"Branch office" doc:"Shown to people; not unique."`
	TimeZone             *string                `json:"time_zone,omitempty" maxLength:"64" example:"America/New_York" doc:"IANA time zone the hours and dates are read in."`
	Hours                *ScheduleHoursInput    `json:"hours,omitempty" doc:"Merged day by day: {\"sat\": [...]} changes Saturday only, {\"sat\": null} closes it; null closes every day."`
	Holidays             []ScheduleHolidayInput `json:"holidays,omitempty" nullable:"true" maxItems:"366" doc:"Replaces the whole list; null: none."`
	Override             *ScheduleOverrideInput `json:"override,omitempty" doc:"Merged key by key; null clears it (mode none)."`
	OverrideCode         *string                `json:"override_code,omitempty" nullable:"true" pattern:"^[0-9]{1,4}$" doc:"null: no code, no toggling by phone."`
	OverrideExtensionIDs []string               `json:"override_extension_ids,omitempty" nullable:"true" maxItems:"100" doc:"Replaces the whole list; null: none."`
}

// ScheduleState is a schedule's state at an instant and why.
type ScheduleState struct {
	Status    string    `json:"status" enum:"open,closed,holiday" doc:"holiday is closed by a holiday."`
	Reason    string    `json:"reason" example:"open hours mon 09:00-17:00" doc:"What decided: \"override open until <RFC 3339>\", \"override closed\", \"holiday <name>\", \"open hours <day> <start>-<end>\" or \"outside open hours\"."`
	Holiday   string    `json:"holiday,omitempty" example:"Christmas" doc:"The holiday's name when status is holiday."`
	At        time.Time `json:"at" doc:"The instant asked about."`
	TimeZone  string    `json:"time_zone" example:"Europe/Berlin" doc:"The schedule's IANA time zone."`
	LocalTime string    `json:"local_time" example:"2026-03-30T09:15:00+02:00" doc:"The instant on the schedule's wall clock, RFC 3339 with its UTC offset."`
}

func toSchedule(s *schedule.Schedule, admin bool) Schedule {
	out := Schedule{ID: string(s.ID), Name: s.Name, TimeZone: s.TimeZone, Holidays: []ScheduleHoliday{},
		Override:             ScheduleOverride{Mode: string(s.Override.Mode), Until: s.Override.Until},
		OverrideExtensionIDs: []string{}, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	if admin {
		out.OverrideCode = s.OverrideCode
	}
	days := [7]*[]ScheduleRange{&out.Hours.Sun, &out.Hours.Mon, &out.Hours.Tue, &out.Hours.Wed, &out.Hours.Thu, &out.Hours.Fri, &out.Hours.Sat}
	for d, ranges := range s.Hours {
		*days[d] = make([]ScheduleRange, 0, len(ranges))
		for _, r := range ranges {
			*days[d] = append(*days[d], ScheduleRange(r))
		}
	}
	for _, h := range s.Holidays {
		out.Holidays = append(out.Holidays, ScheduleHoliday(h))
	}
	for _, id := range s.OverrideExtensionIDs {
		out.OverrideExtensionIDs = append(out.OverrideExtensionIDs, string(id))
	}
	return out
}

// scheduleInputOf is s as an input document: the base a merge patch applies to.
func scheduleInputOf(s *schedule.Schedule) ScheduleInput {
	in := ScheduleInput{Name: &s.Name, TimeZone: &s.TimeZone, Hours: &ScheduleHoursInput{},
		Override: &ScheduleOverrideInput{Mode: string(s.Override.Mode)}}
	if in.Override.Mode == "" {
		in.Override.Mode = string(schedule.ModeNone)
	}
	if s.Override.Until != nil {
		u := s.Override.Until.UTC().Format(time.RFC3339Nano)
		in.Override.Until = &u
	}
	if s.OverrideCode != "" {
		in.OverrideCode = &s.OverrideCode
	}
	days := in.Hours.days()
	for d, ranges := range s.Hours {
		for _, r := range ranges {
			*days[d] = append(*days[d], ScheduleRange(r))
		}
	}
	for _, h := range s.Holidays {
		in.Holidays = append(in.Holidays, ScheduleHolidayInput(h))
	}
	for _, id := range s.OverrideExtensionIDs {
		in.OverrideExtensionIDs = append(in.OverrideExtensionIDs, string(id))
	}
	return in
}

// build fills every field of s from the input (a field left out is empty)
// and validates the result.
func (in *ScheduleInput) build(s *schedule.Schedule) error {
	var v core.ValidationError
	s.Name, s.TimeZone, s.OverrideCode = "", "", ""
	if in.Name != nil {
		s.Name = *in.Name
	}
	if in.TimeZone != nil {
		s.TimeZone = *in.TimeZone
	}
	if in.OverrideCode != nil {
		s.OverrideCode = *in.OverrideCode
	}
	s.Hours = schedule.Week{}
	if in.Hours != nil {
		for d, ranges := range in.Hours.days() {
			for _, r := range *ranges {
				s.Hours[d] = append(s.Hours[d], schedule.Range(r))
			}
		}
	}
	s.Holidays = nil
	for _, h := range in.Holidays {
		s.Holidays = append(s.Holidays, schedule.Holiday(h))
	}
	s.Override = schedule.Override{Mode: schedule.ModeNone}
	if in.Override != nil {
		o, err := in.Override.build("override.")
		if err != nil {
			v = append(v, err...)
		}
		s.Override = o
	}
	s.OverrideExtensionIDs = nil
	for _, id := range in.OverrideExtensionIDs {
		s.OverrideExtensionIDs = append(s.OverrideExtensionIDs, core.ExtensionID(id))
	}
	if err := s.Validate(); err != nil {
		var ve core.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		v = append(v, ve...)
	}
	return v.Err()
}

// build reads the override; field names are prefixed with prefix.
func (in *ScheduleOverrideInput) build(prefix string) (schedule.Override, core.ValidationError) {
	var v core.ValidationError
	o := schedule.Override{Mode: schedule.Mode(in.Mode)}
	switch o.Mode {
	case schedule.ModeOpen, schedule.ModeClosed, schedule.ModeNone:
	default:
		v.Add(prefix+"mode", "must be open, closed or none", in.Mode)
	}
	if in.Until != nil && o.Mode != schedule.ModeNone {
		u, err := time.Parse(time.RFC3339, *in.Until)
		if err != nil {
			v.Add(prefix+"until", "must be an RFC 3339 instant such as 2026-12-24T08:00:00Z", *in.Until)
		} else {
			u = u.UTC().Truncate(time.Microsecond)
			o.Until = &u
		}
	}
	return o, v
}

// newOverrideInPast refuses an override set by this request that would
// already be over.
func newOverrideInPast(field string, o, before schedule.Override, now time.Time) error {
	if o.Until == nil || o.Mode == before.Mode && before.Until != nil && o.Until.Equal(*before.Until) {
		return nil
	}
	if !o.Until.After(now) {
		return &core.FieldError{Field: field, Message: "must be in the future", Value: o.Until.Format(time.RFC3339)}
	}
	return nil
}

// decodeSchedulePatch applies a JSON merge patch (RFC 7396) to cur's input
// document and reads the result.
func decodeSchedulePatch(raw []byte, cur *schedule.Schedule) (*ScheduleInput, error) {
	var patch map[string]any
	if err := json.Unmarshal(raw, &patch); err != nil || patch == nil {
		return nil, core.ValidationError{{Field: "", Message: "must be a JSON object (a merge patch)"}}
	}
	if err := checkKeys(raw, reflect.TypeFor[ScheduleInput]()); err != nil {
		return nil, err
	}
	b, err := json.Marshal(scheduleInputOf(cur))
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	merged, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		return nil, err
	}
	var in ScheduleInput
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, core.ValidationError{jsonFieldError(err)}
	}
	return &in, nil
}

func isAdmin(ctx context.Context) bool {
	k := principal(ctx)
	return k == nil || k.Role == core.RoleAdmin
}

type scheduleOutput struct {
	ETag string `header:"ETag"`
	Body Schedule
}

type scheduleCreated struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     Schedule
}

type scheduleList struct {
	Body struct {
		Items      []Schedule `json:"items" nullable:"false"`
		NextCursor string     `json:"next_cursor,omitempty"`
	}
}

// ScheduleIDParam is the {id} path parameter of schedule routes.
type ScheduleIDParam struct {
	ID string `path:"id" doc:"Schedule id."`
}

func registerSchedules(a huma.API, s *server) {
	tags := []string{"Schedules"}
	huma.Register(a, huma.Operation{
		OperationID: "create-schedule", Method: http.MethodPost, Path: "/v1/schedules", Summary: "Create a schedule",
		Description: "Weekly open hours, holidays and an override, read by the wall clock of time_zone. " +
			"Call plans branch on its state; night mode by phone toggles its override. Admin keys only. " + idempotencyHeaderDoc,
		Tags: tags, DefaultStatus: http.StatusCreated, Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body ScheduleCreate
	}) (*scheduleCreated, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		sch := &schedule.Schedule{ID: schedule.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now}
		body := ScheduleInput(in.Body)
		if err := body.build(sch); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if err := newOverrideInPast("override.until", sch.Override, schedule.Override{}, now); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if err := s.Schedules.CreateSchedule(ctx, sch); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &scheduleCreated{ETag: etag(sch.Version), Location: "/v1/schedules/" + string(sch.ID), Body: toSchedule(sch, true)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-schedules", Method: http.MethodGet, Path: "/v1/schedules", Summary: "List schedules",
		Description: "Schedules ordered by id, keyset-paginated. override_code is shown to admin keys only.",
		Tags:        tags,
	}, func(ctx context.Context, in *ListParams) (*scheduleList, error) {
		page, err := s.Schedules.ListSchedules(ctx, in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &scheduleList{}
		out.Body.Items = make([]Schedule, 0, len(page.Items))
		admin := isAdmin(ctx)
		for _, sch := range page.Items {
			out.Body.Items = append(out.Body.Items, toSchedule(sch, admin))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-schedule", Method: http.MethodGet, Path: "/v1/schedules/{id}", Summary: "Get a schedule",
		Description: "One schedule with its ETag for a later If-Match. override_code is shown to admin keys only.",
		Tags:        tags,
	}, func(ctx context.Context, in *ScheduleIDParam) (*scheduleOutput, error) {
		sch, err := s.Schedules.GetSchedule(ctx, schedule.ID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &scheduleOutput{ETag: etag(sch.Version), Body: toSchedule(sch, isAdmin(ctx))}, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "update-schedule", Method: http.MethodPatch, Path: "/v1/schedules/{id}", Summary: "Change a schedule",
		Description: "Applies a JSON merge patch (RFC 7396): hours and override merge key by key, lists are replaced, null clears. " +
			"With If-Match, the update happens only if the schedule still has that ETag (412 otherwise). " +
			"A new override's until must be in the future. Takes effect on the next call. Admin keys only.",
		Tags:   tags,
		Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		ScheduleIDParam
		IfMatch string `header:"If-Match" doc:"ETag from an earlier read; the update is refused with 412 if the schedule changed since."`
		RawBody []byte `contentType:"application/merge-patch+json"`
	}) (*scheduleOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		cur, err := s.Schedules.GetSchedule(ctx, schedule.ID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if !ifMatch(in.IfMatch, cur.Version) {
			return nil, huma.Error412PreconditionFailed("the schedule changed since the ETag in If-Match was read")
		}
		body, err := decodeSchedulePatch(in.RawBody, cur)
		if err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		next := &schedule.Schedule{ID: cur.ID, Version: cur.Version, CreatedAt: cur.CreatedAt, UpdatedAt: now}
		if err := body.build(next); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if err := newOverrideInPast("override.until", next.Override, cur.Override, now); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if err := s.Schedules.UpdateSchedule(ctx, next, cur.Version); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &scheduleOutput{ETag: etag(next.Version), Body: toSchedule(next, true)}, nil
	})
	// The body is read raw (to see nulls); document it with the patch schema.
	if p := a.OpenAPI().Paths["/v1/schedules/{id}"]; p != nil && p.Patch != nil {
		schema := a.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[SchedulePatch](), true, "SchedulePatch")
		p.Patch.RequestBody.Content = map[string]*huma.MediaType{
			"application/merge-patch+json": {Schema: schema},
			"application/json":             {Schema: schema},
		}
	}

	huma.Register(a, huma.Operation{
		OperationID: "delete-schedule", Method: http.MethodDelete, Path: "/v1/schedules/{id}", Summary: "Delete a schedule",
		Description: "Refused with 409, naming them, while call plans use the schedule. Admin keys only.",
		Tags:        tags, DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusForbidden, http.StatusConflict},
	}, func(ctx context.Context, in *ScheduleIDParam) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if err := s.Schedules.DeleteSchedule(ctx, schedule.ID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "get-schedule-state", Method: http.MethodGet, Path: "/v1/schedules/{id}/state", Summary: "State of a schedule at an instant",
		Description: "open, closed or holiday, and why. An override in force wins, then holidays, then the weekly hours, all read " +
			"by the schedule's local wall clock (on a day clocks spring forward a 01:00-03:00 range lasts one real hour).",
		Tags: tags,
	}, func(ctx context.Context, in *struct {
		ScheduleIDParam
		At string `query:"at" format:"date-time" example:"2026-12-24T09:30:00Z" doc:"RFC 3339 instant; default now."`
	}) (*struct{ Body ScheduleState }, error) {
		t := time.Now()
		if in.At != "" {
			var err error
			if t, err = time.Parse(time.RFC3339, in.At); err != nil {
				return nil, s.problem(ctx, &core.FieldError{Field: "at", Message: "must be an RFC 3339 instant such as 2026-12-24T09:30:00Z", Value: in.At}, "query")
			}
		}
		sch, err := s.Schedules.GetSchedule(ctx, schedule.ID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		st := sch.StateAt(t)
		return &struct{ Body ScheduleState }{Body: ScheduleState{Status: st.Status.String(), Reason: st.Reason, Holiday: st.Holiday,
			At: t.UTC(), TimeZone: sch.TimeZone, LocalTime: t.In(sch.Location()).Format(time.RFC3339)}}, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "set-schedule-override", Method: http.MethodPut, Path: "/v1/schedules/{id}/override", Summary: "Set or clear a schedule's override",
		Description: "Forces the schedule open or closed (until an instant, or until cleared), or clears the override with mode none; " +
			"the same as night mode by phone, and as PATCH of override. Admin keys only.",
		Tags: tags, Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		ScheduleIDParam
		Body ScheduleOverrideInput
	}) (*scheduleOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		o, v := in.Body.build("")
		if err := v.Err(); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		cur, err := s.Schedules.GetSchedule(ctx, schedule.ID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if err := newOverrideInPast("until", o, cur.Override, time.Now()); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		sch, err := s.Schedules.SetScheduleOverride(ctx, cur.ID, o)
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &scheduleOutput{ETag: etag(sch.Version), Body: toSchedule(sch, true)}, nil
	})
}
