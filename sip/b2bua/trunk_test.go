package b2bua

import (
	"errors"
	"strings"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func challenge(code int, values ...string) *sip.Response {
	res := sip.NewResponse(code, "Challenge")
	name := "WWW-Authenticate"
	if code == sip.StatusProxyAuthRequired {
		name = "Proxy-Authenticate"
	}
	for _, v := range values {
		res.AppendHeader(sip.NewHeader(name, v))
	}
	return res
}

// TestTrunkAuth: a challenge is answered once per nonce, and only for the
// trunk's realm; a repeated challenge or a 403 is refused credentials.
func TestTrunkAuth(t *testing.T) {
	a := `Digest realm="a.test", nonce="n1", algorithm=MD5`
	a2 := `Digest realm="a.test", nonce="n2", algorithm=MD5`
	a2stale := `Digest realm="a.test", nonce="n2", algorithm=MD5, stale=true`
	b := `Digest realm="b.test", nonce="m1", algorithm=MD5`
	tests := []struct {
		name     string
		realm    string
		password bool
		seq      []*sip.Response
		refused  int    // index of the response refused; -1 for none
		realmUse string // realm of the challenge left first, checked on the last answered
	}{
		{"answered once", "", true, []*sip.Response{challenge(401, a)}, -1, "a.test"},
		{"same nonce again", "", true, []*sip.Response{challenge(401, a), challenge(401, a)}, 1, ""},
		{"new nonce, not stale", "", true, []*sip.Response{challenge(407, a), challenge(407, a2)}, 1, ""},
		{"stale nonce", "", true, []*sip.Response{challenge(407, a), challenge(407, a2stale)}, -1, "a.test"},
		{"realm picked", "b.test", true, []*sip.Response{challenge(401, a, b)}, -1, "b.test"},
		{"no challenge for the realm", "c.test", true, []*sip.Response{challenge(401, a, b)}, 0, ""},
		{"no password", "", false, []*sip.Response{challenge(401, a)}, 0, ""},
		{"forbidden", "", true, []*sip.Response{sip.NewResponse(403, "Forbidden")}, 0, ""},
		{"not a challenge", "", true, []*sip.Response{sip.NewResponse(486, "Busy Here")}, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := &TrunkAuth{Realm: tt.realm, HasPassword: tt.password}
			refused := -1
			var last *sip.Response
			for i, res := range tt.seq {
				if err := ta.Check(res); err != nil {
					var te *TrunkAuthError
					var de *sipgo.ErrDialogResponse
					if !errors.As(err, &te) || !errors.As(err, &de) || de.Res.StatusCode != res.StatusCode {
						t.Fatalf("error %v", err)
					}
					refused = i
					break
				}
				last = res
			}
			if refused != tt.refused {
				t.Fatalf("refused at %d, want %d", refused, tt.refused)
			}
			if tt.realmUse != "" {
				name := "WWW-Authenticate"
				if last.StatusCode == sip.StatusProxyAuthRequired {
					name = "Proxy-Authenticate"
				}
				hs := last.GetHeaders(name)
				if len(hs) != 1 || !strings.Contains(hs[0].Value(), `realm="`+tt.realmUse+`"`) {
					t.Fatalf("challenge left: %v", hs)
				}
			}
		})
	}
}
