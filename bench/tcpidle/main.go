// Command tcpidle opens many idle TCP connections to a SIP server and holds
// them without sending anything, to measure what silent connections cost the
// server and whether it keeps serving others meanwhile.
//
//	tcpidle -addr 127.0.0.1:25660 -n 20000 -from 127.0.0.100 -sources 100 -hold 40s
//
// Connections are dialled from -sources consecutive loopback addresses
// starting at -from, at most -parallel at a time. Each one is then read from
// until the server closes it or the hold ends; a read that returns first
// counts as closed by the server (reset or end of stream). It prints a
// progress line every second, "dialled" when every dial has returned, and a
// summary with key=value fields at the end. With -redial, a connection the
// server held for a second or more and then closed is dialled again from the
// same source until the hold ends, as an attacker keeping its connections
// would.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type counters struct {
	connected  atomic.Int64
	dialFailed atomic.Int64
	open       atomic.Int64
	peakOpen   atomic.Int64
	resets     atomic.Int64 // closed by the server with a reset
	eofs       atomic.Int64 // closed by the server with a FIN
	otherErr   atomic.Int64 // read failed otherwise
	released   atomic.Int64 // still open when the hold ended
	redialled  atomic.Int64

	mu       sync.Mutex
	dialErrs map[string]int
	lifetime []time.Duration // of connections the server closed
}

func main() {
	addr := flag.String("addr", "127.0.0.1:5060", "SIP server address (host:port)")
	n := flag.Int("n", 20000, "connections to open")
	from := flag.String("from", "127.0.0.100", "first source address")
	sources := flag.Int("sources", 100, "consecutive source addresses used in turn")
	hold := flag.Duration("hold", 30*time.Second, "how long to hold the connections once every dial has returned")
	parallel := flag.Int("parallel", 256, "dials in flight at once")
	dialTimeout := flag.Duration("dial-timeout", 5*time.Second, "timeout of one dial")
	redial := flag.Bool("redial", false, "dial again each connection the server held at least 1s and then closed")
	flag.Parse()

	first, err := netip.ParseAddr(*from)
	if err != nil || !first.Is4() {
		fmt.Fprintf(os.Stderr, "-from %q: want an IPv4 address\n", *from)
		os.Exit(2)
	}
	if *sources < 1 || *n < 1 {
		fmt.Fprintln(os.Stderr, "-n and -sources must be positive")
		os.Exit(2)
	}
	src := make([]*net.TCPAddr, *sources)
	a := first
	for i := range src {
		src[i] = &net.TCPAddr{IP: a.AsSlice()}
		a = a.Next()
	}
	fmt.Printf("file descriptor limit %d\n", raiseFileLimit())

	c := &counters{dialErrs: map[string]int{}}
	start := time.Now()
	holdEnd := make(chan struct{})
	var readers sync.WaitGroup
	var conns sync.Map // net.Conn -> struct{}

	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Printf("t=%.0fs connected=%d open=%d closed_by_server=%d dial_failed=%d\n",
					time.Since(start).Seconds(), c.connected.Load(), c.open.Load(),
					c.resets.Load()+c.eofs.Load(), c.dialFailed.Load())
			case <-stopProgress:
				return
			}
		}
	}()

	// dial opens one connection from local and watches it.
	var dial func(local *net.TCPAddr)
	dial = func(local *net.TCPAddr) {
		d := net.Dialer{LocalAddr: local, Timeout: *dialTimeout}
		conn, err := d.Dial("tcp", *addr)
		if err != nil {
			c.dialFailed.Add(1)
			c.mu.Lock()
			c.dialErrs[errorKind(err)]++
			c.mu.Unlock()
			return
		}
		c.connected.Add(1)
		if o := c.open.Add(1); o > c.peakOpen.Load() {
			c.peakOpen.Store(o) // a racy peak is close enough for a report
		}
		conns.Store(conn, struct{}{})
		select {
		case <-holdEnd: // dialled again as the hold ended: not closed by the final sweep
			_ = conn.Close()
		default:
		}
		readers.Add(1)
		go func() {
			defer readers.Done() // after a redial has added its own reader
			held := c.watch(conn, holdEnd, &conns)
			if *redial && held >= time.Second {
				select {
				case <-holdEnd:
				default:
					c.redialled.Add(1)
					dial(local)
				}
			}
		}()
	}
	sem := make(chan struct{}, *parallel)
	var dials sync.WaitGroup
	for i := 0; i < *n; i++ {
		sem <- struct{}{}
		dials.Add(1)
		go func(local *net.TCPAddr) {
			defer dials.Done()
			defer func() { <-sem }()
			dial(local)
		}(src[i%len(src)])
	}
	dials.Wait()
	fmt.Printf("dialled in %.1fs: connected=%d dial_failed=%d open=%d\n",
		time.Since(start).Seconds(), c.connected.Load(), c.dialFailed.Load(), c.open.Load())

	time.Sleep(*hold)
	close(holdEnd)
	conns.Range(func(k, _ any) bool {
		_ = k.(net.Conn).Close()
		return true
	})
	readers.Wait()
	close(stopProgress)

	c.mu.Lock()
	defer c.mu.Unlock()
	kinds := make([]string, 0, len(c.dialErrs))
	for k, v := range c.dialErrs {
		kinds = append(kinds, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(kinds)
	sort.Slice(c.lifetime, func(i, j int) bool { return c.lifetime[i] < c.lifetime[j] })
	under1s := sort.Search(len(c.lifetime), func(i int) bool { return c.lifetime[i] >= time.Second })
	fmt.Printf("summary attempted=%d connected=%d dial_failed=%d dial_errors=%v peak_open=%d "+
		"closed_by_server=%d resets=%d fins=%d read_errors=%d closed_within_1s=%d median_life=%s max_life=%s "+
		"held_to_end=%d redialled=%d elapsed=%.1fs\n",
		*n, c.connected.Load(), c.dialFailed.Load(), kinds, c.peakOpen.Load(),
		c.resets.Load()+c.eofs.Load(), c.resets.Load(), c.eofs.Load(), c.otherErr.Load(), under1s,
		percentile(c.lifetime, 0.5), percentile(c.lifetime, 1), c.released.Load(), c.redialled.Load(), time.Since(start).Seconds())
}

// watch reads from conn until the server closes it or the hold ends, and
// returns how long the server held it (0 when the hold ended first).
func (c *counters) watch(conn net.Conn, holdEnd <-chan struct{}, conns *sync.Map) time.Duration {
	opened := time.Now()
	buf := make([]byte, 512)
	var err error
	for err == nil {
		_, err = conn.Read(buf) // the server may answer a keep-alive; nothing is sent here
	}
	conns.Delete(conn)
	_ = conn.Close()
	c.open.Add(-1)
	select {
	case <-holdEnd:
		c.released.Add(1)
		return 0
	default:
	}
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		c.resets.Add(1)
	case errors.Is(err, io.EOF):
		c.eofs.Add(1)
	default:
		c.otherErr.Add(1)
		return 0
	}
	life := time.Since(opened)
	c.mu.Lock()
	c.lifetime = append(c.lifetime, life)
	c.mu.Unlock()
	return life
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit and returns it.
func raiseFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return lim.Cur
}

func errorKind(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return strings.ReplaceAll(errno.Error(), " ", "_")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "other"
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d)-1) * p)
	return d[i].Round(time.Millisecond)
}
