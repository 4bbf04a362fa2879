package call

import (
	"context"
	"errors"
	"time"
)

// Prompt names a sound the engine plays: a stored prompt's id ("pmt_...")
// or a system prompt's name ("goodbye", "digit-5", "please-hold", ...).
// The language chooses between recordings of the same prompt.
type Prompt string

// PlayOptions shape one playback.
type PlayOptions struct {
	// Language picks the recording of each prompt ("en" when empty).
	Language string
	// Interrupt stops the playback at the first digit the caller presses;
	// the digit stays buffered for the next Collect (barge-in).
	Interrupt bool
	// Loop plays the prompts again and again until ctx ends (music on hold).
	Loop bool
}

// CollectSpec says how digits are collected.
type CollectSpec struct {
	// Max is how many digits end the collection (>= 1).
	Max int
	// Terminator ends the collection early and is not returned ('#'); 0 for none.
	Terminator byte
	// FirstDigit is how long to wait for the first digit; InterDigit for each next one.
	FirstDigit time.Duration
	InterDigit time.Duration
}

// CollectEnd says why a collection ended.
type CollectEnd int

// Why collections end.
const (
	CollectUnknown    CollectEnd = iota
	CollectMax                   // Max digits were pressed
	CollectTerminated            // the terminator was pressed
	CollectTimeout               // a timeout ran out (Digits holds what came before it)
)

func (e CollectEnd) String() string {
	switch e {
	case CollectMax:
		return "max_digits"
	case CollectTerminated:
		return "terminator"
	case CollectTimeout:
		return "timeout"
	}
	return "unknown"
}

// Collected is what a collection gathered.
type Collected struct {
	Digits string
	End    CollectEnd
}

// Sink receives audio a channel records: 8 kHz mono 16-bit samples.
type Sink interface {
	WriteSamples(pcm []int16) error
}

// ErrHungUp means the leg went away while the engine was driving it.
var ErrHungUp = errors.New("call: the leg hung up")

// Channel is one leg of a call that the engine drives. Every blocking
// method returns when its ctx or the leg's own Context ends (then with
// ErrHungUp when the leg went away).
type Channel interface {
	// Context ends when the leg goes away.
	Context() context.Context
	// Answer answers the leg (a no-op when it already is).
	Answer(ctx context.Context) error
	// Play plays prompts to the leg until they end, ctx ends or, with
	// Interrupt, a digit arrives.
	Play(ctx context.Context, prompts []Prompt, opts PlayOptions) error
	// Collect gathers digits, starting with those pressed since the last
	// collection (during an interruptible Play, say).
	Collect(ctx context.Context, spec CollectSpec) (Collected, error)
	// Record writes what the leg says to sink until ctx ends.
	Record(ctx context.Context, sink Sink) error
	// Bridge connects the leg's audio to other's both ways until ctx ends
	// or either leg goes away.
	Bridge(ctx context.Context, other Channel) error
	// Hangup ends the leg with a cause (a Cause* constant).
	Hangup(ctx context.Context, cause string) error
}
