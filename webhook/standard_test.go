package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/dialtone-pbx/dialtone/core"
)

// legacySecret is a secret as Dialtone issued them before NewSecret: URL-safe
// base64 without padding.
const legacySecret = "whsec_q-8Jp3_Nd2yYV1p5w0sX4bR6tKz9mL7cH2eA0uF3gD1"

// standardReceiver verifies each delivery with the Standard Webhooks Go library.
type standardReceiver struct {
	mu       sync.Mutex
	verifier *standardwebhooks.Webhook
	headers  []http.Header
	errs     []error
}

func (r *standardReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	err := r.verifier.Verify(body, req.Header)
	r.mu.Lock()
	r.headers = append(r.headers, req.Header.Clone())
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TestStandardWebhooksLibraryVerifiesDeliveries sends real deliveries
// through the dispatcher to a receiver that checks them with the official
// library, configured with the secret exactly as the API showed it.
func TestStandardWebhooksLibraryVerifiesDeliveries(t *testing.T) {
	newer := NewSecret()
	tests := []struct {
		name      string
		secret    string // what the hook signs with
		old       string // rotated-out secret still signing, if any
		verifyKey string // what the receiver gives the library
		wantSigs  int
	}{
		{name: "new secret", secret: newer, verifyKey: newer, wantSigs: 1},
		{name: "during rotation, receiver still on the old secret", secret: newer, old: legacySecret,
			verifyKey: "whsec_" + base64.StdEncoding.EncodeToString(StandardKey(legacySecret)), wantSigs: 2},
		{name: "during rotation, receiver on the new secret", secret: newer, old: legacySecret, verifyKey: newer, wantSigs: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.clock = time.Now().UTC() // the library checks the timestamp against its own clock
			verifier, err := standardwebhooks.NewWebhook(tc.verifyKey)
			if err != nil {
				t.Fatal(err)
			}
			recv := &standardReceiver{verifier: verifier}
			srv := httptest.NewServer(recv)
			t.Cleanup(srv.Close)
			h := f.hook
			h.URL, h.Secret = srv.URL+"/hook", core.Secret(tc.secret)
			if tc.old != "" {
				until := f.clock.Add(time.Hour)
				h.OldSecret, h.OldSecretUntil = core.Secret(tc.old), &until
			}
			if err := f.db.UpdateWebhook(context.Background(), h, h.Version); err != nil {
				t.Fatal(err)
			}
			evs := callEvents(1, 2, f.clock)
			if err := f.db.AppendEvents(context.Background(), evs...); err != nil {
				t.Fatal(err)
			}
			f.drain(t, time.Second, 3)
			recv.mu.Lock()
			defer recv.mu.Unlock()
			if len(recv.errs) != len(evs) {
				t.Fatalf("%d deliveries, want %d", len(recv.errs), len(evs))
			}
			for i, err := range recv.errs {
				if err != nil {
					t.Fatalf("delivery %d: the library refused it: %v", i, err)
				}
				hd := recv.headers[i]
				if hd.Get(SignatureHeader) == "" {
					t.Fatalf("delivery %d has no %s", i, SignatureHeader)
				}
				if got := len(strings.Fields(hd.Get(StandardSignatureHeader))); got != tc.wantSigs {
					t.Fatalf("delivery %d: %d signatures in %q, want %d", i, got, hd.Get(StandardSignatureHeader), tc.wantSigs)
				}
				if hd.Get(StandardIDHeader) != hd.Get("Dialtone-Event-Id") {
					t.Fatalf("delivery %d: webhook-id %q is not the event id %q", i, hd.Get(StandardIDHeader), hd.Get("Dialtone-Event-Id"))
				}
			}
		})
	}
}

// TestStandardSignatureRefusals checks that the library refuses deliveries
// signed with another secret or altered on the way.
func TestStandardSignatureRefusals(t *testing.T) {
	secret := NewSecret()
	verifier, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"evt_1","type":"call.created"}`)
	now := time.Now()
	tests := []struct {
		name    string
		secrets []string
		body    []byte
		at      time.Time
		ok      bool
	}{
		{"signed with the secret", []string{secret}, body, now, true},
		{"signed with another secret", []string{NewSecret()}, body, now, false},
		{"the other of two signatures matches", []string{NewSecret(), secret}, body, now, true},
		{"body altered", []string{secret}, append(bytes.Clone(body), ' '), now, false},
		{"timestamp too old", []string{secret}, body, now.Add(-10 * time.Minute), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			setStandardHeaders(h, "evt_1", tc.at, body, tc.secrets...)
			err := verifier.Verify(tc.body, h)
			if (err == nil) != tc.ok {
				t.Fatalf("verify: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestStandardKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb, 0xef, 0x01}, 11)[:32]
	tests := []struct {
		name   string
		secret string
		want   []byte
	}{
		{"standard base64", "whsec_" + base64.StdEncoding.EncodeToString(raw), raw},
		{"standard base64 without padding", "whsec_" + base64.RawStdEncoding.EncodeToString(raw), raw},
		{"URL-safe base64 (secrets issued earlier)", "whsec_" + base64.RawURLEncoding.EncodeToString(raw), raw},
		{"not base64", "whsec_not base64!", []byte("whsec_not base64!")},
		{"no prefix", "s3cret-one", []byte("s3cret-one")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := StandardKey(tc.secret); !bytes.Equal(got, tc.want) {
				t.Fatalf("key %x, want %x", got, tc.want)
			}
		})
	}
}

func TestNewSecretIsStandard(t *testing.T) {
	s := NewSecret()
	if !strings.HasPrefix(s, SecretPrefix) {
		t.Fatalf("secret %q lacks %s", s, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if err != nil || len(key) != 32 {
		t.Fatalf("secret %q: %d key bytes, %v", s, len(key), err)
	}
	if _, err := standardwebhooks.NewWebhook(s); err != nil {
		t.Fatalf("the library refuses the secret: %v", err)
	}
}
