// Command scenario drives a Dialtone server through the Go client that
// oapi-codegen generates, with its default options, from openapi.yaml: create
// an extension, list it in pages, PATCH it with If-Match, see a stale If-Match
// refused with 412, and subscribe a webhook.
//
// The client is not kept in the repository: check.sh generates it into
// goclient/ of a copy of this module, then builds and runs this program.
//
//	scenario -dialtone ./dialtone    starts `dialtone serve` on free loopback
//	                                 ports in a temporary data directory
//	scenario -url URL -key KEY       uses a running server
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/dialtone-pbx/dialtone/interop/openapi/go/goclient"
)

func main() {
	binary := flag.String("dialtone", "", "dialtone binary to start a server with")
	url := flag.String("url", "", "URL of a running server (instead of -dialtone)")
	key := flag.String("key", "", "admin API key of the running server")
	flag.Parse()
	if err := run(*binary, *url, *key); err != nil {
		fmt.Fprintln(os.Stderr, "scenario:", err)
		os.Exit(1)
	}
	fmt.Println("scenario: ok")
}

func run(binary, url, key string) error {
	if url == "" {
		if binary == "" {
			return errors.New("give -dialtone or -url and -key")
		}
		key = "scenario-admin-key-" + fmt.Sprint(time.Now().UnixNano())
		stop, u, err := startServer(binary, key)
		if err != nil {
			return err
		}
		defer stop()
		url = u
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := goclient.NewClientWithResponses(url, goclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+key)
		return nil
	}))
	if err != nil {
		return err
	}
	return scenario(ctx, c)
}

func scenario(ctx context.Context, c *goclient.ClientWithResponses) error {
	// Create with only number and name; everything else takes its default.
	name := "Ann Lee"
	idem := "scenario-create-2001"
	created, err := c.CreateExtensionWithResponse(ctx, &goclient.CreateExtensionParams{IdempotencyKey: &idem},
		goclient.CreateExtensionJSONRequestBody{Number: "2001", Name: &name})
	if err != nil {
		return err
	}
	if created.JSON201 == nil {
		return fmt.Errorf("create extension: %d %s", created.StatusCode(), created.Body)
	}
	ext := created.JSON201
	etag := created.HTTPResponse.Header.Get("ETag")
	if ext.Number != "2001" || ext.Language != "en" || !ext.Enabled || ext.SipPassword == "" || etag == "" ||
		created.HTTPResponse.Header.Get("Location") != "/v1/extensions/"+ext.Id {
		return fmt.Errorf("create extension: unexpected answer %s (ETag %q)", created.Body, etag)
	}
	fmt.Printf("created %s (%s), ETag %s\n", ext.Id, ext.Number, etag)

	// The same Idempotency-Key and body answer the first response again.
	again, err := c.CreateExtensionWithResponse(ctx, &goclient.CreateExtensionParams{IdempotencyKey: &idem},
		goclient.CreateExtensionJSONRequestBody{Number: "2001", Name: &name})
	if err != nil {
		return err
	}
	if again.JSON201 == nil || again.JSON201.Id != ext.Id || again.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" {
		return fmt.Errorf("replayed create: %d %s", again.StatusCode(), again.Body)
	}

	// Two more, then read all three in pages of two.
	for _, n := range []string{"2002", "2003"} {
		r, err := c.CreateExtensionWithResponse(ctx, nil, goclient.CreateExtensionJSONRequestBody{Number: n})
		if err != nil {
			return err
		}
		if r.JSON201 == nil {
			return fmt.Errorf("create extension %s: %d %s", n, r.StatusCode(), r.Body)
		}
	}
	var numbers []string
	limit := int64(2)
	params := &goclient.ListExtensionsParams{Limit: &limit}
	for pages := 0; ; pages++ {
		if pages == 3 {
			return errors.New("list extensions: more pages than expected")
		}
		page, err := c.ListExtensionsWithResponse(ctx, params)
		if err != nil {
			return err
		}
		if page.JSON200 == nil {
			return fmt.Errorf("list extensions: %d %s", page.StatusCode(), page.Body)
		}
		for _, e := range page.JSON200.Items {
			numbers = append(numbers, e.Number)
		}
		if page.JSON200.NextCursor == nil {
			break
		}
		params.Cursor = page.JSON200.NextCursor
	}
	if strings.Join(numbers, ",") != "2001,2002,2003" {
		return fmt.Errorf("list extensions in pages of 2: %v", numbers)
	}
	fmt.Printf("listed %v in pages of %d\n", numbers, limit)

	// A merge patch of one field, guarded by the ETag just read.
	renamed := "Ann Smith"
	patched, err := c.UpdateExtensionWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, ext.Id,
		&goclient.UpdateExtensionParams{IfMatch: &etag}, goclient.ExtensionPatch{Name: &renamed})
	if err != nil {
		return err
	}
	if patched.JSON200 == nil || patched.JSON200.Name != renamed || patched.JSON200.Timezone != ext.Timezone {
		return fmt.Errorf("patch with If-Match: %d %s", patched.StatusCode(), patched.Body)
	}
	newETag := patched.HTTPResponse.Header.Get("ETag")
	fmt.Printf("patched name with If-Match %s, ETag now %s\n", etag, newETag)

	// The old ETag is stale now: 412, as problem+json.
	other := "Someone Else"
	stale, err := c.UpdateExtensionWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, ext.Id,
		&goclient.UpdateExtensionParams{IfMatch: &etag}, goclient.ExtensionPatch{Name: &other})
	if err != nil {
		return err
	}
	if stale.StatusCode() != http.StatusPreconditionFailed || stale.ApplicationproblemJSON412 == nil {
		return fmt.Errorf("patch with a stale If-Match: %d %s", stale.StatusCode(), stale.Body)
	}
	fmt.Printf("stale If-Match refused: %d %s\n", stale.StatusCode(), deref(stale.ApplicationproblemJSON412.Detail))
	got, err := c.GetExtensionWithResponse(ctx, ext.Id)
	if err != nil {
		return err
	}
	if got.JSON200 == nil || got.JSON200.Name != renamed || got.HTTPResponse.Header.Get("ETag") != newETag {
		return fmt.Errorf("read after the refused patch: %d %s", got.StatusCode(), got.Body)
	}

	// A webhook subscription; its secret is in this answer only.
	desc := "scenario"
	hook, err := c.CreateWebhookWithResponse(ctx, nil, goclient.CreateWebhookJSONRequestBody{
		Url: "http://127.0.0.1:9/dialtone", EventTypes: []string{"extension.*", "call.ended"}, Description: &desc})
	if err != nil {
		return err
	}
	if hook.JSON201 == nil || hook.JSON201.Secret == "" || !hook.JSON201.Enabled ||
		hook.HTTPResponse.Header.Get("Location") != "/v1/webhooks/"+hook.JSON201.Id {
		return fmt.Errorf("create webhook: %d %s", hook.StatusCode(), hook.Body)
	}
	fmt.Printf("created webhook %s for %v\n", hook.JSON201.Id, hook.JSON201.EventTypes)
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// startServer runs `dialtone serve` on free loopback ports with a temporary
// data directory and waits until it is ready. stop ends it and removes the
// directory.
func startServer(binary, key string) (stop func(), url string, err error) {
	dir, err := os.MkdirTemp("", "dialtone-scenario-")
	if err != nil {
		return nil, "", err
	}
	httpAddr, err := freeTCP()
	if err != nil {
		return nil, "", err
	}
	sipAddr, err := freeSIP()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(binary, "serve", "--data", dir, "--http", httpAddr, "--sip", sipAddr,
		"--rtp-ports", "47000-47100", "--domain", "pbx.test", "--allow-private-webhooks", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "DIALTONE_ADMIN_KEY="+key)
	logFile, err := os.Create(dir + "/serve.log")
	if err != nil {
		return nil, "", err
	}
	defer logFile.Close()
	logs := func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }
	cmd.Stdout, cmd.Stderr = io.Discard, logFile
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}
	url = "http://" + httpAddr
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if res, err := http.Get(url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				fmt.Printf("dialtone serve ready on %s (SIP %s, data %s)\n", httpAddr, sipAddr, dir)
				return stop, url, nil
			}
		}
		select {
		case err := <-done:
			out := logs()
			os.RemoveAll(dir)
			return nil, "", fmt.Errorf("dialtone serve exited: %v\n%s", err, out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	out := logs()
	stop()
	return nil, "", fmt.Errorf("dialtone serve not ready\n%s", out)
}

func freeTCP() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// freeSIP returns a loopback address whose port is free for UDP and TCP.
func freeSIP() (string, error) {
	for range 20 {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := udp.LocalAddr().String()
		tcp, err := net.Listen("tcp", addr)
		udp.Close()
		if err == nil {
			tcp.Close()
			return addr, nil
		}
	}
	return "", errors.New("no free port for SIP")
}
