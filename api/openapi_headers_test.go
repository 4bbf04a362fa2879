package api_test

import (
	"strconv"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/api"
)

// TestOpenAPIHeadersAsSent compares the response headers the document gives
// each answer with the headers really sent: Location, ETag and X-Request-Id
// are documented exactly where they are sent, Idempotent-Replayed at least
// wherever a replay sends it.
func TestOpenAPIHeadersAsSent(t *testing.T) {
	e := newEnv(t)
	oapi := api.OpenAPI()
	check := func(docPath string, method string, r resp) {
		t.Helper()
		item := oapi.Paths[docPath]
		var op *huma.Operation
		switch method {
		case "GET":
			op = item.Get
		case "POST":
			op = item.Post
		case "PATCH":
			op = item.Patch
		case "DELETE":
			op = item.Delete
		}
		doc := op.Responses[strconv.Itoa(r.status)]
		if doc == nil {
			t.Errorf("%s %s: %d is not documented", method, docPath, r.status)
			return
		}
		for _, h := range []string{"Location", "ETag", "X-Request-Id", "Idempotent-Replayed"} {
			sent := r.header.Get(h) != ""
			_, documented := doc.Headers[h]
			if sent && !documented {
				t.Errorf("%s %s %d: %s sent, not documented", method, docPath, r.status, h)
			}
			if documented && !sent && h != "Idempotent-Replayed" {
				t.Errorf("%s %s %d: %s documented, not sent", method, docPath, r.status, h)
			}
		}
	}

	body := map[string]any{"number": "1001", "name": "Ann"}
	created := e.do("POST", "/v1/extensions", adminKey, body, "Idempotency-Key", "headers-1001")
	if created.status != 201 {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	check("/v1/extensions", "POST", created)
	replayed := e.do("POST", "/v1/extensions", adminKey, body, "Idempotency-Key", "headers-1001")
	if replayed.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %v", replayed.header)
	}
	check("/v1/extensions", "POST", replayed)
	id := created.json(t)["id"].(string)
	etag := created.header.Get("ETag")

	check("/v1/extensions", "GET", e.do("GET", "/v1/extensions?limit=1", adminKey, nil))
	check("/v1/extensions/{id}", "GET", e.do("GET", "/v1/extensions/"+id, adminKey, nil))
	check("/v1/extensions/{id}", "GET", e.do("GET", "/v1/extensions/ext_none", adminKey, nil))
	check("/v1/extensions/{id}", "PATCH", e.do("PATCH", "/v1/extensions/"+id, adminKey, map[string]any{"name": "Ann Lee"}, "If-Match", etag))
	check("/v1/extensions/{id}", "PATCH", e.do("PATCH", "/v1/extensions/"+id, adminKey, map[string]any{"name": "Bo"}, "If-Match", etag))
	check("/v1/extensions/{id}", "PATCH", e.do("PATCH", "/v1/extensions/"+id, adminKey, map[string]any{"name": 7}))
	check("/v1/extensions/{id}/rotate-sip-password", "POST", e.do("POST", "/v1/extensions/"+id+"/rotate-sip-password", adminKey, nil))
	check("/v1/extensions", "GET", e.do("GET", "/v1/extensions", "", nil))
	check("/v1/extensions", "POST", e.do("POST", "/v1/extensions", adminKey, "{"))
	check("/v1/extensions/{id}", "DELETE", e.do("DELETE", "/v1/extensions/"+id, adminKey, nil))
}
