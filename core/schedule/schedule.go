// Package schedule holds open hours, holidays and overrides, and answers
// whether a schedule is open at an instant. Everything is read in the
// schedule's own time zone, by local wall clock.
package schedule

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// ID identifies a schedule ("sch_...").
type ID string

// Prefix is the prefix of schedule ids.
const Prefix = "sch_"

// NewID returns a fresh schedule id.
func NewID() ID { return ID(core.NewID(Prefix)) }

// DayNames are the API's names of the days, indexed by time.Weekday.
var DayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Range is one span of open hours within a day, by wall clock: "09:00" to
// "12:30". It includes its start and excludes its end; End may be "24:00".
type Range struct {
	Start string
	End   string
}

// Week holds the open ranges of each day, indexed by time.Weekday.
type Week [7][]Range

// Holiday closes the schedule on a date or an inclusive range of dates
// ("2026-12-24" to "2026-12-26"). Exactly one of Date or Start/End is set.
// A recurring holiday matches every year on the same month and day; a
// recurring range whose end comes before its start in the year wraps over
// new year.
type Holiday struct {
	Name      string
	Date      string
	Start     string
	End       string
	Recurring bool
}

// Mode is what an override forces.
type Mode string

// Override modes.
const (
	ModeNone   Mode = "none"
	ModeOpen   Mode = "open"
	ModeClosed Mode = "closed"
)

// Override forces the schedule open or closed, until an instant or (Until
// nil) until it is cleared.
type Override struct {
	Mode  Mode
	Until *time.Time
}

// ActiveAt reports whether the override decides the state at t.
func (o Override) ActiveAt(t time.Time) bool {
	if o.Mode != ModeOpen && o.Mode != ModeClosed {
		return false
	}
	return o.Until == nil || t.Before(*o.Until)
}

// Schedule is a set of open hours with holidays and an override.
type Schedule struct {
	ID       ID
	Name     string
	TimeZone string // IANA name
	Hours    Week
	Holidays []Holiday
	Override Override
	// OverrideCode is dialled after the night-mode feature code to toggle
	// the override by phone (1 to 4 digits, unique); "" for none.
	OverrideCode string
	// OverrideExtensionIDs may toggle the override by phone.
	OverrideExtensionIDs []core.ExtensionID
	Version              int64
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// Repo stores schedules.
type Repo interface {
	CreateSchedule(ctx context.Context, s *Schedule) error
	GetSchedule(ctx context.Context, id ID) (*Schedule, error)
	ListSchedules(ctx context.Context, p core.PageRequest) (core.Page[*Schedule], error)
	// UpdateSchedule writes s if its stored version is still expectVersion
	// (core.ErrPrecondition otherwise) and sets s.Version to the new one.
	UpdateSchedule(ctx context.Context, s *Schedule, expectVersion int64) error
	// DeleteSchedule refuses (a core.InUseError) while call plans use it.
	DeleteSchedule(ctx context.Context, id ID) error
	// ScheduleByOverrideCode finds the schedule a night-mode code toggles.
	ScheduleByOverrideCode(ctx context.Context, code string) (*Schedule, error)
	// SetScheduleOverride replaces the override alone and bumps the version.
	SetScheduleOverride(ctx context.Context, id ID, o Override) (*Schedule, error)
}

// Limits of one schedule.
const (
	MaxNameLen        = 100
	MaxRangesPerDay   = 24
	MaxHolidays       = 366
	MaxOverrideExtIDs = 100
)

var (
	clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	codeRE  = regexp.MustCompile(`^[0-9]{1,4}$`)
)

// minutes parses "HH:MM" (and "24:00" when end is true) into minutes after midnight.
func minutes(s string, end bool) (int, bool) {
	if end && s == "24:00" {
		return 24 * 60, true
	}
	if !clockRE.MatchString(s) {
		return 0, false
	}
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[3:])
	return h*60 + m, true
}

// Validate checks a schedule and normalises it: names trimmed, each day's
// ranges sorted, a "none" override without expiry, duplicate extension ids
// dropped. Field names are the API's (hours.mon[1], holidays[0].date).
func (s *Schedule) Validate() error {
	var v core.ValidationError
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" || len(s.Name) > MaxNameLen || hasControl(s.Name) {
		v.Add("name", "must be 1 to 100 printable characters", s.Name)
	}
	if _, err := location(s.TimeZone); err != nil {
		v.Add("time_zone", "must be an IANA time zone such as Europe/Berlin", s.TimeZone)
	}
	for d, ranges := range s.Hours {
		validateDay(&v, DayNames[d], ranges)
		slices.SortFunc(s.Hours[d], func(a, b Range) int { return strings.Compare(a.Start, b.Start) })
	}
	if len(s.Holidays) > MaxHolidays {
		v.Add("holidays", fmt.Sprintf("must be at most %d", MaxHolidays), len(s.Holidays))
	}
	for i := range s.Holidays {
		validateHoliday(&v, fmt.Sprintf("holidays[%d]", i), &s.Holidays[i])
	}
	switch s.Override.Mode {
	case "":
		s.Override = Override{Mode: ModeNone}
	case ModeNone:
		s.Override.Until = nil
	case ModeOpen, ModeClosed:
	default:
		v.Add("override.mode", "must be open, closed or none", string(s.Override.Mode))
	}
	if s.OverrideCode != "" && !codeRE.MatchString(s.OverrideCode) {
		v.Add("override_code", "must be 1 to 4 digits", s.OverrideCode)
	}
	if len(s.OverrideExtensionIDs) > MaxOverrideExtIDs {
		v.Add("override_extension_ids", fmt.Sprintf("must be at most %d", MaxOverrideExtIDs), len(s.OverrideExtensionIDs))
	}
	seen := map[core.ExtensionID]bool{}
	ids := s.OverrideExtensionIDs[:0:0]
	for i, id := range s.OverrideExtensionIDs {
		if !core.HasPrefix(string(id), core.PrefixExtension) {
			v.Add(fmt.Sprintf("override_extension_ids[%d]", i), "is not an extension id", string(id))
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(v) == 0 {
		s.OverrideExtensionIDs = ids
	}
	return v.Err()
}

func validateDay(v *core.ValidationError, day string, ranges []Range) {
	if len(ranges) > MaxRangesPerDay {
		v.Add("hours."+day, fmt.Sprintf("must have at most %d ranges", MaxRangesPerDay), len(ranges))
		return
	}
	type span struct{ i, start, end int }
	var ok []span
	for i, r := range ranges {
		field := fmt.Sprintf("hours.%s[%d]", day, i)
		start, okStart := minutes(r.Start, false)
		end, okEnd := minutes(r.End, true)
		if !okStart {
			v.Add(field+".start", "must be a time HH:MM from 00:00 to 23:59", r.Start)
		}
		if !okEnd {
			v.Add(field+".end", "must be a time HH:MM from 00:01 to 24:00", r.End)
		}
		if !okStart || !okEnd {
			continue
		}
		if start >= end {
			v.Add(field, "start must come before end", r.Start+"-"+r.End)
			continue
		}
		ok = append(ok, span{i, start, end})
	}
	// Ranges overlap when one starts before another ends; the later one
	// in the request is named.
	for a := range ok {
		for b := range a {
			if ok[a].start < ok[b].end && ok[b].start < ok[a].end {
				v.Add(fmt.Sprintf("hours.%s[%d]", day, ok[a].i),
					fmt.Sprintf("overlaps hours.%s[%d]", day, ok[b].i), ranges[ok[a].i].Start+"-"+ranges[ok[a].i].End)
				break
			}
		}
	}
}

const dateLayout = "2006-01-02"

func validateHoliday(v *core.ValidationError, field string, h *Holiday) {
	h.Name = strings.TrimSpace(h.Name)
	if h.Name == "" || len(h.Name) > MaxNameLen || hasControl(h.Name) {
		v.Add(field+".name", "must be 1 to 100 printable characters", h.Name)
	}
	date := func(name, s string) (time.Time, bool) {
		t, err := time.Parse(dateLayout, s)
		if err != nil {
			v.Add(field+"."+name, "must be a date YYYY-MM-DD", s)
			return t, false
		}
		return t, true
	}
	switch {
	case h.Date != "" && (h.Start != "" || h.End != ""):
		v.Add(field+".date", "give either date or start and end, not both", h.Date)
	case h.Date != "":
		date("date", h.Date)
	case h.Start == "" && h.End == "":
		v.Add(field+".date", "a holiday needs a date, or a start and an end", nil)
	case h.Start == "":
		v.Add(field+".start", "is required with end", nil)
	case h.End == "":
		v.Add(field+".end", "is required with start", nil)
	default:
		start, ok1 := date("start", h.Start)
		end, ok2 := date("end", h.End)
		// A recurring range may wrap over new year; a one-off one may not run backwards.
		if ok1 && ok2 && !h.Recurring && end.Before(start) {
			v.Add(field+".end", "must not come before start", h.End)
		}
	}
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// zones caches loaded time zones by name.
var zones sync.Map // string -> *time.Location

// location loads an IANA zone. "Local" and "" are refused: a schedule's
// zone must not depend on the host.
func location(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	if name == "" || name == "Local" || len(name) > 64 {
		return nil, fmt.Errorf("time zone %q: %w", name, core.ErrInvalid)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, core.ErrInvalid)
	}
	zones.Store(name, l)
	return l, nil
}

// Location is the schedule's time zone (UTC when its name does not load,
// which Validate refuses).
func (s *Schedule) Location() *time.Location {
	l, err := location(s.TimeZone)
	if err != nil {
		return time.UTC
	}
	return l
}
