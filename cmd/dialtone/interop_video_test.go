package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/mediatest"
	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// sipTap relays SIP over UDP between one phone and the PBX, so a test can
// read what the PBX answered a real phone. The phone takes the tap's
// address for the PBX's; the PBX sees the tap's other socket as the phone.
type sipTap struct {
	front, back *net.UDPConn
	pbx         *net.UDPAddr

	mu      sync.Mutex
	phone   *net.UDPAddr
	fromPBX [][]byte
	toPBX   [][]byte
}

func newSIPTap(t *testing.T, pbx netip.AddrPort) *sipTap {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &sipTap{front: front, back: back, pbx: net.UDPAddrFromAddrPort(pbx)}
	t.Cleanup(func() { _ = front.Close(); _ = back.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.phone = from
			s.toPBX = append(s.toPBX, bytes.Clone(buf[:n]))
			s.mu.Unlock()
			_, _ = back.WriteToUDP(buf[:n], s.pbx)
		}
	}()
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := back.ReadFromUDP(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			phone := s.phone
			s.fromPBX = append(s.fromPBX, bytes.Clone(buf[:n]))
			s.mu.Unlock()
			if phone != nil {
				_, _ = front.WriteToUDP(buf[:n], phone)
			}
		}
	}()
	return s
}

// Addr is the address the phone is given for the PBX.
func (s *sipTap) Addr() netip.AddrPort { return s.front.LocalAddr().(*net.UDPAddr).AddrPort() }

// find returns the first message a direction carried that starts with
// start and contains every one of parts.
func find(msgs [][]byte, start string, parts ...string) []byte {
	for _, m := range msgs {
		if !bytes.HasPrefix(m, []byte(start)) {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && bytes.Contains(m, []byte(p))
		}
		if ok {
			return m
		}
	}
	return nil
}

// inviteOK is the PBX's 200 to the phone's INVITE, once sent.
func (s *sipTap) inviteOK() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return find(s.fromPBX, "SIP/2.0 200", " INVITE\r\n", "application/sdp")
}

// offer is the phone's INVITE with SDP.
func (s *sipTap) offer() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return find(s.toPBX, "INVITE ", "application/sdp")
}

// checkVideoAnswer checks that the phone offered video and that the PBX's
// 200 keeps the video m-line, refused with port 0 (RFC 3264 §6), after
// the audio one.
func checkVideoAnswer(t *testing.T, tap *sipTap, log func() string) {
	t.Helper()
	offer := tap.offer()
	if offer == nil || !bytes.Contains(offer, []byte("\nm=video ")) || bytes.Contains(offer, []byte("\nm=video 0 ")) {
		t.Fatalf("the phone offered no video:\n%s\n%s", offer, log())
	}
	ok := tap.inviteOK()
	if ok == nil {
		t.Fatalf("no 200 with SDP to the phone's INVITE\n%s", log())
	}
	_, body, _ := bytes.Cut(ok, []byte("\r\n\r\n"))
	audio := bytes.Index(body, []byte("\nm=audio "))
	video := bytes.Index(body, []byte("\nm=video 0 "))
	if audio < 0 || bytes.HasPrefix(body[audio:], []byte("\nm=audio 0 ")) || video < audio {
		t.Fatalf("the 200 does not keep audio and refuse video with port 0:\n%s", ok)
	}
	if bytes.Count(body, []byte("\nm=")) != bytes.Count(offer[bytes.Index(offer, []byte("\r\n\r\n")):], []byte("\nm=")) {
		t.Fatalf("the 200 does not have one m-line per offered one:\noffer:\n%s\nanswer:\n%s", offer, ok)
	}
}

// waitRegistered waits for one registration of ext whose User-Agent
// starts with agent.
func (p *pbx) waitRegistered(t *testing.T, ext extension, agent string, log func() string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var regs struct {
			Items []struct {
				UserAgent string `json:"user_agent"`
			}
		}
		p.call("GET", "/v1/extensions/"+ext.ID+"/registrations", nil, &regs)
		if len(regs.Items) == 1 && strings.HasPrefix(strings.ToLower(regs.Items[0].UserAgent), agent) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not register\n%s", agent, log())
}

// logOf returns a function giving the tail of a phone's output.
// startBaresip runs baresip with the configuration in dir, bound to ip,
// for at most a minute (stopped with the test), and returns its command
// input, a reader of its output and a channel closed when it has exited.
func startBaresip(t *testing.T, dir, ip string) (io.Writer, func() string, <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	bs := exec.CommandContext(ctx, "baresip", "-f", dir, "-n", ip, "-t", "40")
	out := &lockedBuffer{}
	bs.Stdout, bs.Stderr = out, out
	stdin, err := bs.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := bs.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = bs.Wait(); close(exited) }()
	t.Cleanup(func() { _ = bs.Process.Kill(); <-exited; cancel() })
	return stdin, logOf(out), exited
}

func logOf(b *lockedBuffer) func() string {
	return func() string { return string(tail([]byte(b.String()), 4000)) }
}

// TestInteropVideoBaresip: baresip offers audio and VP8 video (fakevideo
// as camera) and calls an extension; the PBX answers audio and refuses video
// with port 0. The callee hears baresip's 1000 Hz tone file, and baresip's
// recording of what it heard is the callee's 1400 Hz tone. (An aubridge
// loop as source sends nothing when baresip 1.0 places the call, so the
// tone comes from a file.)
func TestInteropVideoBaresip(t *testing.T) {
	requireTool(t, "baresip")
	requireTool(t, "sox")
	for _, m := range []string{"vp8.so", "fakevideo.so"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/baresip/modules", m)); err != nil {
			if os.Getenv("DIALTONE_INTEROP") == "1" {
				t.Fatalf("baresip module %s is missing", m)
			}
			t.Skipf("baresip module %s is missing", m)
		}
	}
	p := startPBX(t, 60*time.Second, defaultDigest)
	soft := p.extension("1031", map[string]any{"sip_password": "interop-video-pw"})
	target := p.extension("1032", nil)
	callee := p.phone(target, 1400, siptest.AnswerNow, "PCMU")
	tap := newSIPTap(t, p.sip)
	dir := t.TempDir()
	tonePath := filepath.Join(dir, "tone.wav")
	if out, err := exec.Command("sox", "-n", "-r", "8000", "-c", "1", "-b", "16", tonePath, "synth", "30", "sine", "1000").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	writeFile(t, dir, "config", strings.Join([]string{
		"poll_method epoll",
		"sip_listen 127.0.0.1:25110",
		"audio_player aubridge,loop",
		"audio_source aufile," + tonePath,
		"audio_alert aubridge,alert",
		"video_source fakevideo,nil",
		"video_display fakevideo,nil",
		"module_path /usr/lib/baresip/modules",
		"module g711.so",
		"module aubridge.so",
		"module aufile.so",
		"module sndfile.so",
		"snd_path " + dir,
		"module vp8.so",
		"module fakevideo.so",
		"module stdio.so",
		"module_app account.so",
		"module_app menu.so",
		"",
	}, "\n"))
	writeFile(t, dir, "accounts", fmt.Sprintf("<sip:%s@%s>;auth_pass=%s;regint=60;audio_codecs=PCMU;video_codecs=VP8\n",
		soft.Number, tap.Addr(), soft.SIPPassword))
	stdin, log, exited := startBaresip(t, dir, "127.0.0.1")
	p.waitRegistered(t, soft, "baresip", log)

	if _, err := io.WriteString(stdin, "/dial "+target.Number+"\n"); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := within(20 * time.Second)
	defer ccancel()
	in, err := callee.Incoming(cctx)
	if err != nil {
		t.Fatalf("baresip's call not delivered: %v\n%s", err, log())
	}
	if !in.WaitHears(cctx, 1000) {
		t.Fatalf("the callee does not hear baresip's tone (%d packets)\n%s", in.PacketsReceived(), log())
	}
	checkVideoAnswer(t, tap, log)
	time.Sleep(time.Second) // a second of the callee's tone for baresip's recording
	if err := in.Hangup(cctx); err != nil {
		t.Fatal(err)
	}
	if rec := p.lastRecord(); rec.Disposition != "answered" || rec.Media.Caller.PacketsIn < 20 {
		t.Fatalf("record: %+v", rec)
	}
	// The recordings are complete once baresip has quit.
	_, _ = io.WriteString(stdin, "/quit\n")
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("baresip did not quit\n%s", log())
	}
	dumps, _ := filepath.Glob(filepath.Join(dir, "dump-*-dec.wav"))
	if len(dumps) != 1 || !wavHears(dumps[0], 1400) {
		t.Fatalf("baresip did not hear the callee's tone (recordings %v)\n%s", dumps, log())
	}
}

// TestInteropVideoLinphone: linphonec, with video enabled, registers and
// calls an extension; the PBX answers audio and refuses video with port 0.
// linphonec plays a 1000 Hz tone from a file, which the callee hears, and
// records what it hears, which must be the callee's 1400 Hz tone.
func TestInteropVideoLinphone(t *testing.T) {
	requireTool(t, "linphonec")
	requireTool(t, "sox")
	p := startPBX(t, 60*time.Second, defaultDigest)
	soft := p.extension("1041", map[string]any{"sip_password": "interop-linphone-pw"})
	target := p.extension("1042", nil)
	callee := p.phone(target, 1400, siptest.AnswerNow, "PCMU")
	tap := newSIPTap(t, p.sip)

	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".local", "share", "linphone"), 0o700); err != nil {
		t.Fatal(err)
	}
	tone := filepath.Join(home, "tone.wav")
	if out, err := exec.Command("sox", "-n", "-r", "8000", "-c", "1", "-b", "16", tone, "synth", "30", "sine", "1000").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	heard := filepath.Join(home, "heard.wav")
	rc := writeFile(t, home, "linphonerc", strings.Join([]string{
		"[sip]",
		"sip_port=25120",
		"sip_tcp_port=0",
		"sip_tls_port=0",
		"[rtp]",
		"audio_rtp_port=25130",
		"video_rtp_port=25140",
		"[video]",
		"enabled=1",
		"capture=1",
		"display=0",
		"automatically_initiate=1",
		"automatically_accept=1",
		"[sound]",
		"echocancellation=0",
		"",
	}, "\n"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lp := exec.CommandContext(ctx, "linphonec", "-c", rc, "-V")
	lp.Env = append(os.Environ(), "HOME="+home)
	out := &lockedBuffer{}
	lp.Stdout, lp.Stderr = out, out
	stdin, err := lp.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lp.Process.Kill(); _ = lp.Wait() }()
	log := logOf(out)
	// Commands go to linphonec's stdin, which stays open for the test.
	send := func(cmd string) {
		t.Helper()
		if _, err := io.WriteString(stdin, cmd+"\n"); err != nil {
			t.Fatalf("linphonec %s: %v\n%s", cmd, err, log())
		}
	}
	send("soundcard use files")
	send("play " + tone)
	send("record " + heard)
	send(fmt.Sprintf("register sip:%s@%s sip:%s %s", soft.Number, tap.Addr(), tap.Addr(), soft.SIPPassword))
	p.waitRegistered(t, soft, "linphone", log)

	send(fmt.Sprintf("call sip:%s@%s", target.Number, tap.Addr()))
	cctx, ccancel := within(20 * time.Second)
	defer ccancel()
	in, err := callee.Incoming(cctx)
	if err != nil {
		t.Fatalf("linphonec's call not delivered: %v\n%s", err, log())
	}
	if !in.WaitHears(cctx, 1000) {
		t.Fatalf("the callee does not hear linphonec's tone (%d packets)\n%s", in.PacketsReceived(), log())
	}
	checkVideoAnswer(t, tap, log)
	time.Sleep(2 * time.Second) // linphonec records the callee's tone
	if err := in.Hangup(cctx); err != nil {
		t.Fatal(err)
	}
	if rec := p.lastRecord(); rec.Disposition != "answered" || rec.Media.Caller.PacketsIn < 20 {
		t.Fatalf("record: %+v", rec)
	}
	if !eventually(5*time.Second, func() bool { return wavHears(heard, 1400) }) {
		st, _ := exec.Command("sox", heard, "-n", "stat").CombinedOutput()
		t.Fatalf("linphonec did not hear the callee's tone:\n%s\n%s", st, log())
	}
}

// wavHears reports whether the last second of a recording, at 8 kHz, is
// dominated by freq.
func wavHears(path string, freq float64) bool {
	raw, err := exec.Command("sox", path, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-L", "-t", "raw", "-").Output()
	if err != nil || len(raw) < 16000 {
		return false
	}
	pcm := make([]int16, 8000)
	if err := binary.Read(bytes.NewReader(raw[len(raw)-16000:]), binary.LittleEndian, pcm); err != nil {
		return false
	}
	return mediatest.Dominates(pcm, freq)
}
