package sip

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/auth"
)

// front is what every packet and framed TCP message passes before sipgo:
// bans, the per-source flood limit, then the screen. It logs what it drops
// at a rate-limited warn, so a flood of garbage is a few lines, not one each.
type front struct {
	log   *slog.Logger
	guard *auth.Guard
	flood *floodLimiter
	warn  logLimiter

	dropped  atomic.Uint64 // messages dropped or answered by the front
	screened atomic.Uint64 // messages that failed the screen
	// stateless counts requests that passed and were answered or absorbed
	// by the UDP front without a transaction (frontudp.go).
	stateless atomic.Uint64
	msgs      messageCounts // messages by method and status code (counters.go)
}

func newFront(log *slog.Logger, guard *auth.Guard, flood FloodConfig) *front {
	return &front{log: log, guard: guard, flood: newFloodLimiter(flood, nil)}
}

// inspect decides about one message from src.
func (f *front) inspect(data []byte, src netip.Addr, transport string) verdict {
	src = sourceKey(src)
	banned, allowed := f.guard.Standing(src)
	if banned {
		f.dropped.Add(1)
		return dropped("banned")
	}
	if !allowed {
		switch f.charge(src, transport) {
		case floodDrop:
			f.dropped.Add(1)
			return dropped("throttled")
		case floodBan:
			f.dropped.Add(1)
			return dropped("banned")
		}
	}
	if isKeepalive(data) {
		return passed()
	}
	v := screenMessage(data, transport == "TCP")
	f.msgs.received(data, v.pass)
	if !v.pass {
		f.dropped.Add(1)
		f.screened.Add(1)
		if n, ok := f.warn.allow(time.Now()); ok {
			f.log.Warn("sip message refused", "ip", src.String(), "transport", transport, "why", v.why,
				"answered", v.reply != nil, "refused_since_last_line", n)
		}
	}
	return v
}

// charge counts one packet (or new connection) from src against its flood
// allowance, banning a source that keeps exceeding it. A source where a
// phone authenticated recently is only throttled, never banned: UDP sources
// are easily forged, and a forged flood must not lock an office out.
func (f *front) charge(src netip.Addr, transport string) floodOutcome {
	out := f.flood.allow(src)
	if out != floodBan {
		return out
	}
	if f.flood.trusted(src) {
		return floodDrop
	}
	if f.guard.BanNow(src, auth.BanFlood) {
		f.log.Warn("sip address banned for flooding", "ip", src.String(), "transport", transport, "security", true)
	}
	return floodBan
}

// sourceKey is the address limits and bans apply to: the address itself
// for IPv4, its /64 for IPv6, since one host commonly holds a whole /64.
func sourceKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	return ip
}

// isKeepalive reports whether data is a CRLF keep-alive (RFC 5626 §4.4.1).
func isKeepalive(data []byte) bool {
	for _, c := range data {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// logLimiter lets one line through per second and counts the rest.
type logLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged now, and how many were held back since the last one.
func (l *logLimiter) allow(now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) < time.Second {
		l.suppressed++
		return 0, false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n, true
}
