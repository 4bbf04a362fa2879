package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/mediatest"
	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// Tones of the plan interop tests: the two menu greetings, the desk phone,
// and what the calling software plays once it is transferred.
const (
	salesMenuHz = 700
	deskMenuHz  = 900
	deskHz      = 1400
	peerHz      = 1000
)

// twoLevelPlan creates extension 1002 with a registered test phone and a
// plan "press 1 for sales" -> "press 2 for the desk" -> transfer to 1002,
// reached by number through an IP trunk at ip.
func (p *pbx) twoLevelPlan(ip, number string) *siptest.Phone {
	p.t.Helper()
	desk := p.extension("1002", nil)
	deskPhone := p.phone(desk, deskHz, siptest.AnswerNow, "PCMU")
	sales := p.uploadTone("press-1-for-sales", salesMenuHz, 3)
	toDesk := p.uploadTone("press-2-for-the-desk", deskMenuHz, 3)
	plan := p.create("/v1/call-plans", map[string]any{"name": "two levels", "entry": "main", "nodes": map[string]any{
		"main":  map[string]any{"kind": "menu", "prompts": []string{sales}, "options": map[string]string{"1": "sales"}, "timeout_seconds": 5, "retries": 3},
		"sales": map[string]any{"kind": "menu", "prompts": []string{toDesk}, "options": map[string]string{"2": "desk"}, "timeout_seconds": 5, "retries": 3},
		"desk":  map[string]any{"kind": "transfer", "target": map[string]any{"type": "extension", "extension_id": desk.ID}},
	}})
	p.ipTrunk(ip, number, map[string]any{"type": "call_plan", "call_plan_id": plan}, nil)
	return deskPhone
}

// checkTwoLevelPath checks that the finished call took main (1), sales (2)
// and the transfer, was answered and was hung up by the caller.
func checkTwoLevelPath(t *testing.T, rec planRecord) {
	t.Helper()
	var nodes []string
	for _, s := range rec.PlanPath {
		nodes = append(nodes, s.Node)
	}
	if rec.Disposition != "answered" || rec.HangupBy != "caller" || !slices.Equal(nodes, []string{"main", "sales", "desk"}) ||
		rec.PlanPath[0].Digits != "1" || rec.PlanPath[1].Digits != "2" {
		t.Fatalf("record: %+v", rec)
	}
}

// writeTonePcap writes a capture of RTP packets (PCMU, 20 ms each) carrying
// seconds of a tone, as Ethernet/IPv4/UDP frames, for sipp's
// play_pcap_audio. The stream continues the SSRC, sequence numbers and
// timestamps of sipp's DTMF captures, so the far end sees one stream.
func writeTonePcap(t *testing.T, path string, hz float64, seconds int) {
	t.Helper()
	const (
		ssrc  = 0x0e05384e // the SSRC of /usr/share/sip-tester/dtmf_2833_*.pcap
		seq0  = 9000       // after their sequence numbers (up to 8443)
		ts0   = 200000     // after their timestamps (up to 92640)
		frame = 160
	)
	pcm := make([]int16, seconds*8000)
	(&mediatest.Tone{Freq: hz, Amplitude: 9000}).Fill(pcm)
	var b bytes.Buffer
	le := binary.LittleEndian
	// pcap global header: magic, version 2.4, zone, sigfigs, snaplen, Ethernet.
	_ = binary.Write(&b, le, []uint32{0xa1b2c3d4})
	_ = binary.Write(&b, le, []uint16{2, 4})
	_ = binary.Write(&b, le, []uint32{0, 0, 65535, 1})
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; (i+1)*frame <= len(pcm); i++ {
		rtp := make([]byte, 12+frame)
		rtp[0] = 0x80
		if i == 0 {
			rtp[1] = 0x80 // marker: start of talkspurt (RFC 3551 §4.1)
		}
		binary.BigEndian.PutUint16(rtp[2:], uint16(seq0+i))
		binary.BigEndian.PutUint32(rtp[4:], uint32(ts0+i*frame))
		binary.BigEndian.PutUint32(rtp[8:], ssrc)
		codec.Encode(codec.PCMU, pcm[i*frame:(i+1)*frame], rtp[12:])
		udp := make([]byte, 8, 8+len(rtp))
		binary.BigEndian.PutUint16(udp[0:], 6000)
		binary.BigEndian.PutUint16(udp[2:], 6000)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+len(rtp)))
		udp = append(udp, rtp...)
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1}
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+len(udp)))
		eth := []byte{0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00}
		pkt := slices.Concat(eth, ip, udp)
		at := start.Add(time.Duration(i) * 20 * time.Millisecond)
		_ = binary.Write(&b, le, []uint32{uint32(at.Unix()), uint32(at.Nanosecond() / 1000), uint32(len(pkt)), uint32(len(pkt))})
		b.Write(pkt)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sippPlanScenario is a carrier's call into a plan: an offer of PCMU and
// telephone-event, then key 1 (RFC 4733, from sipp's capture), key 2, and
// once transferred a tone from the capture at %[1]s; BYE after a while.
// play_pcap_audio sends from [media_port] to the port of the answer's SDP.
const sippPlanScenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="dialtone call plan navigation">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+12125550180@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:+12125550180@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: sipp
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+12125550180@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="1500"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_1.pcap"/></action></nop>
  <pause milliseconds="2000"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_2.pcap"/></action></nop>
  <pause milliseconds="1500"/>
  <nop><action><exec play_pcap_audio="%[1]s"/></action></nop>
  <pause milliseconds="5000"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+12125550180@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
`

// TestInteropSippNavigatesPlan: sipp, as a carrier on an IP trunk, calls a
// number routed to a two-level menu, keys 1 and 2 as RFC 4733 events from
// its captures, and is transferred to extension 1002; the desk phone then
// hears the tone sipp plays from a capture.
func TestInteropSippNavigatesPlan(t *testing.T) {
	requireTool(t, "sipp")
	for _, d := range []string{"1", "2"} {
		if _, err := os.Stat(fmt.Sprintf("/usr/share/sip-tester/dtmf_2833_%s.pcap", d)); err != nil {
			t.Fatalf("sipp's DTMF capture is missing: %v", err)
		}
	}
	p := startPBX(t, 30*time.Second)
	const ip, did = "127.0.0.81", "+14155550108"
	deskPhone := p.twoLevelPlan(ip, did)
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.pcap")
	writeTonePcap(t, tone, peerHz, 6)
	scenario := writeFile(t, dir, "plan-uac.xml", fmt.Sprintf(sippPlanScenario, tone))

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	uac := exec.CommandContext(ctx, "sipp", p.sip.String(), "-sf", scenario, "-s", did, "-i", ip, "-p", "25510",
		"-mi", ip, "-mp", "26610", "-m", "1", "-l", "1", "-nostdin", "-timeout", "30")
	out := &lockedBuffer{}
	uac.Stdout, uac.Stderr = out, out
	if err := uac.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = uac.Wait(); close(exited) }()
	defer func() { _ = uac.Process.Kill(); <-exited }()

	in, err := deskPhone.Incoming(ctx)
	if err != nil {
		t.Fatalf("the desk phone was not rung: %v\n%s", err, tail([]byte(out.String()), 3000))
	}
	if !in.WaitHears(ctx, peerHz) {
		t.Fatalf("the desk phone does not hear sipp's tone (%d packets)\n%s", in.PacketsReceived(), tail([]byte(out.String()), 3000))
	}
	waitHungUp(t, in)
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("sipp: %v\n%s", waitErr, tail([]byte(out.String()), 3000))
		}
	case <-ctx.Done():
		t.Fatalf("sipp did not finish\n%s", tail([]byte(out.String()), 3000))
	}
	checkTwoLevelPath(t, p.lastPlanRecord())
}

// TestInteropBaresipPlan: baresip, from the address of an IP trunk, calls a
// number routed to a two-level menu, keys 1 and 2 with /sndcode (RFC 4733)
// and is transferred to extension 1002. The desk phone hears baresip's tone
// file; baresip's recording holds the first greeting, the second, then the
// desk phone's tone.
func TestInteropBaresipPlan(t *testing.T) {
	requireTool(t, "baresip")
	requireTool(t, "sox")
	p := startPBX(t, 30*time.Second)
	const ip, did = "127.0.0.82", "+14155550109"
	deskPhone := p.twoLevelPlan(ip, did)
	dir := t.TempDir()
	tonePath := filepath.Join(dir, "tone.wav")
	if out, err := exec.Command("sox", "-n", "-r", "8000", "-c", "1", "-b", "16", tonePath, "synth", "30", "sine", fmt.Sprint(peerHz)).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	writeFile(t, dir, "config", strings.Join([]string{
		"poll_method epoll",
		"sip_listen " + ip + ":25520",
		"rtp_ports 26620-26639",
		"audio_player aubridge,heard",
		"audio_source aufile," + tonePath,
		"audio_alert aubridge,alert",
		"module_path /usr/lib/baresip/modules",
		"module g711.so",
		"module aubridge.so",
		"module aufile.so",
		"module sndfile.so",
		"snd_path " + dir,
		"module stdio.so",
		"module_app account.so",
		"module_app menu.so",
		"",
	}, "\n"))
	// A carrier does not register: regint=0.
	writeFile(t, dir, "accounts", fmt.Sprintf("<sip:+12125550190@%s>;regint=0;audio_codecs=PCMU\n", ip))
	stdin, log, exited := startBaresip(t, dir, ip)
	send := func(cmd string) {
		t.Helper()
		if _, err := io.WriteString(stdin, cmd+"\n"); err != nil {
			t.Fatalf("baresip %s: %v\n%s", cmd, err, log())
		}
	}
	// baresip reads its commands once its user agent is up.
	if !eventually(10*time.Second, func() bool { return strings.Contains(log(), "baresip is ready") }) {
		t.Fatalf("baresip did not start\n%s", log())
	}

	send(fmt.Sprintf("/dial sip:%s@%s", did, p.sip))
	answered := eventually(10*time.Second, func() bool {
		var live struct {
			Items []struct {
				ToNumber string `json:"to_number"`
				State    string `json:"state"`
			}
		}
		p.call("GET", "/v1/calls", nil, &live)
		return len(live.Items) == 1 && live.Items[0].ToNumber == did && live.Items[0].State == "answered"
	})
	if !answered {
		t.Fatalf("the plan did not answer baresip's call\n%s", log())
	}
	// Key 1 once the first greeting has played (sipp's test keys during
	// it), key 2 during the second (barge-in).
	time.Sleep(3500 * time.Millisecond)
	send("/sndcode 1")
	time.Sleep(1500 * time.Millisecond)
	send("/sndcode 2")

	cctx, ccancel := within(15 * time.Second)
	defer ccancel()
	in, err := deskPhone.Incoming(cctx)
	if err != nil {
		t.Fatalf("the desk phone was not rung: %v\n%s", err, log())
	}
	if !in.WaitHears(cctx, peerHz) {
		t.Fatalf("the desk phone does not hear baresip's tone (%d packets)\n%s", in.PacketsReceived(), log())
	}
	time.Sleep(1500 * time.Millisecond) // the desk phone's tone for baresip's recording
	send("/hangup")
	waitHungUp(t, in)
	checkTwoLevelPath(t, p.lastPlanRecord())

	// The recordings are complete once baresip has quit.
	send("/quit")
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("baresip did not quit\n%s", log())
	}
	dumps, _ := filepath.Glob(filepath.Join(dir, "dump-*-dec.wav"))
	if len(dumps) != 1 || !wavHears(dumps[0], deskHz) {
		t.Fatalf("baresip did not hear the desk phone's tone (recordings %v)\n%s", dumps, log())
	}
	// What baresip heard: the first greeting, the second, then the desk.
	want := []float64{salesMenuHz, deskMenuHz, deskHz}
	if heard := wavToneSequence(t, dumps[0], want); !slices.Equal(heard, want) {
		t.Fatalf("baresip heard the tones %v, want %v in that order", heard, want)
	}
}

// wavToneSequence splits a recording into quarter seconds at 8 kHz and
// returns which of tones dominates each, runs and silence collapsed.
func wavToneSequence(t *testing.T, path string, tones []float64) []float64 {
	t.Helper()
	raw, err := exec.Command("sox", path, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-L", "-t", "raw", "-").Output()
	if err != nil {
		t.Fatalf("sox %s: %v", path, err)
	}
	pcm := make([]int16, len(raw)/2)
	_ = binary.Read(bytes.NewReader(raw[:2*len(pcm)]), binary.LittleEndian, pcm)
	var seq []float64
	for w := pcm; len(w) >= 2000; w = w[2000:] {
		for _, f := range tones {
			if mediatest.Dominates(w[:2000], f) && (len(seq) == 0 || seq[len(seq)-1] != f) {
				seq = append(seq, f)
			}
		}
	}
	return seq
}
