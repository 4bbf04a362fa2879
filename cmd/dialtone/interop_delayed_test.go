package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// TestInteropSippDelayedOffer: sipp calls with INVITEs without SDP (after a
// digest challenge); the PBX offers in its 200 and takes sipp's answer from
// the ACK (RFC 3261 §13.2.1). sipp then plays PCMA from a capture to a test
// phone, and the phone's tone reaches sipp at the address of that answer.
func TestInteropSippDelayedOffer(t *testing.T) {
	requireTool(t, "sipp")
	if _, err := os.Stat(pcapA); err != nil {
		t.Fatalf("%s missing: %v", pcapA, err)
	}
	const calls = 3
	p := startPBX(t, 60*time.Second, defaultDigest)
	caller := p.extension("1011", map[string]any{"sip_password": "interop-delayed-pw"})
	callee := p.extension("1012", nil)
	phone := p.phone(callee, 1400, siptest.AnswerNow, "PCMA")
	dir := t.TempDir()
	callerCSV := writeFile(t, dir, "caller.csv", "SEQUENTIAL\n1011;\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sipp(t, ctx, p.sip.String(), "-sf", sippScenario("register.xml"), "-inf", callerCSV, "-au", caller.Number,
		"-ap", caller.SIPPassword, "-i", "127.0.0.12", "-p", "25480", "-m", "1", "-timeout", "10")

	heard := make(chan int, calls)
	go func() {
		for range calls {
			in, err := phone.Incoming(ctx)
			if err != nil {
				return
			}
			<-in.HungUp()
			heard <- in.PacketsReceived()
		}
	}()
	sipp(t, ctx, p.sip.String(), "-sf", sippScenario("uac-delayed.xml"), "-s", callee.Number, "-inf", callerCSV,
		"-au", caller.Number, "-ap", caller.SIPPassword, "-i", "127.0.0.12", "-p", "25480", "-mp", "26400",
		"-m", fmt.Sprint(calls), "-r", "1", "-l", "1", "-d", "3000", "-timeout", "60")
	for i := range calls {
		select {
		case n := <-heard:
			if n < 100 {
				t.Fatalf("call %d: the phone received %d RTP packets from sipp", i, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d: the phone was not hung up", i)
		}
	}
	type record struct {
		Disposition string  `json:"disposition"`
		HangupBy    string  `json:"hangup_by"`
		EndedAt     *string `json:"ended_at"`
		Media       struct {
			Caller struct {
				Codec      string `json:"codec"`
				PacketsIn  uint64 `json:"packets_in"`
				PacketsOut uint64 `json:"packets_out"`
			} `json:"caller"`
			Callee struct {
				Codec     string `json:"codec"`
				PacketsIn uint64 `json:"packets_in"`
			} `json:"callee"`
		} `json:"media"`
	}
	var list struct{ Items []record }
	// The phone hears the BYE just before the record is written.
	eventually(5*time.Second, func() bool {
		list.Items = nil
		p.call("GET", "/v1/call-records?limit=50", nil, &list)
		for _, r := range list.Items {
			if r.EndedAt == nil {
				return false
			}
		}
		return len(list.Items) == calls
	})
	if len(list.Items) != calls {
		t.Fatalf("%d call records, want %d", len(list.Items), calls)
	}
	for _, r := range list.Items {
		// Caller.PacketsOut: the phone's audio went to the address of
		// sipp's answer in the ACK.
		if r.Disposition != "answered" || r.HangupBy != "caller" || r.Media.Caller.Codec != "PCMA" || r.Media.Callee.Codec != "PCMA" ||
			r.Media.Caller.PacketsIn < 100 || r.Media.Caller.PacketsOut < 100 || r.Media.Callee.PacketsIn < 100 {
			t.Fatalf("call record: %+v", r)
		}
	}
	t.Logf("%d delayed-offer calls from sipp: answered, audio both ways", calls)
}
