package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks (https://www.standardwebhooks.com) headers, sent with
// every delivery beside Dialtone-Signature, so that the specification's
// libraries verify deliveries as they are.
const (
	StandardIDHeader        = "webhook-id"
	StandardTimestampHeader = "webhook-timestamp"
	StandardSignatureHeader = "webhook-signature"
)

// SecretPrefix starts every signing secret, as the Standard Webhooks
// specification writes them.
const SecretPrefix = "whsec_"

// NewSecret returns a new signing secret in the Standard Webhooks format:
// "whsec_" and the standard base64 (RFC 4648 §4) of 32 random bytes. Those
// bytes are the key of webhook-signature; the whole string, prefix included,
// is the key of Dialtone-Signature.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// StandardKey is the HMAC key webhook-signature uses for a secret: the
// base64 after "whsec_" decoded. Secrets issued before NewSecret wrote the
// standard alphabet are URL-safe base64 without padding; they decode to their
// bytes as well, though receivers' libraries want them rewritten in the
// standard alphabet (or the secret rotated). A secret without the prefix,
// or whose rest is not base64, is used as it is.
func StandardKey(secret string) []byte {
	s, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return []byte(secret)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil && len(key) > 0 {
			return key
		}
	}
	return []byte(secret)
}

// StandardSign returns the webhook-signature value of a delivery: one
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>" per secret, separated by
// spaces (two while a rotated-out secret still signs).
func StandardSign(id string, t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		m := hmac.New(sha256.New, StandardKey(s))
		m.Write([]byte(id))
		m.Write([]byte("."))
		m.Write([]byte(ts))
		m.Write([]byte("."))
		m.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

// setStandardHeaders adds the Standard Webhooks headers of a delivery; id
// is the event's id, the same on every retry of it.
func setStandardHeaders(h http.Header, id string, t time.Time, body []byte, secrets ...string) {
	h.Set(StandardIDHeader, id)
	h.Set(StandardTimestampHeader, strconv.FormatInt(t.Unix(), 10))
	h.Set(StandardSignatureHeader, StandardSign(id, t, body, secrets...))
}
