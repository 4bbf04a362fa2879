package call

import "testing"

func TestLiveQueryTakes(t *testing.T) {
	h := LiveHead{StartedAt: 20, ID: "b", FromNumber: "1001", ToNumber: "1003"}
	for _, tt := range []struct {
		name string
		q    LiveQuery
		want bool
	}{
		{"everything", LiveQuery{}, true},
		{"the limit aside", LiveQuery{Limit: 1}, true},
		{"after an earlier start", LiveQuery{AfterAt: 10, AfterID: "z"}, true},
		{"after a tie, lower ID", LiveQuery{AfterAt: 20, AfterID: "a"}, true},
		{"after itself", LiveQuery{AfterAt: 20, AfterID: "b"}, false},
		{"after a tie, higher ID", LiveQuery{AfterAt: 20, AfterID: "c"}, false},
		{"after a later start", LiveQuery{AfterAt: 30, AfterID: "a"}, false},
		{"from the number", LiveQuery{ByNumber: true, Number: "1001"}, true},
		{"to the number", LiveQuery{ByNumber: true, Number: "1003"}, true},
		{"another number", LiveQuery{ByNumber: true, Number: "1002"}, false},
		{"empty number is a number", LiveQuery{ByNumber: true}, false},
		{"number and cursor", LiveQuery{ByNumber: true, Number: "1003", AfterAt: 30, AfterID: "a"}, false},
	} {
		if got := tt.q.Takes(h); got != tt.want {
			t.Errorf("%s: Takes %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLiveHeadCompare(t *testing.T) {
	for _, tt := range []struct {
		a, b LiveHead
		want int
	}{
		{LiveHead{StartedAt: 10, ID: "z"}, LiveHead{StartedAt: 20, ID: "a"}, -1},
		{LiveHead{StartedAt: 20, ID: "a"}, LiveHead{StartedAt: 20, ID: "b"}, -1},
		{LiveHead{StartedAt: 20, ID: "b", FromNumber: "1"}, LiveHead{StartedAt: 20, ID: "b", ToNumber: "2"}, 0},
		{LiveHead{StartedAt: 30, ID: "a"}, LiveHead{StartedAt: 20, ID: "z"}, 1},
	} {
		if got := tt.a.Compare(tt.b); got != tt.want {
			t.Errorf("%+v against %+v: %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
