package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// Interop tests run real third-party SIP clients against the PBX. They skip
// when the client is not installed, unless DIALTONE_INTEROP=1 (as in CI),
// where a missing client is a failure.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("DIALTONE_INTEROP") == "1" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed (set DIALTONE_INTEROP=1 to require it)", name)
	}
	return path
}

const pcapA = "/usr/share/sip-tester/g711a.pcap"

func sippScenario(name string) string {
	p, _ := filepath.Abs(filepath.Join("..", "..", "interop", "sipp", name))
	return p
}

// sipp runs one sipp to completion and fails the test on a non-zero exit.
func sipp(t *testing.T, ctx context.Context, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "sipp", append(args, "-nostdin")...).CombinedOutput()
	if err != nil {
		t.Fatalf("sipp %s: %v\n%s", strings.Join(args, " "), err, tail(out, 3000))
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// defaultDigest sets the digest algorithms of --digest-algorithms' default,
// read from the flag's tag, so a test runs the server as an operator who
// left the flag alone does.
func defaultDigest(c *serveCmd) {
	f, ok := reflect.TypeFor[serveCmd]().FieldByName("Digest")
	if !ok {
		panic("serveCmd has no Digest flag")
	}
	c.Digest = strings.Split(f.Tag.Get("default"), ",")
}

// TestInteropSipp: two sipp instances register with digest; one places calls
// with PCMA audio from a capture, the other answers and echoes RTP. The
// callee runs over UDP, then over TCP (the caller stays on UDP).
func TestInteropSipp(t *testing.T) {
	requireTool(t, "sipp")
	if _, err := os.Stat(pcapA); err != nil {
		t.Fatalf("%s missing: %v", pcapA, err)
	}
	tests := []struct {
		name      string
		transport string // sipp -t for the callee
		calls     int
		port      int
	}{
		{"callee on udp", "u1", 40, 25070},
		{"callee on tcp", "t1", 10, 25270},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSippCalls(t, tt.transport, tt.calls, tt.port)
		})
	}
}

func runSippCalls(t *testing.T, calleeTransport string, calls, port int) {
	p := startPBX(t, 60*time.Second, defaultDigest)
	caller := p.extension("1001", map[string]any{"sip_password": "interop-caller-pw"})
	callee := p.extension("1002", map[string]any{"sip_password": "interop-callee-pw"})
	dir := t.TempDir()
	callerCSV := writeFile(t, dir, "caller.csv", "SEQUENTIAL\n1001;\n")
	calleeCSV := writeFile(t, dir, "callee.csv", "SEQUENTIAL\n1002;\n")
	pbxAddr := p.sip.String()
	calleePort, callerPort := fmt.Sprint(port), fmt.Sprint(port+10)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	sipp(t, ctx, pbxAddr, "-t", calleeTransport, "-sf", sippScenario("register.xml"), "-inf", calleeCSV,
		"-au", callee.Number, "-ap", callee.SIPPassword, "-i", "127.0.0.3", "-p", calleePort, "-m", "1", "-timeout", "10")
	sipp(t, ctx, pbxAddr, "-sf", sippScenario("register.xml"), "-inf", callerCSV, "-au", caller.Number, "-ap", caller.SIPPassword,
		"-i", "127.0.0.2", "-p", callerPort, "-m", "1", "-timeout", "10")
	var regs struct {
		Items []struct {
			UserAgent string `json:"user_agent"`
			Transport string `json:"transport"`
		}
	}
	p.call("GET", "/v1/extensions/"+callee.ID+"/registrations", nil, &regs)
	wantTransport := map[string]string{"u1": "UDP", "t1": "TCP"}[calleeTransport]
	if len(regs.Items) != 1 || regs.Items[0].UserAgent != "sipp" || regs.Items[0].Transport != wantTransport {
		t.Fatalf("callee registrations: %+v", regs)
	}

	uas := exec.CommandContext(ctx, "sipp", "-t", calleeTransport, "-sf", sippScenario("uas.xml"), "-i", "127.0.0.3", "-p", calleePort,
		"-mp", "26000", "-rtp_echo", "-m", fmt.Sprint(calls), "-nostdin", "-timeout", "100")
	var uasOut strings.Builder
	uas.Stdout, uas.Stderr = &uasOut, &uasOut
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	sipp(t, ctx, pbxAddr, "-sf", sippScenario("uac.xml"), "-s", callee.Number, "-inf", callerCSV,
		"-au", caller.Number, "-ap", caller.SIPPassword, "-i", "127.0.0.2", "-p", callerPort, "-mp", "26100",
		"-m", fmt.Sprint(calls), "-r", "10", "-l", fmt.Sprint(calls), "-d", "2000", "-timeout", "90")
	if err := uas.Wait(); err != nil {
		t.Fatalf("answering sipp: %v\n%s", err, tail([]byte(uasOut.String()), 3000))
	}

	var list struct {
		Items []callRecord
	}
	p.call("GET", "/v1/call-records?limit=500", nil, &list)
	if len(list.Items) != calls {
		t.Fatalf("%d call records, want %d", len(list.Items), calls)
	}
	for _, r := range list.Items {
		if r.Disposition != "answered" || r.HangupBy != "caller" || r.Media.Callee.Codec != "PCMA" ||
			r.Media.Caller.PacketsIn < 50 || r.Media.Callee.PacketsIn < 50 {
			t.Fatalf("call record: %+v", r)
		}
	}
}

// TestInteropBaresip: baresip registers with its own config; a test phone
// calls it, baresip answers by itself and loops what it hears back, so the
// caller hears its own tone through baresip.
func TestInteropBaresip(t *testing.T) {
	requireTool(t, "baresip")
	// baresip 1.0 (libre 1.x) aborts on any SHA-256 challenge, even listed
	// after an MD5 one: the server's default settings must serve it.
	p := startPBX(t, 60*time.Second, defaultDigest)
	soft := p.extension("1003", map[string]any{"sip_password": "interop-baresip-pw"})
	caller := p.phone(p.extension("1004", nil), 600, siptest.AnswerNow, "PCMU")
	dir := t.TempDir()
	writeFile(t, dir, "config", strings.Join([]string{
		"poll_method epoll",
		"sip_listen 127.0.0.1:25090",
		"audio_player aubridge,loop",
		"audio_source aubridge,loop",
		"audio_alert aubridge,loop",
		"module_path /usr/lib/baresip/modules",
		"module g711.so",
		"module aubridge.so",
		"module_app account.so",
		"module_app menu.so",
		"",
	}, "\n"))
	writeFile(t, dir, "accounts", fmt.Sprintf("<sip:%s@%s>;auth_pass=%s;regint=60;answermode=auto;audio_codecs=PCMU\n",
		soft.Number, p.sip, soft.SIPPassword))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bs := exec.CommandContext(ctx, "baresip", "-f", dir, "-n", "127.0.0.1", "-t", "40")
	var out strings.Builder
	bs.Stdout, bs.Stderr = &out, &out
	if err := bs.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bs.Process.Kill(); _ = bs.Wait() }()

	deadline := time.Now().Add(15 * time.Second)
	registered := false
	for !registered && time.Now().Before(deadline) {
		var regs struct {
			Items []struct {
				UserAgent string `json:"user_agent"`
			}
		}
		p.call("GET", "/v1/extensions/"+soft.ID+"/registrations", nil, &regs)
		registered = len(regs.Items) == 1 && strings.HasPrefix(regs.Items[0].UserAgent, "baresip")
		time.Sleep(100 * time.Millisecond)
	}
	if !registered {
		t.Fatalf("baresip did not register\n%s", tail([]byte(out.String()), 3000))
	}
	cctx, ccancel := within(20 * time.Second)
	defer ccancel()
	c, err := caller.Dial(cctx, soft.Number)
	if err != nil {
		t.Fatalf("call baresip: %v\n%s", err, tail([]byte(out.String()), 3000))
	}
	if !c.WaitHears(cctx, 600) {
		t.Fatalf("the caller does not hear its tone looped back through baresip (%d packets)", c.PacketsReceived())
	}
	if err := c.Hangup(cctx); err != nil {
		t.Fatal(err)
	}
	if rec := p.lastRecord(); rec.Disposition != "answered" || rec.Media.Callee.PacketsIn < 20 {
		t.Fatalf("record: %+v", rec)
	}
}

// TestInteropSippCarrier: sipp plays a carrier on an IP trunk and delivers
// calls to a number routed to an extension, which a registered sipp answers.
func TestInteropSippCarrier(t *testing.T) {
	requireTool(t, "sipp")
	calls := 40 // DIALTONE_CARRIER_CALLS raises it for a load run
	if n, err := strconv.Atoi(os.Getenv("DIALTONE_CARRIER_CALLS")); err == nil && n > 0 && n <= 500 {
		calls = n
	}
	p := startPBX(t, 60*time.Second)
	callee := p.extension("1002", map[string]any{"sip_password": "interop-callee-pw"})
	var trunk struct{ ID string }
	if code := p.call("POST", "/v1/trunks", map[string]any{"name": "sipp carrier", "host": "127.0.0.9", "port": 25390, "auth_mode": "ip",
		"allowed_cidrs": []string{"127.0.0.9/32"}}, &trunk); code != 201 {
		t.Fatalf("create trunk: %d", code)
	}
	var number struct{ ID string }
	if code := p.call("POST", "/v1/numbers", map[string]any{"number": "+14155550100", "trunk_id": trunk.ID,
		"route": map[string]any{"type": "extension", "extension_id": callee.ID}}, &number); code != 201 {
		t.Fatalf("create number: %d", code)
	}
	dir := t.TempDir()
	calleeCSV := writeFile(t, dir, "callee.csv", "SEQUENTIAL\n1002;\n")
	carrierCSV := writeFile(t, dir, "carrier.csv", "SEQUENTIAL\n+12125550123;\n")
	pbxAddr := p.sip.String()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sipp(t, ctx, pbxAddr, "-sf", sippScenario("register.xml"), "-inf", calleeCSV, "-au", callee.Number, "-ap", callee.SIPPassword,
		"-i", "127.0.0.3", "-p", "25370", "-m", "1", "-timeout", "10")
	uas := exec.CommandContext(ctx, "sipp", "-sf", sippScenario("uas.xml"), "-i", "127.0.0.3", "-p", "25370",
		"-mp", "26200", "-rtp_echo", "-m", fmt.Sprint(calls), "-nostdin", "-timeout", "100")
	var uasOut strings.Builder
	uas.Stdout, uas.Stderr = &uasOut, &uasOut
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	sipp(t, ctx, pbxAddr, "-sf", sippScenario("carrier-uac.xml"), "-s", "+14155550100", "-inf", carrierCSV,
		"-i", "127.0.0.9", "-p", "25390", "-mp", "26300", "-m", fmt.Sprint(calls), "-r", "20", "-l", fmt.Sprint(calls),
		"-d", "2000", "-timeout", "90")
	if err := uas.Wait(); err != nil {
		t.Fatalf("answering sipp: %v\n%s", err, tail([]byte(uasOut.String()), 3000))
	}
	var list struct {
		Items []struct {
			Direction   string `json:"direction"`
			FromNumber  string `json:"from_number"`
			ToNumber    string `json:"to_number"`
			TrunkID     string `json:"trunk_id"`
			NumberID    string `json:"number_id"`
			Disposition string `json:"disposition"`
		}
	}
	p.call("GET", "/v1/call-records?limit=500", nil, &list)
	if len(list.Items) != calls {
		t.Fatalf("%d call records, want %d", len(list.Items), calls)
	}
	for _, r := range list.Items {
		if r.Direction != "inbound" || r.TrunkID != trunk.ID || r.NumberID != number.ID || r.ToNumber != "+14155550100" ||
			r.FromNumber != "+12125550123" || r.Disposition != "answered" {
			t.Fatalf("record: %+v", r)
		}
	}

	// The carrier answers outbound calls: a registered sipp extension dials out through a route.
	const outCalls = 20
	caller := p.extension("1001", map[string]any{"sip_password": "interop-caller-pw", "outbound_caller_id": "+14155550100"})
	if code := p.call("POST", "/v1/outbound-routes", map[string]any{"name": "national", "patterns": []string{"9|NXXNXXXXXX"},
		"prepend": "+1", "trunk_ids": []string{trunk.ID}}, nil); code != 201 {
		t.Fatalf("create route: %d", code)
	}
	callerCSV := writeFile(t, dir, "caller.csv", "SEQUENTIAL\n1001;\n")
	sipp(t, ctx, pbxAddr, "-sf", sippScenario("register.xml"), "-inf", callerCSV, "-au", caller.Number, "-ap", caller.SIPPassword,
		"-i", "127.0.0.2", "-p", "25380", "-m", "1", "-timeout", "10")
	far := exec.CommandContext(ctx, "sipp", "-sf", sippScenario("uas.xml"), "-i", "127.0.0.9", "-p", "25390",
		"-mp", "26400", "-rtp_echo", "-m", fmt.Sprint(outCalls), "-nostdin", "-timeout", "100")
	var farOut strings.Builder
	far.Stdout, far.Stderr = &farOut, &farOut
	if err := far.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	sipp(t, ctx, pbxAddr, "-sf", sippScenario("uac.xml"), "-s", "92125550123", "-inf", callerCSV,
		"-au", caller.Number, "-ap", caller.SIPPassword, "-i", "127.0.0.2", "-p", "25380", "-mp", "26500",
		"-m", fmt.Sprint(outCalls), "-r", "10", "-l", fmt.Sprint(outCalls), "-d", "2000", "-timeout", "90")
	if err := far.Wait(); err != nil {
		t.Fatalf("carrier sipp: %v\n%s", err, tail([]byte(farOut.String()), 3000))
	}
	var outbound struct {
		Items []struct {
			ToNumber    string `json:"to_number"`
			TrunkID     string `json:"trunk_id"`
			Disposition string `json:"disposition"`
			Media       struct {
				Callee struct {
					PacketsIn int `json:"packets_in"`
				} `json:"callee"`
			} `json:"media"`
		}
	}
	p.call("GET", "/v1/call-records?direction=outbound&limit=500", nil, &outbound)
	if len(outbound.Items) != outCalls {
		t.Fatalf("%d outbound records, want %d", len(outbound.Items), outCalls)
	}
	for _, r := range outbound.Items {
		if r.ToNumber != "+12125550123" || r.TrunkID != trunk.ID || r.Disposition != "answered" || r.Media.Callee.PacketsIn < 50 {
			t.Fatalf("outbound record: %+v", r)
		}
	}
}
