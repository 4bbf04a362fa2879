package auth

import (
	"testing"

	"github.com/icholy/digest"
)

// reference is what digest.ParseCredentials, the parser used before,
// reads from s.
func reference(s string) (credentials, bool) {
	c, err := digest.ParseCredentials(s)
	if err != nil {
		return credentials{}, false
	}
	return credentials{username: c.Username, realm: c.Realm, nonce: c.Nonce, uri: c.URI, response: c.Response,
		algorithm: c.Algorithm, cnonce: c.Cnonce, qop: c.QOP, nc: c.Nc}, true
}

var credentialCases = []struct {
	name   string
	header string
	ok     bool
}{
	{"typical", `Digest username="1001", realm="pbx.test", nonce="abc", uri="sip:pbx.test", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="c0ffee", qop=auth, nc=00000001`, true},
	{"lower-case scheme, quoted qop and nc", `digest username="a",realm="r",qop="auth",nc="0000000a"`, true},
	{"sha-256 and extra spaces", `Digest   username = "bob" ,  algorithm = SHA-256 , nc=ff   `, true},
	{"escapes", `Digest username="a\"b\\c", realm="p\bx"`, true},
	{"not utf-8 in a quoted value", "Digest username=\"a\xffb\", realm=\"r\"", true},
	{"utf-8 in a quoted value", `Digest username="jürgen"`, true},
	{"unknown and empty keys", `Digest opaque="x", userhash=true, ="y", username="u"`, true},
	{"duplicate keys: the last wins", `Digest username="a", username="b"`, true},
	{"nothing after the scheme", `Digest `, true},
	{"negative nc", `Digest nc=-1`, true},
	{"no scheme", `Basic dXNlcjpwYXNz`, false},
	{"scheme without space", `Digest`, false},
	{"tab after the scheme", "Digest\tusername=\"a\"", false},
	{"trailing comma", `Digest username="a",`, false},
	{"missing comma", `Digest username="a" realm="r"`, false},
	{"unterminated quote", `Digest username="a`, false},
	{"unquoted uri", `Digest uri=sip:pbx.test`, false},
	{"bad nc", `Digest nc=zz`, false},
	{"nc too large", `Digest nc=100000000`, false},
	{"missing equals", `Digest username`, false},
	{"tab between params", "Digest username=\"a\",\trealm=\"r\"", false},
}

func TestParseCredentialsMatchesReference(t *testing.T) {
	for _, tc := range credentialCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseCredentials(tc.header)
			want, wantOK := reference(tc.header)
			if ok != tc.ok || wantOK != tc.ok {
				t.Fatalf("accepted %v, reference %v, want %v", ok, wantOK, tc.ok)
			}
			if got != want {
				t.Fatalf("read %+v, reference %+v", got, want)
			}
		})
	}
}

func TestParseCredentialsAllocates(t *testing.T) {
	h := credentialCases[0].header
	if n := testing.AllocsPerRun(100, func() { parseCredentials(h) }); n != 0 {
		t.Fatalf("%v allocations per header", n)
	}
}

func FuzzParseCredentials(f *testing.F) {
	for _, tc := range credentialCases {
		f.Add(tc.header)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseCredentials(s)
		want, wantOK := reference(s)
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("%q: read %+v (%v), reference %+v (%v)", s, got, ok, want, wantOK)
		}
	})
}

func BenchmarkParseCredentials(b *testing.B) {
	h := credentialCases[0].header
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			parseCredentials(h)
		}
	})
	b.Run("icholy-digest", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = digest.ParseCredentials(h)
		}
	})
}
