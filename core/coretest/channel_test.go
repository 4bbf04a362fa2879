package coretest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/coretest"
)

func TestChannelCollect(t *testing.T) {
	ctx := context.Background()
	one := call.CollectSpec{Max: 1, FirstDigit: 5 * time.Second}
	four := call.CollectSpec{Max: 4, Terminator: '#', FirstDigit: 5 * time.Second, InterDigit: 3 * time.Second}
	tests := []struct {
		name   string
		script []coretest.Input
		spec   call.CollectSpec
		want   call.Collected
		err    error
	}{
		{"one digit", []coretest.Input{coretest.Press("7")}, one, call.Collected{Digits: "7", End: call.CollectMax}, nil},
		{"silence", []coretest.Input{coretest.Silence()}, one, call.Collected{End: call.CollectTimeout}, nil},
		{"script ran out", nil, one, call.Collected{End: call.CollectTimeout}, nil},
		{"several presses up to max", []coretest.Input{coretest.Press("12"), coretest.Press("345")}, four, call.Collected{Digits: "1234", End: call.CollectMax}, nil},
		{"terminator", []coretest.Input{coretest.Press("12#9")}, four, call.Collected{Digits: "12", End: call.CollectTerminated}, nil},
		{"inter-digit timeout", []coretest.Input{coretest.Press("12"), coretest.Silence()}, four, call.Collected{Digits: "12", End: call.CollectTimeout}, nil},
		{"hang up", []coretest.Input{coretest.Press("1"), coretest.HangUp()}, four, call.Collected{Digits: "1"}, call.ErrHungUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := coretest.NewChannel(tt.script...)
			got, err := ch.Collect(ctx, tt.spec)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
			if (tt.err != nil) != (ch.Context().Err() != nil) {
				t.Fatalf("leg context %v after %v", ch.Context().Err(), err)
			}
		})
	}
}

func TestChannelPlay(t *testing.T) {
	ctx := context.Background()
	t.Run("barge-in buffers the digit", func(t *testing.T) {
		ch := coretest.NewChannel(coretest.PressDuringPlay("23"))
		if err := ch.Play(ctx, []call.Prompt{"greeting"}, call.PlayOptions{Interrupt: true}); err != nil {
			t.Fatal(err)
		}
		ops := ch.Ops()
		if !ops[0].Interrupted {
			t.Fatal("playback not interrupted")
		}
		got, _ := ch.Collect(ctx, call.CollectSpec{Max: 1})
		if got.Digits != "2" {
			t.Fatalf("collected %q", got.Digits)
		}
		got, _ = ch.Collect(ctx, call.CollectSpec{Max: 1})
		if got.Digits != "3" {
			t.Fatalf("second collect %q", got.Digits)
		}
	})
	t.Run("a collect input is left for the collect", func(t *testing.T) {
		ch := coretest.NewChannel(coretest.Press("5"))
		if err := ch.Play(ctx, []call.Prompt{"a"}, call.PlayOptions{Interrupt: true}); err != nil {
			t.Fatal(err)
		}
		if len(ch.Remaining()) != 1 || ch.Ops()[0].Interrupted {
			t.Fatal("play consumed a collect input")
		}
	})
	t.Run("hang-up during play", func(t *testing.T) {
		ch := coretest.NewChannel(coretest.HangUpDuringPlay())
		if err := ch.Play(ctx, []call.Prompt{"a"}, call.PlayOptions{}); !errors.Is(err, call.ErrHungUp) {
			t.Fatalf("play: %v", err)
		}
		if err := ch.Answer(ctx); !errors.Is(err, call.ErrHungUp) {
			t.Fatalf("answer after hang-up: %v", err)
		}
		if ch.Answered() {
			t.Fatal("answered a gone leg")
		}
	})
	t.Run("hangup by the engine", func(t *testing.T) {
		ch := coretest.NewChannel()
		if err := ch.Hangup(ctx, call.CauseNormal); err != nil {
			t.Fatal(err)
		}
		if ch.HangupCause() != call.CauseNormal || ch.Context().Err() == nil {
			t.Fatalf("cause %q, ctx %v", ch.HangupCause(), ch.Context().Err())
		}
	})
	t.Run("bridge ends when the other leg goes", func(t *testing.T) {
		a, b := coretest.NewChannel(), coretest.NewChannel(coretest.HangUp())
		done := make(chan error, 1)
		go func() { done <- a.Bridge(ctx, b) }()
		go func() { _ = b.Record(ctx, nil) }()
		if err := <-done; err != nil {
			t.Fatalf("bridge: %v", err)
		}
	})
}
