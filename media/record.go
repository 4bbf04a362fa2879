package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media/codec"
)

// Sink takes 8 kHz mono 16-bit audio; call.Sink is the same interface.
type Sink interface {
	WriteSamples(pcm []int16) error
}

// Errors of WAVRecorder.
var (
	ErrRecorderClosed = errors.New("media: the recording is closed")
	ErrRecordingFull  = errors.New("media: the recording reached the 4 GiB WAV limit")
)

const (
	wavHeaderSize = 44
	// wavMaxData keeps the RIFF size (36 + data) within 32 bits.
	wavMaxData = 1<<32 - 1 - 36
	// wavFlushBytes is how much audio (about 0.5 s) WAVRecorder gathers
	// before it writes, so a recording costs a write per half second, not
	// one per packet.
	wavFlushBytes = 8000
)

// WAVRecorder writes 8 kHz mono 16-bit PCM as a WAV file: a canonical
// 44-byte header whose RIFF and data sizes Close fills in. It is safe for
// concurrent use.
type WAVRecorder struct {
	mu      sync.Mutex
	w       io.WriteSeeker
	file    *os.File // closed by Close when CreateWAV opened it
	base    int64    // where the header starts in w
	started bool
	closed  bool
	data    int64 // data bytes written or buffered
	buf     []byte
	err     error // the first write error; it sticks
}

var _ call.Sink = (*WAVRecorder)(nil)

// NewWAVRecorder records into w from its current offset. Close fixes the
// header but leaves w open.
func NewWAVRecorder(w io.WriteSeeker) *WAVRecorder {
	return &WAVRecorder{w: w}
}

// CreateWAV creates (or truncates) the file at path and records into it;
// Close closes the file.
func CreateWAV(path string) (*WAVRecorder, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	r := NewWAVRecorder(f)
	r.file = f
	return r, nil
}

// WriteSamples appends pcm to the recording.
func (r *WAVRecorder) WriteSamples(pcm []int16) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return ErrRecorderClosed
	case r.err != nil:
		return r.err
	case r.data+2*int64(len(pcm)) > wavMaxData:
		return ErrRecordingFull
	}
	if !r.started {
		if r.err = r.start(); r.err != nil {
			return r.err
		}
	}
	for _, s := range pcm {
		r.buf = binary.LittleEndian.AppendUint16(r.buf, uint16(s))
	}
	r.data += 2 * int64(len(pcm))
	if len(r.buf) >= wavFlushBytes {
		r.err = r.flush()
	}
	return r.err
}

// Duration is the length of the audio recorded so far.
func (r *WAVRecorder) Duration() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Duration(r.data/2) * time.Second / 8000
}

// Close writes what is buffered and the header's sizes (an empty recording
// is a valid WAV without samples), then closes the file CreateWAV opened.
func (r *WAVRecorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.err
	if err == nil && !r.started {
		err = r.start()
	}
	if err == nil {
		err = r.flush()
	}
	if err == nil {
		err = r.finish()
	}
	if r.file != nil {
		if cerr := r.file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("close recording: %w", err)
	}
	return nil
}

// start writes the header with sizes of zero, to be fixed by Close.
func (r *WAVRecorder) start() error {
	base, err := r.w.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	r.base, r.started = base, true
	r.buf = appendWAVHeader(make([]byte, 0, wavFlushBytes+2*1500), 0)
	return nil
}

func (r *WAVRecorder) flush() error {
	if len(r.buf) == 0 {
		return nil
	}
	_, err := r.w.Write(r.buf)
	r.buf = r.buf[:0]
	return err
}

// finish writes the RIFF and data chunk sizes and leaves w after the data.
func (r *WAVRecorder) finish() error {
	var b [4]byte
	for _, f := range []struct {
		off  int64
		size int64
	}{{4, 36 + r.data}, {40, r.data}} {
		if _, err := r.w.Seek(r.base+f.off, io.SeekStart); err != nil {
			return err
		}
		binary.LittleEndian.PutUint32(b[:], uint32(f.size))
		if _, err := r.w.Write(b[:]); err != nil {
			return err
		}
	}
	_, err := r.w.Seek(r.base+wavHeaderSize+r.data, io.SeekStart)
	return err
}

// appendWAVHeader appends the canonical header of a PCM, 8 kHz, mono,
// 16-bit WAV with data bytes of samples.
func appendWAVHeader(b []byte, data uint32) []byte {
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, 36+data)
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1) // PCM
	b = binary.LittleEndian.AppendUint16(b, 1) // mono
	b = binary.LittleEndian.AppendUint32(b, 8000)
	b = binary.LittleEndian.AppendUint32(b, 8000*2) // bytes per second
	b = binary.LittleEndian.AppendUint16(b, 2)      // block align
	b = binary.LittleEndian.AppendUint16(b, 16)     // bits per sample
	b = append(b, "data"...)
	return binary.LittleEndian.AppendUint32(b, data)
}

// Tap records the relayed call: from now on both directions are decoded
// and mixed into 20 ms frames written to sink, until Untap (or another Tap,
// which replaces this one). It returns the error of the tap it replaced.
// Without a tap the relay pays one atomic load per packet for this.
func (r *Relay) Tap(sink Sink) error {
	var m *mixer
	if sink != nil {
		m = &mixer{sink: sink}
	}
	return r.tap.Swap(m).close()
}

// Untap stops recording: it writes the audio still being mixed, and once
// it returns no write to the sink is in progress or will follow, so the
// sink may be closed. It returns the first error the sink returned.
func (r *Relay) Untap() error { return r.Tap(nil) }

const (
	// mixLag is how far one direction may run ahead of the other (60 ms)
	// before its audio is written without waiting for the other's: a party
	// that sends nothing (muted, on hold) is silence in the mix.
	mixLag = 3 * FrameSamples
	// mixDepth bounds each direction's queue.
	mixDepth = 2048
)

// mixer mixes the two directions of a relay by arrival: each direction's
// samples queue up, and a frame is written when both have one, or when one
// is mixLag ahead.
type mixer struct {
	mu      sync.Mutex
	sink    Sink
	err     error
	closed  bool
	q       [2]sampleQueue
	scratch [1500]int16
	out     [FrameSamples]int16
}

// add takes one packet as forward left it for dst: a 12-byte header and
// dst's payload type. Events and other payloads are not audio and are left
// out.
func (m *mixer) add(dir int, pkt []byte, dst *Leg) {
	r := dst.remote.Load()
	if r == nil || len(pkt) <= 12 || pkt[1]&0x7f != r.PayloadType {
		return
	}
	payload := pkt[12:]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.err != nil {
		return
	}
	pcm := m.scratch[:min(len(payload), len(m.scratch))]
	codec.Decode(r.Codec, payload[:len(pcm)], pcm)
	m.q[dir].push(pcm)
	m.drain(false)
}

// drain writes the frames that are ready; with all, also what is left.
func (m *mixer) drain(all bool) {
	for m.err == nil {
		a, b := m.q[0].n, m.q[1].n
		if !(a >= FrameSamples && b >= FrameSamples || max(a, b) >= mixLag || all && max(a, b) > 0) {
			return
		}
		n := min(max(a, b), FrameSamples)
		out := m.out[:n]
		clear(out)
		m.q[0].mixInto(out)
		m.q[1].mixInto(out)
		m.err = m.sink.WriteSamples(out)
	}
}

// close writes what is left and stops the mixer; nil is a mixer too.
func (m *mixer) close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.drain(true)
		m.closed = true
	}
	return m.err
}

// sampleQueue is a ring of samples; when it overflows the oldest go.
type sampleQueue struct {
	buf  [mixDepth]int16
	r, n int
}

func (q *sampleQueue) push(pcm []int16) {
	if len(pcm) > mixDepth {
		pcm = pcm[len(pcm)-mixDepth:]
	}
	if over := q.n + len(pcm) - mixDepth; over > 0 {
		q.r = (q.r + over) % mixDepth
		q.n -= over
	}
	w := (q.r + q.n) % mixDepth
	k := copy(q.buf[w:], pcm)
	copy(q.buf[:], pcm[k:])
	q.n += len(pcm)
}

// mixInto adds up to len(out) queued samples onto out, saturating, and
// removes them from the queue.
func (q *sampleQueue) mixInto(out []int16) {
	k := min(q.n, len(out))
	for i := range k {
		out[i] = sat16(int32(out[i]) + int32(q.buf[(q.r+i)%mixDepth]))
	}
	q.r = (q.r + k) % mixDepth
	q.n -= k
}

func sat16(v int32) int16 {
	return int16(max(-32768, min(32767, v)))
}
