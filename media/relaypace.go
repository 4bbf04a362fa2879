package media

import "time"

// A pacer decides how a relay loop waits once it has taken every ready
// packet. An idle loop waits in the network poller and is woken by the next
// packet: the lowest latency, but one wake-up (scheduler, poller, system
// calls) per packet. A loop relaying many packets a second would spend much
// of its time on those wake-ups, so while it is busy it sleeps a short
// while instead and then takes everything that arrived meanwhile in one
// pass. This is interrupt moderation as network cards do it: packets wait
// at most paceDelay more, far inside the jitter buffer of any phone.
type pacer struct {
	windowStart time.Time
	packets     int  // packets served in the current window
	busy        bool // the last window reached paceBusyPackets
}

const (
	// paceDelay is how long a busy loop lets packets gather.
	paceDelay = time.Millisecond
	// paceWindow is how often the loop's rate is judged.
	paceWindow = 20 * time.Millisecond
	// paceBusyPackets in a window make a loop busy: at that rate a sleep
	// of paceDelay finds about two packets or more on waking, so pacing
	// saves wake-ups rather than only adding delay.
	paceBusyPackets = 40
)

// served counts n packets about to be relayed.
func (p *pacer) served(n int) { p.packets += n }

// idle is called when no socket is ready; it returns how long to sleep
// before looking again, or 0 to wait in the poller.
func (p *pacer) idle(now time.Time) time.Duration {
	if el := now.Sub(p.windowStart); el >= paceWindow {
		// Judge the window by its rate; a loop that was idle for
		// several windows has a low one, and one idle for a second or
		// more is not busy.
		p.busy = el < time.Second &&
			int64(p.packets)*int64(paceWindow/time.Microsecond) >= paceBusyPackets*int64(el/time.Microsecond)
		p.windowStart, p.packets = now, 0
	}
	if p.busy {
		return paceDelay
	}
	return 0
}
