package b2bua

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func timerRequest(headers ...string) *sip.Request {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "200", Host: "pbx.test"})
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.AppendHeader(sip.NewHeader(name, strings.TrimSpace(value)))
	}
	return req
}

func TestParseSessionExpires(t *testing.T) {
	for _, tc := range []struct {
		in        string
		ok        bool
		secs      int
		refresher string
	}{
		{"1800", true, 1800, ""},
		{"1800;refresher=uac", true, 1800, "uac"},
		{" 90 ; refresher = UAS ", true, 90, "uas"},
		{"600;refresher=bogus;x=y", true, 600, ""},
		{"", false, 0, ""},
		{"abc", false, 0, ""},
		{"0", false, 0, ""},
		{"-5", false, 0, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			se, ok := parseSessionExpires(tc.in)
			if ok != tc.ok || se.secs != tc.secs || se.refresher != tc.refresher {
				t.Fatalf("got %+v %v, want %d %q %v", se, ok, tc.secs, tc.refresher, tc.ok)
			}
		})
	}
}

// RFC 4028 §9: what the PBX answers to a request it receives.
func TestAnswerTerms(t *testing.T) {
	minSE := 90 * time.Second
	for _, tc := range []struct {
		name    string
		headers []string
		want    sessionTerms
		out     []string // headers of the 2xx
	}{
		{"no session timer", nil, sessionTerms{}, nil},
		{"supported, uac chosen", []string{"Supported: timer", "Session-Expires: 1800"},
			sessionTerms{interval: 1800 * time.Second, require: true}, []string{"Session-Expires: 1800;refresher=uac", "Require: timer"}},
		{"supported, uas asked", []string{"Supported: 100rel, timer", "Session-Expires: 300;refresher=uas"},
			sessionTerms{interval: 300 * time.Second, weRefresh: true, require: true}, []string{"Session-Expires: 300;refresher=uas", "Require: timer"}},
		{"compact forms", []string{"k: timer", "x: 120;refresher=uac"},
			sessionTerms{interval: 120 * time.Second, require: true}, []string{"Session-Expires: 120;refresher=uac", "Require: timer"}},
		{"not supported: the PBX refreshes", []string{"Session-Expires: 1800;refresher=uac"},
			sessionTerms{interval: 1800 * time.Second, weRefresh: true}, []string{"Session-Expires: 1800;refresher=uas"}},
		{"at Min-SE", []string{"Supported: timer", "Session-Expires: 90"},
			sessionTerms{interval: 90 * time.Second, require: true}, []string{"Session-Expires: 90;refresher=uac", "Require: timer"}},
		{"below Min-SE", []string{"Supported: timer", "Session-Expires: 89"}, sessionTerms{tooBrief: true}, nil},
		{"malformed: ignored", []string{"Supported: timer", "Session-Expires: soon"}, sessionTerms{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := answerTerms(timerRequest(tc.headers...), minSE)
			if got != tc.want {
				t.Fatalf("terms %+v, want %+v", got, tc.want)
			}
			var out []string
			for _, h := range got.headers() {
				out = append(out, h.Name()+": "+h.Value())
			}
			if strings.Join(out, "|") != strings.Join(tc.out, "|") {
				t.Fatalf("headers %q, want %q", out, tc.out)
			}
		})
	}
}

// RFC 4028 §7.2: the 2xx to a request the PBX sent.
func TestOfferTerms(t *testing.T) {
	for _, tc := range []struct {
		name string
		se   string
		ok   bool
		want sessionTerms
	}{
		{"no timer", "", false, sessionTerms{}},
		{"we refresh", "1800;refresher=uac", true, sessionTerms{interval: 1800 * time.Second, weRefresh: true}},
		{"they refresh", "600;refresher=uas", true, sessionTerms{interval: 600 * time.Second}},
		{"no refresher: we refresh", "600", true, sessionTerms{interval: 600 * time.Second, weRefresh: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := sip.NewResponseFromRequest(timerRequest(), 200, "OK", nil)
			if tc.se != "" {
				res.AppendHeader(sip.NewHeader("Session-Expires", tc.se))
			}
			got, ok := offerTerms(res)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// RFC 4028 §10: the expiry without refresh, and what ends a session.
func TestSessionExpiry(t *testing.T) {
	for _, tc := range []struct{ interval, want time.Duration }{
		{1800 * time.Second, 1768 * time.Second},
		{90 * time.Second, 60 * time.Second},
		{3 * time.Second, 2 * time.Second},
	} {
		if got := expiryOf(tc.interval); got != tc.want {
			t.Errorf("expiry of %v: %v, want %v", tc.interval, got, tc.want)
		}
	}
	for _, tc := range []struct {
		code int
		end  bool
	}{{200, false}, {408, true}, {481, true}, {491, false}, {500, false}} {
		res := sip.NewResponseFromRequest(timerRequest(), tc.code, "", nil)
		if got := refreshMustEnd(res, nil); got != tc.end {
			t.Errorf("refresh answered %d: end %v, want %v", tc.code, got, tc.end)
		}
	}
	if !refreshMustEnd(nil, errTest) {
		t.Error("a refresh without answer must end the session")
	}
}

var errTest = errors.New("no answer")

func TestSupportsAndAllows(t *testing.T) {
	req := timerRequest("Supported: replaces, TIMER", "Allow: INVITE, ACK, update")
	if !supportsTimer(req) || !allowsUpdate(req) {
		t.Fatal("timer support or UPDATE not seen")
	}
	if req := timerRequest("Supported: replaces", "Allow: INVITE, BYE"); supportsTimer(req) || allowsUpdate(req) {
		t.Fatal("timer support or UPDATE seen where there is none")
	}
}
