package api

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCoalescerFreshAndShared: requests for one key, many at once, share
// runs (far fewer runs than requests, never two at a time), yet each gets a
// body whose run began after the request arrived.
func TestCoalescerFreshAndShared(t *testing.T) {
	var c coalescer
	var clock, runs, running, maxRunning atomic.Int64
	fn := func(context.Context) ([]byte, error) {
		runs.Add(1)
		if n := running.Add(1); n > maxRunning.Load() {
			maxRunning.Store(n)
		}
		defer running.Add(-1)
		seen := clock.Load() // the run reads "the data" as it starts
		time.Sleep(2 * time.Millisecond)
		b := append(getBodyBuf(), strconv.FormatInt(seen, 10)...)
		return b, nil
	}
	const requests = 400
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%40) * 250 * time.Microsecond)
			arrived := clock.Add(1)
			b, release, err := c.do(context.Background(), "k", fn)
			if err != nil {
				t.Error(err)
				return
			}
			seen, _ := strconv.ParseInt(string(b), 10, 64)
			release()
			if seen < arrived {
				t.Errorf("request %d arrived at %d got a body read at %d", i, arrived, seen)
			}
		}()
	}
	wg.Wait()
	if n := maxRunning.Load(); n != 1 {
		t.Errorf("%d runs at a time, want 1", n)
	}
	if n := runs.Load(); n >= requests/2 {
		t.Errorf("%d runs for %d requests", n, requests)
	}
	c.mu.Lock()
	left := len(c.keys)
	c.mu.Unlock()
	if left != 0 {
		t.Errorf("%d keys left once idle", left)
	}
	t.Logf("%d runs for %d requests", runs.Load(), requests)
}

// TestCoalescerKeysApart: different keys never share a body.
func TestCoalescerKeysApart(t *testing.T) {
	var c coalescer
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := strconv.Itoa(i % 7)
			b, release, err := c.do(context.Background(), key, func(context.Context) ([]byte, error) {
				time.Sleep(time.Millisecond)
				return []byte(key), nil
			})
			if err != nil || string(b) != key {
				t.Errorf("key %s: body %q, %v", key, b, err)
			}
			release()
		}()
	}
	wg.Wait()
}

// TestCoalescerErrorsNotShared: when a shared run fails, each of its
// requests runs again on its own and gets its own answer.
func TestCoalescerErrorsNotShared(t *testing.T) {
	var c coalescer
	started, proceed := make(chan struct{}), make(chan struct{})
	// The first request's own run holds the key until proceed.
	go func() {
		_, release, _ := c.do(context.Background(), "k", func(context.Context) ([]byte, error) {
			close(started)
			<-proceed
			return []byte("first"), nil
		})
		release()
	}()
	<-started
	var shared, own atomic.Int64
	fn := func(ctx context.Context) ([]byte, error) {
		if ctx.Value(ctxKey(99)) == nil { // the shared run: the first joiner's context without cancellation
			shared.Add(1)
			return nil, errors.New("shared run failed")
		}
		own.Add(1)
		return []byte("own"), nil
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b, release, err := c.do(ctx, "k", func(rctx context.Context) ([]byte, error) {
				if rctx == ctx {
					return fn(context.WithValue(rctx, ctxKey(99), true))
				}
				return fn(rctx)
			})
			if err != nil || string(b) != "own" {
				t.Errorf("body %q, %v; want own", b, err)
			}
			release()
		}()
	}
	time.Sleep(20 * time.Millisecond) // all five have joined the gathering run
	close(proceed)
	wg.Wait()
	if shared.Load() != 1 || own.Load() != 5 {
		t.Errorf("%d shared runs, %d own; want 1 and 5", shared.Load(), own.Load())
	}
}

// TestCoalescerCancel: a request that gives up while waiting for a shared
// run returns at once with its context's error.
func TestCoalescerCancel(t *testing.T) {
	var c coalescer
	started, proceed := make(chan struct{}), make(chan struct{})
	go func() {
		_, release, _ := c.do(context.Background(), "k", func(context.Context) ([]byte, error) {
			close(started)
			<-proceed
			return nil, nil
		})
		release()
	}()
	<-started
	defer close(proceed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, _, err := c.do(ctx, "k", func(context.Context) ([]byte, error) { return []byte("late"), nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", err)
	}
}
