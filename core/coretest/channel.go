// Package coretest holds fakes of core's interfaces for tests: a
// call.Channel driven by a script of what the caller does.
package coretest

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// InputKind is what the caller does at one point of a script.
type InputKind int

// Caller actions.
const (
	InputUnknown InputKind = iota
	InputPress             // keys digits
	InputSilence           // stays silent until the running collection times out
	InputHangUp            // hangs up
)

func (k InputKind) String() string {
	switch k {
	case InputPress:
		return "press"
	case InputSilence:
		return "silence"
	case InputHangUp:
		return "hang_up"
	}
	return "unknown"
}

// Input is one caller action. Without DuringPlay it happens during the next
// Collect; with it, during the next Play (a digit then interrupts an
// interruptible playback and stays buffered for the next Collect).
type Input struct {
	Kind       InputKind
	Digits     string
	DuringPlay bool
}

// Press keys digits while the engine collects.
func Press(digits string) Input { return Input{Kind: InputPress, Digits: digits} }

// PressDuringPlay keys digits while a prompt plays (barge-in).
func PressDuringPlay(digits string) Input {
	return Input{Kind: InputPress, Digits: digits, DuringPlay: true}
}

// Silence lets the running collection time out.
func Silence() Input { return Input{Kind: InputSilence} }

// HangUp hangs up during the next Collect.
func HangUp() Input { return Input{Kind: InputHangUp} }

// HangUpDuringPlay hangs up while a prompt plays.
func HangUpDuringPlay() Input { return Input{Kind: InputHangUp, DuringPlay: true} }

// Op is one call the engine made on the channel.
type Op struct {
	Kind string // "answer", "play", "collect", "record", "bridge", "hangup"
	// play
	Prompts     []call.Prompt
	PlayOptions call.PlayOptions
	Interrupted bool // a digit cut the playback short
	// collect
	Spec      call.CollectSpec
	Collected call.Collected
	// hangup
	Cause string
	// Err is what the call returned.
	Err error
}

// Channel is a fake call.Channel: it plays nothing and waits for nothing;
// what the caller does comes from its script, in order, and every call is
// logged. A script that runs out is a caller who stays silent.
type Channel struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	script   []Input
	buffer   string // digits pressed and not yet collected
	answered bool
	ops      []Op
}

var _ call.Channel = (*Channel)(nil)

// NewChannel returns a ringing leg whose caller will act as script says.
func NewChannel(script ...Input) *Channel {
	ctx, cancel := context.WithCancel(context.Background())
	return &Channel{ctx: ctx, cancel: cancel, script: slices.Clone(script)}
}

// Context ends when the leg hangs up (by the script or by Hangup).
func (c *Channel) Context() context.Context { return c.ctx }

func (c *Channel) gone(ctx context.Context) error {
	if c.ctx.Err() != nil {
		return call.ErrHungUp
	}
	return ctx.Err()
}

func (c *Channel) log(op Op) {
	c.ops = append(c.ops, op)
}

// Answer answers the leg.
func (c *Channel) Answer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.gone(ctx)
	if err == nil {
		c.answered = true
	}
	c.log(Op{Kind: "answer", Err: err})
	return err
}

// Play consumes the script's next input when it is meant for a playback.
func (c *Channel) Play(ctx context.Context, prompts []call.Prompt, opts call.PlayOptions) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := Op{Kind: "play", Prompts: slices.Clone(prompts), PlayOptions: opts}
	op.Err = c.gone(ctx)
	if op.Err == nil && len(c.script) > 0 && c.script[0].DuringPlay {
		in := c.script[0]
		c.script = c.script[1:]
		switch in.Kind {
		case InputPress:
			c.buffer += in.Digits
			op.Interrupted = opts.Interrupt
		case InputHangUp:
			c.cancel()
			op.Err = call.ErrHungUp
		}
	}
	c.log(op)
	return op.Err
}

// Collect returns buffered digits first, then takes inputs from the script
// until spec is met, a silence (timeout) or a hang-up.
func (c *Channel) Collect(ctx context.Context, spec call.CollectSpec) (call.Collected, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := Op{Kind: "collect", Spec: spec}
	defer func() { c.log(op) }()
	if op.Err = c.gone(ctx); op.Err != nil {
		return op.Collected, op.Err
	}
	var got strings.Builder
	for {
		for c.buffer != "" {
			d := c.buffer[0]
			c.buffer = c.buffer[1:]
			if spec.Terminator != 0 && d == spec.Terminator {
				op.Collected = call.Collected{Digits: got.String(), End: call.CollectTerminated}
				return op.Collected, nil
			}
			got.WriteByte(d)
			if got.Len() >= max(spec.Max, 1) {
				op.Collected = call.Collected{Digits: got.String(), End: call.CollectMax}
				return op.Collected, nil
			}
		}
		if len(c.script) == 0 {
			op.Collected = call.Collected{Digits: got.String(), End: call.CollectTimeout}
			return op.Collected, nil
		}
		in := c.script[0]
		c.script = c.script[1:]
		switch in.Kind {
		case InputPress:
			c.buffer += in.Digits
		case InputHangUp:
			c.cancel()
			op.Collected = call.Collected{Digits: got.String()}
			op.Err = call.ErrHungUp
			return op.Collected, op.Err
		default:
			op.Collected = call.Collected{Digits: got.String(), End: call.CollectTimeout}
			return op.Collected, nil
		}
	}
}

// Record writes nothing and returns when ctx ends or the leg hangs up (at
// once when the script's next input is a hang-up).
func (c *Channel) Record(ctx context.Context, _ call.Sink) error {
	return c.wait(ctx, nil, "record")
}

// Bridge returns when ctx ends or either leg goes away (at once when the
// script's next input is a hang-up); nil when the other leg went.
func (c *Channel) Bridge(ctx context.Context, other call.Channel) error {
	return c.wait(ctx, other.Context().Done(), "bridge")
}

func (c *Channel) wait(ctx context.Context, other <-chan struct{}, kind string) error {
	c.mu.Lock()
	if len(c.script) > 0 && c.script[0].Kind == InputHangUp {
		c.script = c.script[1:]
		c.cancel()
	}
	c.mu.Unlock()
	var err error
	select {
	case <-ctx.Done():
		err = c.gone(ctx)
	case <-c.ctx.Done():
		err = call.ErrHungUp
	case <-other:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log(Op{Kind: kind, Err: err})
	return err
}

// Hangup ends the leg with cause.
func (c *Channel) Hangup(ctx context.Context, cause string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.gone(ctx)
	if err == nil {
		c.cancel()
	}
	c.log(Op{Kind: "hangup", Cause: cause, Err: err})
	return err
}

// Ops is every call made so far, in order.
func (c *Channel) Ops() []Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ops)
}

// Answered reports whether Answer succeeded.
func (c *Channel) Answered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// Played is every prompt played, in order, across playbacks.
func (c *Channel) Played() []call.Prompt {
	var out []call.Prompt
	for _, op := range c.Ops() {
		if op.Kind == "play" {
			out = append(out, op.Prompts...)
		}
	}
	return out
}

// HangupCause is the cause of the engine's Hangup ("" when it did not hang up).
func (c *Channel) HangupCause() string {
	for _, op := range c.Ops() {
		if op.Kind == "hangup" && op.Err == nil {
			return op.Cause
		}
	}
	return ""
}

// Remaining is the part of the script not yet acted out.
func (c *Channel) Remaining() []Input {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.script)
}
