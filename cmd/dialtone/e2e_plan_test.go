package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// Tones of the test prompts: each prompt is a tone of its own, so the
// caller's phone tells which one it hears.
const (
	greetingHz = 700
	closedHz   = 1800
	mohHz      = 500
)

// uploadTone uploads a prompt that is seconds of a tone, as a raw WAV body
// recorded as a CD would be (44.1 kHz, 16-bit, stereo), which the PBX
// converts to 8 kHz mono.
func (p *pbx) uploadTone(name string, hz float64, seconds int) string {
	p.t.Helper()
	req, _ := http.NewRequest("POST", p.api+"/v1/prompts?name="+name, bytes.NewReader(cdWAV(hz, seconds)))
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	req.Header.Set("Content-Type", "audio/wav")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out struct{ ID string }
	if res.StatusCode != 201 || json.Unmarshal(b, &out) != nil || out.ID == "" {
		p.t.Fatalf("upload prompt %s: %d %s", name, res.StatusCode, b)
	}
	return out.ID
}

// cdWAV is seconds of a tone as a 44.1 kHz 16-bit stereo WAV.
func cdWAV(hz float64, seconds int) []byte {
	const rate, channels = 44100, 2
	n := seconds * rate
	data := make([]byte, 0, n*channels*2)
	for i := range n {
		v := int16(9000 * math.Sin(2*math.Pi*hz*float64(i)/rate))
		for range channels {
			data = binary.LittleEndian.AppendUint16(data, uint16(v))
		}
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(channels), uint32(rate), uint32(rate * channels * 2),
		uint16(channels * 2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// create posts a resource and returns its id.
func (p *pbx) create(path string, body map[string]any) string {
	p.t.Helper()
	var out struct{ ID string }
	var raw json.RawMessage
	if code := p.call("POST", path, body, &raw); code != 201 {
		p.t.Fatalf("POST %s: %d %s", path, code, raw)
	}
	_ = json.Unmarshal(raw, &out)
	return out.ID
}

// ipTrunk makes a carrier at ip an IP-authenticated trunk and routes
// number through it to route.
func (p *pbx) ipTrunk(ip, number string, route map[string]any, extra map[string]any) string {
	p.t.Helper()
	trunk := p.create("/v1/trunks", map[string]any{"name": "carrier " + ip, "host": ip, "auth_mode": "ip",
		"allowed_cidrs": []string{ip + "/32"}})
	body := map[string]any{"number": number, "trunk_id": trunk, "route": route}
	for k, v := range extra {
		body[k] = v
	}
	p.create("/v1/numbers", body)
	return trunk
}

type planRecord struct {
	Disposition string `json:"disposition"`
	HangupCause string `json:"hangup_cause"`
	HangupBy    string `json:"hangup_by"`
	PlanPath    []struct {
		Node   string `json:"node"`
		Digits string `json:"digits"`
		Result string `json:"result"`
	} `json:"plan_path"`
}

func (p *pbx) lastPlanRecord() planRecord {
	p.t.Helper()
	var list struct{ Items []planRecord }
	if !eventually(5*time.Second, func() bool {
		p.call("GET", "/v1/call-records?limit=1", nil, &list)
		return len(list.Items) == 1 && list.Items[0].Disposition != ""
	}) {
		p.t.Fatalf("no finished call record: %+v", list)
	}
	return list.Items[0]
}

// TestCallPlanMenu: a DID routed to a plan; the caller hears the greeting,
// presses 2 (RFC 4733, then in-band from a phone without telephone-event)
// and talks with extension 1002; a closed schedule takes the other branch
// and its override flips it; three invalid digits end the call.
func TestCallPlanMenu(t *testing.T) {
	p := startPBX(t, time.Minute)
	desk := p.extension("1002", nil)
	deskPhone := p.phone(desk, 1400, siptest.AnswerNow, "PCMU")
	greeting := p.uploadTone("greeting", greetingHz, 3)
	closed := p.uploadTone("closed", closedHz, 3)
	allDay := []map[string]string{{"start": "00:00", "end": "24:00"}}
	hours := p.create("/v1/schedules", map[string]any{"name": "office", "time_zone": "America/New_York",
		"hours": map[string]any{"mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay}})
	plan := p.create("/v1/call-plans", map[string]any{"name": "main", "entry": "hours", "nodes": map[string]any{
		"hours":  map[string]any{"kind": "schedule", "schedule_id": hours, "open": "menu", "closed": "closed"},
		"menu":   map[string]any{"kind": "menu", "prompts": []string{greeting}, "options": map[string]string{"2": "desk"}, "timeout_seconds": 3, "retries": 3},
		"desk":   map[string]any{"kind": "transfer", "target": map[string]any{"type": "extension", "extension_id": desk.ID}},
		"closed": map[string]any{"kind": "hangup", "prompts": []string{closed}},
	}})
	p.ipTrunk("127.0.0.51", "+14155550101", map[string]any{"type": "call_plan", "call_plan_id": plan}, nil)
	pstn, err := siptest.New(siptest.Config{User: "+12125550123", Domain: "carrier.test", PBX: p.sip, ToneHz: 600, IP: "127.0.0.51"})
	if err != nil {
		t.Fatal(err)
	}
	defer pstn.Close()
	inband, err := siptest.New(siptest.Config{User: "+12125550124", Domain: "carrier.test", PBX: p.sip, ToneHz: 600, IP: "127.0.0.51",
		NoTelephoneEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer inband.Close()
	ctx, cancel := within(90 * time.Second)
	defer cancel()

	press := map[string]func(*siptest.Call, string) error{
		"rfc4733": (*siptest.Call).SendDigits,
		"inband":  (*siptest.Call).SendInbandDigits,
		"info": func(c *siptest.Call, d string) error {
			res, err := c.SendInfo(ctx, "application/dtmf-relay", []byte("Signal="+d+"\r\nDuration=160\r\n"))
			if err == nil && res.StatusCode != 200 {
				err = fmt.Errorf("info answered %d", res.StatusCode)
			}
			return err
		},
	}
	for _, tt := range []struct {
		name  string
		phone *siptest.Phone
	}{{"rfc4733", pstn}, {"inband", inband}, {"info", pstn}} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.phone.Dial(ctx, "+14155550101")
			if err != nil {
				t.Fatal(err)
			}
			if !out.WaitHears(ctx, greetingHz) {
				t.Fatal("the caller did not hear the greeting")
			}
			if err := press[tt.name](out, "2"); err != nil {
				t.Fatal(err)
			}
			in, err := deskPhone.Incoming(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !out.WaitHears(ctx, 1400) || !in.WaitHears(ctx, 600) {
				t.Fatal("no audio both ways after the transfer")
			}
			_ = out.Hangup(ctx)
			waitHungUp(t, in)
			rec := p.lastPlanRecord()
			nodes := []string{}
			for _, s := range rec.PlanPath {
				nodes = append(nodes, s.Node)
			}
			if rec.Disposition != "answered" || rec.HangupBy != "caller" || !slices.Equal(nodes, []string{"hours", "menu", "desk"}) ||
				rec.PlanPath[1].Digits != "2" {
				t.Fatalf("record: %+v", rec)
			}
		})
	}

	t.Run("closed by override", func(t *testing.T) {
		if code := p.call("PUT", "/v1/schedules/"+hours+"/override", map[string]any{"mode": "closed"}, nil); code != 200 {
			t.Fatalf("override: %d", code)
		}
		out, err := pstn.Dial(ctx, "+14155550101")
		if err != nil {
			t.Fatal(err)
		}
		if !out.WaitHears(ctx, closedHz) {
			t.Fatal("the caller did not hear the closed message")
		}
		waitHungUp(t, out)
		if rec := p.lastPlanRecord(); rec.HangupBy != "system" || len(rec.PlanPath) == 0 || rec.PlanPath[0].Result != "closed" {
			t.Fatalf("record: %+v", rec)
		}
		if code := p.call("PUT", "/v1/schedules/"+hours+"/override", map[string]any{"mode": "none"}, nil); code != 200 {
			t.Fatalf("clear override: %d", code)
		}
	})

	t.Run("three invalid digits", func(t *testing.T) {
		out, err := pstn.Dial(ctx, "+14155550101")
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if !out.WaitHears(ctx, greetingHz) {
				t.Fatal("the caller did not hear the greeting")
			}
			if err := out.SendDigits("9"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond)
		}
		waitHungUp(t, out)
		if rec := p.lastPlanRecord(); rec.HangupCause != "invalid_input" || rec.HangupBy != "system" {
			t.Fatalf("record: %+v", rec)
		}
	})
}

// TestMusicOnHold: the callee holds an inbound call; the caller hears the
// number's music-on-hold class, and on resume the callee again, in one
// continuous RTP stream.
func TestMusicOnHold(t *testing.T) {
	p := startPBX(t, time.Minute)
	desk := p.extension("1003", nil)
	deskPhone := p.phone(desk, 1400, siptest.AnswerNow, "PCMU")
	music := p.uploadTone("music", mohHz, 4)
	class := p.create("/v1/moh-classes", map[string]any{"name": "test tone", "prompts": []string{music}})
	p.ipTrunk("127.0.0.52", "+14155550102", map[string]any{"type": "extension", "extension_id": desk.ID},
		map[string]any{"moh_class_id": class})
	pstn, err := siptest.New(siptest.Config{User: "+12125550125", Domain: "carrier.test", PBX: p.sip, ToneHz: 600, IP: "127.0.0.52"})
	if err != nil {
		t.Fatal(err)
	}
	defer pstn.Close()
	ctx, cancel := within(40 * time.Second)
	defer cancel()
	out, in := connect(t, ctx, pstn, "+14155550102", deskPhone, 1400, 600)

	if err := in.Hold(ctx, true); err != nil {
		t.Fatal(err)
	}
	if !out.WaitHears(ctx, mohHz) {
		t.Fatal("the held caller did not hear music on hold")
	}
	if err := in.Hold(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !out.WaitHears(ctx, 1400) || !in.WaitHears(ctx, 600) {
		t.Fatal("no audio both ways after resume")
	}
	if jumps := out.StreamJumps(); len(jumps) != 0 {
		t.Fatalf("the caller saw the stream jump: %v", jumps)
	}
	_ = out.Hangup(ctx)
	waitHungUp(t, in)
}

// TestNightModeByPhone: an extension allowed to flips a schedule closed and
// open again with *28 and the schedule's code; another extension is refused.
func TestNightModeByPhone(t *testing.T) {
	p := startPBX(t, time.Minute)
	boss := p.extension("1005", nil)
	clerk := p.extension("1006", nil)
	bossPhone := p.phone(boss, 600, siptest.AnswerNow, "PCMU")
	clerkPhone := p.phone(clerk, 600, siptest.AnswerNow, "PCMU")
	allDay := []map[string]string{{"start": "00:00", "end": "24:00"}}
	hours := p.create("/v1/schedules", map[string]any{"name": "front desk", "time_zone": "UTC", "override_code": "7",
		"override_extension_ids": []string{boss.ID},
		"hours":                  map[string]any{"mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay}})
	ctx, cancel := within(30 * time.Second)
	defer cancel()
	state := func() string {
		var st struct{ Status string }
		p.call("GET", "/v1/schedules/"+hours+"/state", nil, &st)
		return st.Status
	}
	for _, want := range []string{"closed", "open"} {
		out, err := bossPhone.Dial(ctx, "*287")
		if err != nil {
			t.Fatal(err)
		}
		waitHungUp(t, out)
		if got := state(); got != want {
			t.Fatalf("after *287 the schedule is %s, want %s", got, want)
		}
	}
	if _, err := clerkPhone.Dial(ctx, "*287"); err == nil || err.(*siptest.DialError).Code != 403 {
		t.Fatalf("an extension not allowed flipped night mode: %v", err)
	}
	if _, err := bossPhone.Dial(ctx, "*289"); err == nil || err.(*siptest.DialError).Code != 404 {
		t.Fatalf("a code no schedule has: %v", err)
	}
	if got := state(); got != "open" {
		t.Fatalf("schedule %s after refused codes", got)
	}
}

// TestNoAnswerGoesToPlan: an extension with no phone registered sends its
// calls to its no-answer plan, which answers and plays its greeting.
func TestNoAnswerGoesToPlan(t *testing.T) {
	p := startPBX(t, time.Minute)
	caller := p.extension("1007", nil)
	callerPhone := p.phone(caller, 600, siptest.AnswerNow, "PCMU")
	greeting := p.uploadTone("away", greetingHz, 2)
	plan := p.create("/v1/call-plans", map[string]any{"name": "away", "entry": "say", "nodes": map[string]any{
		"say": map[string]any{"kind": "hangup", "prompts": []string{greeting}},
	}})
	p.extension("1008", map[string]any{"no_answer_call_plan_id": plan})
	ctx, cancel := within(20 * time.Second)
	defer cancel()
	out, err := callerPhone.Dial(ctx, "1008")
	if err != nil {
		t.Fatal(err)
	}
	if !out.WaitHears(ctx, greetingHz) {
		t.Fatal("the caller did not hear the no-answer plan")
	}
	waitHungUp(t, out)
	if rec := p.lastPlanRecord(); rec.HangupCause != "plan_hangup" || len(rec.PlanPath) != 1 || rec.PlanPath[0].Node != "say" {
		t.Fatalf("record: %+v", rec)
	}
}

// TestCallPlanNextMenuAfterBargeIn: a key pressed during one menu's
// greeting takes the caller to the next menu, whose greeting plays whole.
func TestCallPlanNextMenuAfterBargeIn(t *testing.T) {
	p := startPBX(t, time.Minute)
	first := p.uploadTone("first", greetingHz, 4)
	second := p.uploadTone("second", closedHz, 4)
	plan := p.create("/v1/call-plans", map[string]any{"name": "two levels", "entry": "main", "nodes": map[string]any{
		"main":  map[string]any{"kind": "menu", "prompts": []string{first}, "options": map[string]string{"1": "sales"}},
		"sales": map[string]any{"kind": "menu", "prompts": []string{second}, "options": map[string]string{"2": "bye"}},
		"bye":   map[string]any{"kind": "hangup"},
	}})
	p.ipTrunk("127.0.0.53", "+14155550103", map[string]any{"type": "call_plan", "call_plan_id": plan}, nil)
	pstn, err := siptest.New(siptest.Config{User: "+12125550126", Domain: "carrier.test", PBX: p.sip, ToneHz: 600, IP: "127.0.0.53"})
	if err != nil {
		t.Fatal(err)
	}
	defer pstn.Close()
	ctx, cancel := within(20 * time.Second)
	defer cancel()
	out, err := pstn.Dial(ctx, "+14155550103")
	if err != nil {
		t.Fatal(err)
	}
	if !out.WaitHears(ctx, greetingHz) {
		t.Fatal("the caller did not hear the first greeting")
	}
	if err := out.SendDigits("1"); err != nil {
		t.Fatal(err)
	}
	if !out.WaitHears(ctx, closedHz) {
		t.Fatal("the second menu's greeting did not play after a key pressed during the first")
	}
	_ = out.SendDigits("2") // (the PBX may hang up before the event's last packets are sent)
	waitHungUp(t, out)
	if rec := p.lastPlanRecord(); len(rec.PlanPath) != 3 || rec.PlanPath[1].Digits != "2" || rec.HangupCause != "plan_hangup" {
		t.Fatalf("record: %+v", rec)
	}
}

// TestCallPlanEdges: a plan that transfers at once answers the caller
// before it rings the extension; holding during a plan, or asking the API
// to hold a call no second party answered yet, harms nothing; a caller who
// hangs up while a transfer rings leaves a finished record and no ringing
// phone.
func TestCallPlanEdges(t *testing.T) {
	p := startPBX(t, time.Minute)
	desk := p.extension("1009", nil)
	deskPhone := p.phone(desk, 1400, siptest.AnswerNow, "PCMU")
	slow := p.extension("1010", nil)
	slowPhone := p.phone(slow, 1400, siptest.RingForever, "PCMU")
	greeting := p.uploadTone("wait", greetingHz, 5)
	straight := p.create("/v1/call-plans", map[string]any{"name": "straight", "entry": "desk", "nodes": map[string]any{
		"desk": map[string]any{"kind": "transfer", "target": map[string]any{"type": "extension", "extension_id": desk.ID}},
	}})
	ringing := p.create("/v1/call-plans", map[string]any{"name": "ringing", "entry": "hello", "nodes": map[string]any{
		"hello": map[string]any{"kind": "play", "prompts": []string{greeting}, "next": "slow"},
		"slow":  map[string]any{"kind": "transfer", "target": map[string]any{"type": "extension", "extension_id": slow.ID}},
	}})
	trunk := p.ipTrunk("127.0.0.54", "+14155550104", map[string]any{"type": "call_plan", "call_plan_id": straight}, nil)
	p.create("/v1/numbers", map[string]any{"number": "+14155550105", "trunk_id": trunk,
		"route": map[string]any{"type": "call_plan", "call_plan_id": ringing}})
	pstn, err := siptest.New(siptest.Config{User: "+12125550127", Domain: "carrier.test", PBX: p.sip, ToneHz: 600, IP: "127.0.0.54"})
	if err != nil {
		t.Fatal(err)
	}
	defer pstn.Close()
	ctx, cancel := within(40 * time.Second)
	defer cancel()

	t.Run("transfer at once", func(t *testing.T) {
		out, in := connect(t, ctx, pstn, "+14155550104", deskPhone, 1400, 600)
		_ = out.Hangup(ctx)
		waitHungUp(t, in)
	})

	t.Run("hold and hang up while a plan runs and a transfer rings", func(t *testing.T) {
		out, err := pstn.Dial(ctx, "+14155550105")
		if err != nil {
			t.Fatal(err)
		}
		if !out.WaitHears(ctx, greetingHz) {
			t.Fatal("no greeting")
		}
		if err := out.Hold(ctx, true); err != nil {
			t.Fatal(err)
		}
		if err := out.Hold(ctx, false); err != nil {
			t.Fatal(err)
		}
		var live struct{ Items []struct{ ID string } }
		p.call("GET", "/v1/calls", nil, &live)
		if len(live.Items) != 1 {
			t.Fatalf("live calls: %+v", live)
		}
		if code, body := p.post("/v1/calls/"+live.Items[0].ID+"/hold", nil); code != 409 {
			t.Fatalf("API hold of a call in a plan: %d %s", code, body)
		}
		if !eventually(10*time.Second, func() bool { return slowPhone.Ringing() > 0 }) {
			t.Fatal("the transfer did not ring")
		}
		_ = out.Hangup(ctx)
		if !eventually(5*time.Second, func() bool {
			p.call("GET", "/v1/calls", nil, &live)
			return len(live.Items) == 0
		}) {
			t.Fatalf("the call outlived its caller: %+v", live)
		}
		if rec := p.lastPlanRecord(); rec.HangupBy != "caller" || rec.Disposition != "answered" {
			t.Fatalf("record: %+v", rec)
		}
	})
}

// TestCallPlanCallerLeavesInMenu: a caller who hangs up while a menu plays
// leaves a record that says where it was.
func TestCallPlanCallerLeavesInMenu(t *testing.T) {
	p := startPBX(t, time.Minute)
	greeting := p.uploadTone("long", greetingHz, 10)
	plan := p.create("/v1/call-plans", map[string]any{"name": "menu", "entry": "menu", "nodes": map[string]any{
		"menu": map[string]any{"kind": "menu", "prompts": []string{greeting}, "options": map[string]string{"1": "bye"}},
		"bye":  map[string]any{"kind": "hangup"},
	}})
	p.ipTrunk("127.0.0.55", "+14155550106", map[string]any{"type": "call_plan", "call_plan_id": plan}, nil)
	pstn, err := siptest.New(siptest.Config{User: "+12125550128", Domain: "carrier.test", PBX: p.sip, ToneHz: 600, IP: "127.0.0.55"})
	if err != nil {
		t.Fatal(err)
	}
	defer pstn.Close()
	ctx, cancel := within(20 * time.Second)
	defer cancel()
	for range 3 {
		out, err := pstn.Dial(ctx, "+14155550106")
		if err != nil {
			t.Fatal(err)
		}
		if !out.WaitHears(ctx, greetingHz) {
			t.Fatal("no greeting")
		}
		_ = out.Hangup(ctx)
		rec := p.lastPlanRecord()
		if rec.HangupBy != "caller" || len(rec.PlanPath) != 1 || rec.PlanPath[0].Node != "menu" || rec.PlanPath[0].Result != "caller_hung_up" {
			t.Fatalf("record: %+v", rec)
		}
	}
}
