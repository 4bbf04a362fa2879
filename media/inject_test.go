package media

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

// The events a leg sends are one RTP stream for the life of the leg: one
// SSRC, sequence numbers one apart, an event's timestamp constant and every
// new event's later than the last, whether digits come in one SendDTMF, in
// several one after the other, or from two senders at once.
func TestSendDTMFOneStream(t *testing.T) {
	tests := []struct {
		name     string
		sends    []string
		together bool // the sends run at the same time
	}{
		{"one call", []string{"123"}, false},
		{"calls one after the other", []string{"1", "#", "9"}, false},
		{"two senders at once", []string{"12", "34"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, far := dtmfTarget(t)
			digits := 0
			for _, s := range tt.sends {
				digits += len(s)
			}
			type pkt struct {
				seq       uint16
				ts, ssrc  uint32
				code, end byte
			}
			got := make(chan []pkt, 1)
			go func() {
				var ps []pkt
				buf := make([]byte, 1500)
				for len(ps) < digits*8 {
					_ = far.SetReadDeadline(time.Now().Add(3 * time.Second))
					n, err := far.Read(buf)
					if err != nil {
						break
					}
					if n < 16 || buf[1]&0x7f != 101 {
						continue
					}
					ps = append(ps, pkt{binary.BigEndian.Uint16(buf[2:]), binary.BigEndian.Uint32(buf[4:]),
						binary.BigEndian.Uint32(buf[8:]), buf[12], buf[13] >> 7})
				}
				got <- ps
			}()
			var wg sync.WaitGroup
			for _, s := range tt.sends {
				send := func() {
					defer wg.Done()
					if err := l.SendDTMF(context.Background(), s); err != nil {
						t.Error(err)
					}
				}
				wg.Add(1)
				if tt.together {
					go send()
				} else {
					send()
				}
			}
			wg.Wait()
			ps := <-got
			if len(ps) != digits*8 {
				t.Fatalf("%d event packets, want %d", len(ps), digits*8)
			}
			for i, p := range ps {
				if i%8 == 0 {
					if i > 0 && int32(p.ts-ps[i-1].ts) < eventSamples {
						t.Fatalf("event %d at timestamp %d, %d after the one before", i/8, p.ts, p.ts-ps[i-1].ts)
					}
				} else if p.ts != ps[i-1].ts || p.code != ps[i-1].code {
					t.Fatalf("packet %d: an event's packets interleaved with another's: %+v after %+v", i, p, ps[i-1])
				}
				if i > 0 && (p.ssrc != ps[0].ssrc || p.seq != ps[i-1].seq+1) {
					t.Fatalf("packet %d: ssrc %x seq %d after ssrc %x seq %d", i, p.ssrc, p.seq, ps[i-1].ssrc, ps[i-1].seq)
				}
				if wantEnd := i%8 >= 5; (p.end == 1) != wantEnd {
					t.Fatalf("packet %d: end bit %d", i, p.end)
				}
			}
		})
	}
}

// A sender whose context ends stops: an event under way is ended at once
// (its three end packets sent, no stuck tone), and a sender that waited its
// turn past its deadline sends nothing.
func TestSendDTMFCancelled(t *testing.T) {
	l, far := dtmfTarget(t)

	// A long string, cancelled once its first event is under way.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan error, 1)
	go func() { first <- l.SendDTMF(ctx, "1234567890") }()
	buf := make([]byte, 1500)
	_ = far.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := far.Read(buf)
	if err != nil || n < 16 || buf[1]&0x7f != 101 {
		t.Fatalf("no event from the first sender: %d bytes, %v", n, err)
	}
	codes := []byte{buf[12]}
	ends := 0
	// Behind the first sender, whose turn lasts until it is cancelled.
	waiterCtx, waiterCancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer waiterCancel()
	if err := l.SendDTMF(waiterCtx, "9"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the waiting sender: %v, want the deadline", err)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("SendDTMF = %v, want its context's end", err)
	}
	for {
		_ = far.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := far.Read(buf)
		if err != nil {
			break
		}
		if n >= 16 && buf[1]&0x7f == 101 {
			codes = append(codes, buf[12])
			if buf[13]&0x80 != 0 {
				ends++
			}
		}
	}
	if len(codes) < 4 || len(codes) > 6 || ends != 3 {
		t.Fatalf("%d event packets with %d end packets, want the first event cut short: 1-3 packets and 3 ends", len(codes), ends)
	}
	for _, c := range codes {
		if c != 1 {
			t.Fatalf("events %v: only the first digit may start", codes)
		}
	}
}

// Once a leg is closed nothing is sent on its old descriptor, which the
// system may already have given to another socket: a send fails as closed.
func TestSendAfterClose(t *testing.T) {
	l, far := dtmfTarget(t)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	reuser, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}) // may take the old descriptor
	if err != nil {
		t.Fatal(err)
	}
	defer reuser.Close()
	if err := l.SendDTMF(context.Background(), "1"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SendDTMF on a closed leg: %v, want net.ErrClosed", err)
	}
	_ = far.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := far.Read(make([]byte, 1500)); err == nil {
		t.Fatalf("a closed leg sent %d bytes", n)
	}
}

// dtmfTarget is a leg sending to a socket of the test's, which negotiated
// RFC 4733 events as payload type 101.
func dtmfTarget(t *testing.T) (*Leg, *net.UDPConn) {
	t.Helper()
	far, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { far.Close() })
	l := newLeg(t, newPool(t))
	l.SetRemote(Remote{Addr: far.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: codec.PCMU, PayloadType: 0,
		DTMFType: 101, Receive: true})
	return l, far
}

// TestLegTurnsMadeOnce: a leg that only relays holds no turn slots, and
// senders that ask for them at the same moment share one pair.
func TestLegTurnsMadeOnce(t *testing.T) {
	leg, err := newPool(t).NewLeg(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	if leg.turns.Load() != nil {
		t.Fatal("a new leg holds turn slots")
	}
	got := make(chan *legTurns, 8)
	var wg sync.WaitGroup
	for range cap(got) {
		wg.Add(1)
		go func() { defer wg.Done(); got <- leg.slots() }()
	}
	wg.Wait()
	close(got)
	first := <-got
	for s := range got {
		if s != first {
			t.Fatal("two senders got different turn slots")
		}
	}
}
