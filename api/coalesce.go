package api

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Dashboards and CRMs poll the same lists (the newest call records, the
// live calls) over and over, many at once. A coalescer lets identical
// requests share one computation of the body without ever answering with
// data read before the request arrived: a request that finds no computation
// of its key under way runs one for itself; one that finds one under way
// (which may have read its data before the request came) joins the next
// run, which starts as soon as that one ends and serves every request that
// joined it. However many identical requests come, a key has at most one run
// under way and one gathering, and a request waits at most for the end of
// the run under way and one more.
type coalescer struct {
	mu   sync.Mutex
	keys map[string]*coalesceKey
}

// coalesceKey is a key with a run under way.
type coalesceKey struct {
	next *flight // the run gathering requests, started when the current one ends
}

// flight is one run shared by the requests that joined it. body and err are
// set before done is closed. The last reader done with the body gives it
// back to bodyBufs.
type flight struct {
	done    chan struct{}
	ctx     context.Context // the first joiner's, without its cancellation
	fn      func(context.Context) ([]byte, error)
	body    []byte
	err     error
	readers int // guarded by coalescer.mu
}

// sharedRunTimeout bounds a shared run, which goes on when the requests
// that joined it give up.
const sharedRunTimeout = 30 * time.Second

// do returns fn's body for key, computed for this request alone when no
// run of key is under way, otherwise by a run shared with the requests
// that come during the current one. release gives the body back once it is
// written. A shared run that fails is not shared: each of its requests
// then runs fn itself, so errors (which handlers and huma may annotate per
// request) are never shared.
func (c *coalescer) do(ctx context.Context, key string, fn func(context.Context) ([]byte, error)) (body []byte, release func(), err error) {
	c.mu.Lock()
	if c.keys == nil {
		c.keys = make(map[string]*coalesceKey)
	}
	k, busy := c.keys[key]
	if !busy {
		k = &coalesceKey{}
		c.keys[key] = k
		c.mu.Unlock()
		body, err := fn(ctx)
		c.finish(key, k)
		return body, func() { putBodyBuf(body) }, err
	}
	f := k.next
	if f == nil {
		f = &flight{done: make(chan struct{}), ctx: context.WithoutCancel(ctx), fn: fn}
		k.next = f
	}
	f.readers++
	c.mu.Unlock()
	select {
	case <-f.done:
		if f.err != nil {
			c.unread(f)
			body, err := fn(ctx)
			return body, func() { putBodyBuf(body) }, err
		}
		return f.body, func() { c.unread(f) }, nil
	case <-ctx.Done():
		c.unread(f)
		return nil, func() {}, ctx.Err()
	}
}

// finish ends the run under way for key: the run gathered meanwhile, if
// any, starts now.
func (c *coalescer) finish(key string, k *coalesceKey) {
	c.mu.Lock()
	f := k.next
	if f == nil {
		delete(c.keys, key)
		c.mu.Unlock()
		return
	}
	k.next = nil // f is the run under way now: requests from here gather anew
	c.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(f.ctx, sharedRunTimeout)
		f.body, f.err = f.fn(ctx)
		cancel()
		// The key is settled (the next run started, or the key gone)
		// before this run's requests are answered, as for a request's
		// own run: once every request has its answer, a key nobody asks
		// for is no longer held.
		c.finish(key, k)
		close(f.done)
	}()
}

// unread notes that a request is done with f's body; the last one gives the
// body back to bodyBufs (if the run has ended: a body nobody waited for is
// left to the collector).
func (c *coalescer) unread(f *flight) {
	c.mu.Lock()
	f.readers--
	last := f.readers == 0
	c.mu.Unlock()
	if !last {
		return
	}
	select {
	case <-f.done:
		if f.err == nil {
			putBodyBuf(f.body)
		}
	default:
	}
}

// jsonStream answers 200 with b, a JSON body computed for the request (or
// shared with others), and then calls release.
func jsonStream(b []byte, release func()) *huma.StreamResponse {
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", "application/json")
		// With its length known the body goes out whole, not chunked.
		hctx.SetHeader("Content-Length", strconv.Itoa(len(b)))
		hctx.SetStatus(http.StatusOK)
		_, _ = hctx.BodyWriter().Write(b)
		release()
	}}
}
