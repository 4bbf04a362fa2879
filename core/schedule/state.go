package schedule

import (
	"time"
)

// Status is whether a schedule is open at an instant.
type Status int

// Statuses.
const (
	StatusUnknown Status = iota
	StatusOpen
	StatusClosed
	StatusHoliday // closed by a holiday
)

func (s Status) String() string {
	switch s {
	case StatusOpen:
		return "open"
	case StatusClosed:
		return "closed"
	case StatusHoliday:
		return "holiday"
	}
	return "unknown"
}

// Open reports whether calls are taken as in open hours.
func (s Status) Open() bool { return s == StatusOpen }

// State is a schedule's state at an instant and why.
type State struct {
	Status Status
	// Reason says what decided, for people and programs alike:
	// "override open until 2026-03-08T09:00:00-04:00", "override closed",
	// "holiday Christmas", "open hours mon 09:00-17:00", "outside open hours".
	Reason string
	// Holiday is the name of the holiday that closes the schedule.
	Holiday string
}

// StateAt is the schedule's state at t. An unexpired override wins, then
// holidays, then the weekly hours. Dates and hours are read by the wall
// clock of the schedule's zone at t: on a day clocks spring forward a range
// 01:00-03:00 lasts one real hour (02:00-03:00 never shows), and when they
// fall back the repeated hour is judged by its wall time both times.
func (s *Schedule) StateAt(t time.Time) State {
	loc := s.Location()
	if o := s.Override; o.ActiveAt(t) {
		st := State{Status: StatusOpen, Reason: "override " + string(o.Mode)}
		if o.Mode == ModeClosed {
			st.Status = StatusClosed
		}
		if o.Until != nil {
			st.Reason += " until " + o.Until.In(loc).Format(time.RFC3339)
		}
		return st
	}
	local := t.In(loc)
	for _, h := range s.Holidays {
		if h.covers(local) {
			return State{Status: StatusHoliday, Reason: "holiday " + h.Name, Holiday: h.Name}
		}
	}
	day := local.Weekday()
	now := local.Hour()*60 + local.Minute()
	for _, r := range s.Hours[day] {
		start, ok1 := minutes(r.Start, false)
		end, ok2 := minutes(r.End, true)
		if ok1 && ok2 && start <= now && now < end {
			return State{Status: StatusOpen, Reason: "open hours " + DayNames[day] + " " + r.Start + "-" + r.End}
		}
	}
	return State{Status: StatusClosed, Reason: "outside open hours"}
}

// covers reports whether the holiday includes the local date of t.
func (h Holiday) covers(t time.Time) bool {
	first, last := h.Start, h.End
	if h.Date != "" {
		first, last = h.Date, h.Date
	}
	a, err1 := time.Parse(dateLayout, first)
	b, err2 := time.Parse(dateLayout, last)
	if err1 != nil || err2 != nil {
		return false
	}
	if !h.Recurring {
		d := t.Format(dateLayout)
		return first <= d && d <= last
	}
	// Month and day as one number (December 25 -> 1225) compare in year order.
	md := func(m time.Month, d int) int { return int(m)*100 + d }
	now, from, to := md(t.Month(), t.Day()), md(a.Month(), a.Day()), md(b.Month(), b.Day())
	if from <= to {
		return from <= now && now <= to
	}
	return now >= from || now <= to // wraps over new year
}

// Toggle is the override night mode by phone sets at now: while the
// schedule is open (by its hours or an open override) it is closed until
// cleared; a closed override in force is cleared (mode none); otherwise
// (closed by hours or a holiday) it is opened until cleared.
func (s *Schedule) Toggle(now time.Time) Override {
	if s.Override.ActiveAt(now) && s.Override.Mode == ModeClosed {
		return Override{Mode: ModeNone}
	}
	if s.StateAt(now).Status == StatusOpen {
		return Override{Mode: ModeClosed}
	}
	return Override{Mode: ModeOpen}
}
