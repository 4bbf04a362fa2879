package schedule

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

func TestStateAt(t *testing.T) {
	weekdays := Week{}
	for d := time.Monday; d <= time.Friday; d++ {
		weekdays[d] = []Range{{"09:00", "12:30"}, {"13:30", "17:00"}}
	}
	ny := &Schedule{Name: "ny", TimeZone: "America/New_York", Hours: Week{
		time.Sunday: {{"01:00", "03:00"}, {"22:00", "24:00"}},
	}}
	berlin := &Schedule{Name: "office", TimeZone: "Europe/Berlin", Hours: weekdays, Holidays: []Holiday{
		{Name: "Christmas", Start: "2026-12-24", End: "2026-12-26"},
		{Name: "New Year", Start: "2000-12-31", End: "2000-01-02", Recurring: true},
		{Name: "Labour Day", Date: "1990-05-01", Recurring: true},
		{Name: "Company day", Date: "2026-06-15"},
	}}
	openUntil := &Schedule{Name: "o", TimeZone: "Europe/Berlin", Hours: weekdays, Holidays: berlin.Holidays,
		Override: Override{Mode: ModeOpen, Until: ptr(at("2026-12-25T18:00:00Z"))}}
	closedForever := &Schedule{Name: "c", TimeZone: "Europe/Berlin", Hours: weekdays,
		Override: Override{Mode: ModeClosed}}
	expired := &Schedule{Name: "e", TimeZone: "Europe/Berlin", Hours: weekdays,
		Override: Override{Mode: ModeClosed, Until: ptr(at("2026-03-02T08:00:00Z"))}}

	tests := []struct {
		name    string
		s       *Schedule
		at      string
		status  Status
		reason  string
		holiday string
	}{
		// New York, spring forward on Sunday 2026-03-08: 02:00 EST -> 03:00 EDT.
		{"ny before range", ny, "2026-03-08T05:59:00Z", StatusClosed, "outside open hours", ""},
		{"ny 01:00 EST", ny, "2026-03-08T06:00:00Z", StatusOpen, "open hours sun 01:00-03:00", ""},
		{"ny 01:59 EST", ny, "2026-03-08T06:59:59Z", StatusOpen, "open hours sun 01:00-03:00", ""},
		{"ny one real hour later is 03:00 EDT", ny, "2026-03-08T07:00:00Z", StatusClosed, "outside open hours", ""},
		{"ny late evening to midnight", ny, "2026-03-09T03:59:59Z", StatusOpen, "open hours sun 22:00-24:00", ""},
		{"ny midnight monday", ny, "2026-03-09T04:00:00Z", StatusClosed, "outside open hours", ""},
		// New York, fall back on Sunday 2026-11-01: 02:00 EDT -> 01:00 EST.
		{"ny first 01:30 (EDT)", ny, "2026-11-01T05:30:00Z", StatusOpen, "open hours sun 01:00-03:00", ""},
		{"ny second 01:30 (EST)", ny, "2026-11-01T06:30:00Z", StatusOpen, "open hours sun 01:00-03:00", ""},
		{"ny 02:59 EST", ny, "2026-11-01T07:59:00Z", StatusOpen, "open hours sun 01:00-03:00", ""},
		{"ny 03:00 EST", ny, "2026-11-01T08:00:00Z", StatusClosed, "outside open hours", ""},
		// Berlin, CET in winter, CEST from 2026-03-29.
		{"berlin friday 08:59 CET", berlin, "2026-03-27T07:59:00Z", StatusClosed, "outside open hours", ""},
		{"berlin friday 09:00 CET", berlin, "2026-03-27T08:00:00Z", StatusOpen, "open hours fri 09:00-12:30", ""},
		{"berlin monday 09:00 CEST", berlin, "2026-03-30T07:00:00Z", StatusOpen, "open hours mon 09:00-12:30", ""},
		{"berlin monday 08:00 UTC is 10:00 CEST", berlin, "2026-03-30T08:00:00Z", StatusOpen, "open hours mon 09:00-12:30", ""},
		{"berlin lunch break", berlin, "2026-03-30T11:00:00Z", StatusClosed, "outside open hours", ""},
		{"berlin end is exclusive", berlin, "2026-03-30T15:00:00Z", StatusClosed, "outside open hours", ""},
		{"berlin saturday", berlin, "2026-03-28T10:00:00Z", StatusClosed, "outside open hours", ""},
		// Holidays, by the local date.
		{"holiday range first day, still the 23rd in UTC", berlin, "2026-12-23T23:30:00Z", StatusHoliday, "holiday Christmas", "Christmas"},
		{"holiday range last day", berlin, "2026-12-26T22:59:00Z", StatusHoliday, "holiday Christmas", "Christmas"},
		{"after the holiday range", berlin, "2026-12-28T09:00:00Z", StatusOpen, "open hours mon 09:00-12:30", ""},
		{"one-off range does not recur", berlin, "2027-12-24T09:00:00Z", StatusOpen, "open hours fri 09:00-12:30", ""},
		{"recurring over new year, 31st", berlin, "2026-12-31T10:00:00Z", StatusHoliday, "holiday New Year", "New Year"},
		{"recurring over new year, 1st", berlin, "2027-01-01T10:00:00Z", StatusHoliday, "holiday New Year", "New Year"},
		{"recurring over new year, 2nd", berlin, "2030-01-02T10:00:00Z", StatusHoliday, "holiday New Year", "New Year"},
		{"recurring over new year ends", berlin, "2030-01-03T10:00:00Z", StatusOpen, "open hours thu 09:00-12:30", ""},
		{"recurring over new year not before", berlin, "2026-12-30T10:00:00Z", StatusOpen, "open hours wed 09:00-12:30", ""},
		{"recurring single date", berlin, "2026-05-01T10:00:00Z", StatusHoliday, "holiday Labour Day", "Labour Day"},
		{"one-off single date", berlin, "2026-06-15T10:00:00Z", StatusHoliday, "holiday Company day", "Company day"},
		{"one-off single date next year", berlin, "2027-06-15T10:00:00Z", StatusOpen, "open hours tue 09:00-12:30", ""},
		// Overrides.
		{"override open beats a holiday", openUntil, "2026-12-25T17:59:59Z", StatusOpen, "override open until 2026-12-25T19:00:00+01:00", ""},
		{"override open expired", openUntil, "2026-12-25T18:00:00Z", StatusHoliday, "holiday Christmas", "Christmas"},
		{"override closed without expiry beats hours", closedForever, "2026-03-30T08:00:00Z", StatusClosed, "override closed", ""},
		{"override closed without expiry years on", closedForever, "2036-03-31T08:00:00Z", StatusClosed, "override closed", ""},
		{"override in force before expiry", expired, "2026-03-02T07:59:00Z", StatusClosed, "override closed until 2026-03-02T09:00:00+01:00", ""},
		{"expired override is ignored", expired, "2026-03-02T08:00:00Z", StatusOpen, "open hours mon 09:00-12:30", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.s.StateAt(at(tt.at))
			want := State{Status: tt.status, Reason: tt.reason, Holiday: tt.holiday}
			if got != want {
				t.Fatalf("StateAt(%s) = %+v, want %+v", tt.at, got, want)
			}
		})
	}
}

// openMinutes counts the real minutes the schedule is open between from and to.
func openMinutes(s *Schedule, from, to time.Time) int {
	n := 0
	for t := from; t.Before(to); t = t.Add(time.Minute) {
		if s.StateAt(t).Status == StatusOpen {
			n++
		}
	}
	return n
}

func TestDSTDurations(t *testing.T) {
	sunday := func(tz string, r ...Range) *Schedule {
		return &Schedule{Name: "x", TimeZone: tz, Hours: Week{time.Sunday: r}}
	}
	tests := []struct {
		name     string
		s        *Schedule
		day      string // UTC midnight before the local day, with margin
		minutes  int
		contains []string // instants that must be open
		excludes []string // instants that must be closed
	}{
		{"ny spring forward 01:00-03:00 lasts one hour", sunday("America/New_York", Range{"01:00", "03:00"}), "2026-03-08T00:00:00Z", 60,
			[]string{"2026-03-08T06:00:00Z"}, []string{"2026-03-08T07:00:00Z"}},
		{"ny spring forward 02:00-03:00 never happens", sunday("America/New_York", Range{"02:00", "03:00"}), "2026-03-08T00:00:00Z", 0, nil, nil},
		{"ny fall back 01:00-02:00 happens twice", sunday("America/New_York", Range{"01:00", "02:00"}), "2026-11-01T00:00:00Z", 120,
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T06:59:00Z"}, []string{"2026-11-01T07:00:00Z"}},
		{"ny fall back 01:30-03:00", sunday("America/New_York", Range{"01:30", "03:00"}), "2026-11-01T00:00:00Z", 120,
			[]string{"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"}, []string{"2026-11-01T06:00:00Z", "2026-11-01T06:29:00Z"}},
		{"ny whole day in spring is 23 hours", sunday("America/New_York", Range{"00:00", "24:00"}), "2026-03-08T00:00:00Z", 23 * 60, nil, nil},
		{"ny whole day in autumn is 25 hours", sunday("America/New_York", Range{"00:00", "24:00"}), "2026-11-01T00:00:00Z", 25 * 60, nil, nil},
		{"berlin spring forward 01:00-04:00 lasts two hours", sunday("Europe/Berlin", Range{"01:00", "04:00"}), "2026-03-28T12:00:00Z", 120,
			[]string{"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z"}, []string{"2026-03-29T02:00:00Z"}},
		{"berlin fall back 02:00-03:00 happens twice", sunday("Europe/Berlin", Range{"02:00", "03:00"}), "2026-10-24T12:00:00Z", 120,
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T01:59:00Z"}, []string{"2026-10-25T02:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := at(tt.day)
			if got := openMinutes(tt.s, from, from.Add(48*time.Hour)); got != tt.minutes {
				t.Errorf("open %d minutes, want %d", got, tt.minutes)
			}
			for _, i := range tt.contains {
				if st := tt.s.StateAt(at(i)); st.Status != StatusOpen {
					t.Errorf("%s: %+v, want open", i, st)
				}
			}
			for _, i := range tt.excludes {
				if st := tt.s.StateAt(at(i)); st.Status != StatusClosed {
					t.Errorf("%s: %+v, want closed", i, st)
				}
			}
		})
	}
	// A nonexistent wall time cannot be an instant: no instant of the spring
	// forward day reads 02:xx in New York.
	ny, _ := time.LoadLocation("America/New_York")
	for t0 := at("2026-03-08T04:00:00Z"); t0.Before(at("2026-03-09T04:00:00Z")); t0 = t0.Add(time.Minute) {
		if t0.In(ny).Hour() == 2 {
			t.Fatalf("%s reads 02:xx", t0)
		}
	}
}

func TestToggle(t *testing.T) {
	hours := Week{time.Monday: {{"09:00", "17:00"}}}
	open := at("2026-03-02T10:00:00Z")   // Monday 11:00 in Berlin
	closed := at("2026-03-02T20:00:00Z") // Monday 21:00
	until := at("2026-03-02T23:00:00Z")
	tests := []struct {
		name     string
		override Override
		now      time.Time
		want     Override
	}{
		{"open by hours closes", Override{Mode: ModeNone}, open, Override{Mode: ModeClosed}},
		{"open override closes", Override{Mode: ModeOpen, Until: &until}, closed, Override{Mode: ModeClosed}},
		{"closed override clears", Override{Mode: ModeClosed}, open, Override{Mode: ModeNone}},
		{"closed override with expiry clears", Override{Mode: ModeClosed, Until: &until}, closed, Override{Mode: ModeNone}},
		{"closed by hours opens", Override{Mode: ModeNone}, closed, Override{Mode: ModeOpen}},
		{"expired closed override does not count", Override{Mode: ModeClosed, Until: &open}, closed, Override{Mode: ModeOpen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Schedule{Name: "x", TimeZone: "Europe/Berlin", Hours: hours, Override: tt.override}
			got := s.Toggle(tt.now)
			if got.Mode != tt.want.Mode || got.Until != nil {
				t.Fatalf("Toggle = %+v, want %+v", got, tt.want)
			}
			// Toggling twice more comes back to the schedule's own state.
			s.Override = got
			if st := s.StateAt(tt.now); tt.want.Mode == ModeClosed && st.Status != StatusClosed || tt.want.Mode == ModeOpen && st.Status != StatusOpen {
				t.Fatalf("after toggle state %+v", st)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := func() *Schedule {
		return &Schedule{Name: " Office ", TimeZone: "Europe/Berlin", Hours: Week{time.Monday: {{"13:00", "17:00"}, {"09:00", "12:00"}}},
			Holidays:             []Holiday{{Name: "Xmas", Date: "2026-12-25", Recurring: true}},
			OverrideCode:         "12",
			OverrideExtensionIDs: []core.ExtensionID{"ext_0000000000000001", "ext_0000000000000001"}}
	}
	s := valid()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Name != "Office" || s.Hours[time.Monday][0].Start != "09:00" || s.Override.Mode != ModeNone || len(s.OverrideExtensionIDs) != 1 {
		t.Fatalf("not normalised: %+v", s)
	}
	tests := []struct {
		name   string
		change func(*Schedule)
		fields []string
	}{
		{"no name", func(s *Schedule) { s.Name = " " }, []string{"name"}},
		{"bad zone", func(s *Schedule) { s.TimeZone = "Mars/Olympus" }, []string{"time_zone"}},
		{"local zone", func(s *Schedule) { s.TimeZone = "Local" }, []string{"time_zone"}},
		{"empty zone", func(s *Schedule) { s.TimeZone = "" }, []string{"time_zone"}},
		{"overlap", func(s *Schedule) { s.Hours[time.Monday] = []Range{{"09:00", "12:00"}, {"11:00", "13:00"}} }, []string{"hours.mon[1]"}},
		{"overlap named by position", func(s *Schedule) { s.Hours[time.Friday] = []Range{{"11:00", "13:00"}, {"08:00", "24:00"}} }, []string{"hours.fri[1]"}},
		{"touching is fine", func(s *Schedule) { s.Hours[time.Monday] = []Range{{"09:00", "12:00"}, {"12:00", "13:00"}} }, nil},
		{"start after end", func(s *Schedule) { s.Hours[time.Sunday] = []Range{{"10:00", "09:00"}} }, []string{"hours.sun[0]"}},
		{"empty range", func(s *Schedule) { s.Hours[time.Sunday] = []Range{{"10:00", "10:00"}} }, []string{"hours.sun[0]"}},
		{"24:00 start", func(s *Schedule) { s.Hours[time.Tuesday] = []Range{{"24:00", "24:00"}} }, []string{"hours.tue[0].start"}},
		{"bad end", func(s *Schedule) { s.Hours[time.Saturday] = []Range{{"09:00", "9pm"}} }, []string{"hours.sat[0].end"}},
		{"bad clock", func(s *Schedule) { s.Hours[time.Wednesday] = []Range{{"9:00", "24:01"}} }, []string{"hours.wed[0].start", "hours.wed[0].end"}},
		{"holiday without name", func(s *Schedule) { s.Holidays[0].Name = "" }, []string{"holidays[0].name"}},
		{"holiday bad date", func(s *Schedule) { s.Holidays[0].Date = "2026-02-30" }, []string{"holidays[0].date"}},
		{"holiday both forms", func(s *Schedule) { s.Holidays[0].Start = "2026-12-24" }, []string{"holidays[0].date"}},
		{"holiday no date", func(s *Schedule) { s.Holidays[0].Date = "" }, []string{"holidays[0].date"}},
		{"holiday start only", func(s *Schedule) { s.Holidays[0] = Holiday{Name: "x", Start: "2026-12-24"} }, []string{"holidays[0].end"}},
		{"holiday range backwards", func(s *Schedule) { s.Holidays[0] = Holiday{Name: "x", Start: "2026-12-24", End: "2026-12-01"} }, []string{"holidays[0].end"}},
		{"recurring range may wrap", func(s *Schedule) {
			s.Holidays[0] = Holiday{Name: "x", Start: "2026-12-24", End: "2026-01-01", Recurring: true}
		}, nil},
		{"bad mode", func(s *Schedule) { s.Override.Mode = "auto" }, []string{"override.mode"}},
		{"long code", func(s *Schedule) { s.OverrideCode = "12345" }, []string{"override_code"}},
		{"code not digits", func(s *Schedule) { s.OverrideCode = "1*" }, []string{"override_code"}},
		{"bad extension id", func(s *Schedule) { s.OverrideExtensionIDs = []core.ExtensionID{"ext_0000000000000001", "1001"} }, []string{"override_extension_ids[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.change(s)
			err := s.Validate()
			var v core.ValidationError
			if tt.fields == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &v) || !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("want a validation error, got %v", err)
			}
			var got []string
			for _, f := range v {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.fields) {
				t.Fatalf("fields %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
	none := &Schedule{Name: "x", TimeZone: "UTC", Override: Override{Mode: ModeNone, Until: ptr(at("2026-01-01T00:00:00Z"))}}
	if err := none.Validate(); err != nil || none.Override.Until != nil {
		t.Fatalf("a none override keeps no expiry: %v %+v", err, none.Override)
	}
}
