//go:build !unix

package media

// discardQueued: only the deadline window of Discard is available here.
func (l *Leg) discardQueued() (int, bool) { return 0, false }
