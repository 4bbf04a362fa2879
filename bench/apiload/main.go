// Command apiload sends HTTP GETs to the Dialtone API at a fixed, open-loop
// rate and reports latency percentiles per path and overall.
//
//	go run ./bench/apiload -base http://127.0.0.1:8080 -key KEY -rate 2000 -duration 30s \
//	  -paths '/v1/call-records,/v1/call-records?limit=20&direction=internal,/v1/calls'
//
// Request i is due at start + i/rate whether or not earlier requests have
// answered (open loop), and its latency is measured from that due time, not
// from when a worker picked it up: a server that stalls is charged for every
// request that waited behind the stall (no coordinated omission). Paths are
// taken in turn; name a path twice to send it twice as often. Each of a pool
// of workers keeps one HTTP/1.1 connection alive (client.go, a minimal client
// that costs the shared CPU little); when all are busy, due requests wait in a
// queue and that wait counts in their latency.
//
// The report (text on stderr, JSON on stdout or in -json FILE) gives requests
// planned, sent, answered 2xx, errors by status or transport error, the rate
// reached, p50/p90/p99/p99.9/max latency per path and overall, the worst
// latency per second of the run, and apiload's own CPU time, so a saturated
// load generator is seen rather than blamed on the server.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type job struct {
	path int
	due  time.Time
}

type result struct {
	path    int
	latency time.Duration
	second  int    // second of the run the request was due in
	status  string // "200", "503", "timeout", ...
	ok      bool
	bytes   int64
}

type pathStats struct {
	Path      string             `json:"path"`
	Requests  int                `json:"requests"` // sent, or due and given up unsent
	OK        int                `json:"ok"`
	Errors    map[string]int     `json:"errors,omitempty"`
	BytesMean int64              `json:"bytes_mean"`
	Latency   map[string]string  `json:"latency"`
	LatencyMs map[string]float64 `json:"latency_ms"`
	lat       []time.Duration
	bytes     int64
}

type report struct {
	Base          string       `json:"base"`
	Rate          float64      `json:"rate"`
	Duration      string       `json:"duration"`
	Workers       int          `json:"workers"`
	Planned       int          `json:"planned"`
	Sent          int          `json:"sent"`
	OK            int          `json:"ok"`
	Errors        int          `json:"errors"`
	AchievedRate  float64      `json:"achieved_rate"`
	OKRate        float64      `json:"ok_rate"`
	Elapsed       float64      `json:"elapsed_s"`
	MaxQueue      int          `json:"max_queue"`
	CPUPercent    float64      `json:"loadgen_cpu_percent"`
	Overall       *pathStats   `json:"overall"`
	Paths         []*pathStats `json:"paths"`
	WorstPerSecMs []float64    `json:"worst_per_second_ms"`
}

func main() {
	base := flag.String("base", "http://127.0.0.1:8080", "API base URL")
	key := flag.String("key", "", "API key (Authorization: Bearer)")
	rate := flag.Float64("rate", 2000, "requests per second")
	duration := flag.Duration("duration", 30*time.Second, "how long to send")
	paths := flag.String("paths", "/v1/call-records,/v1/calls", "comma-separated paths, sent in turn")
	workers := flag.Int("workers", 256, "concurrent requests at most (and keep-alive connections)")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout")
	drain := flag.Duration("drain", 10*time.Second, "after -duration, how long requests still queued or in flight may take before they are given up")
	jsonOut := flag.String("json", "", "write the JSON report to this file instead of stdout")
	cpuProfile := flag.String("cpuprofile", "", "write apiload's own CPU profile to this file")
	flag.Parse()
	if *rate <= 0 || *duration <= 0 || *workers <= 0 {
		fmt.Fprintln(os.Stderr, "apiload: -rate, -duration and -workers must be positive")
		os.Exit(2)
	}
	var list []string
	for _, p := range strings.Split(*paths, ",") {
		if p = strings.TrimSpace(p); p != "" {
			list = append(list, p)
		}
	}
	if len(list) == 0 {
		fmt.Fprintln(os.Stderr, "apiload: no paths")
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "apiload:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep := run(ctx, config{base: strings.TrimRight(*base, "/"), key: *key, rate: *rate, duration: *duration,
		paths: list, workers: *workers, timeout: *timeout, drain: *drain})
	printText(os.Stderr, rep)
	out := os.Stdout
	if *jsonOut != "" {
		f, err := os.Create(*jsonOut)
		if err != nil {
			fmt.Fprintln(os.Stderr, "apiload:", err)
			os.Exit(1)
		}
		defer f.Close()
		out = f
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

type config struct {
	base, key string
	rate      float64
	duration  time.Duration
	paths     []string
	workers   int
	timeout   time.Duration
	drain     time.Duration
}

func run(ctx context.Context, c config) *report {
	reqs := make([][]byte, len(c.paths))
	var addr string
	for i, p := range c.paths {
		r, host, err := requestBytes(c.base, p, c.key)
		if err != nil {
			fmt.Fprintln(os.Stderr, "apiload:", err)
			os.Exit(2)
		}
		reqs[i], addr = r, host
	}

	planned := int(c.rate * c.duration.Seconds())
	// The run is bounded: what is still queued or in flight at the
	// deadline is given up and reported ("not sent", "deadline").
	start := time.Now()
	deadline := start.Add(c.duration + c.drain)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// The queue holds every request that may fall due, so the scheduler
	// never blocks on slow workers and due times stay on the clock.
	jobs := make(chan job, planned+1)
	results := make(chan result, 4096)
	var wg sync.WaitGroup
	for range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &client{addr: addr, timeout: c.timeout}
			defer func() {
				if cl.conn != nil {
					cl.conn.Close()
				}
			}()
			for j := range jobs {
				if ctx.Err() != nil {
					// Never sent: its latency is at least the wait so far.
					results <- result{path: j.path, latency: deadline.Sub(j.due), second: int(j.due.Sub(start) / time.Second),
						status: "not sent"}
					continue
				}
				results <- do(ctx, cl, reqs[j.path], j, start)
			}
		}()
	}

	cpu0 := cpuTime()
	maxQueue := 0
	sent := 0
	go func() {
		defer close(jobs)
		interval := float64(time.Second) / c.rate
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for sent < planned {
			// Requests 0..due-1 are due by now (request i at i*interval).
			due := min(planned, int(float64(time.Since(start))/interval)+1)
			for ; sent < due; sent++ {
				jobs <- job{path: sent % len(c.paths), due: start.Add(time.Duration(float64(sent) * interval))}
			}
			if q := len(jobs); q > maxQueue {
				maxQueue = q
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	rep := &report{Base: c.base, Rate: c.rate, Duration: c.duration.String(), Workers: c.workers, Planned: planned}
	all := &pathStats{Path: "all", Errors: map[string]int{}}
	per := make([]*pathStats, len(c.paths))
	for i, p := range c.paths {
		per[i] = &pathStats{Path: p, Errors: map[string]int{}}
	}
	secs := int(c.duration/time.Second) + 1
	worst := make([]time.Duration, secs)
	var last time.Time
	for r := range results {
		last = time.Now()
		for _, s := range []*pathStats{all, per[r.path]} {
			s.Requests++
			s.lat = append(s.lat, r.latency)
			if r.ok {
				s.OK++
				s.bytes += r.bytes
			} else {
				s.Errors[r.status]++
			}
		}
		if r.second >= 0 && r.second < secs && r.latency > worst[r.second] {
			worst[r.second] = r.latency
		}
	}
	cpu := cpuTime() - cpu0
	elapsed := last.Sub(start)
	if elapsed <= 0 {
		elapsed = time.Since(start)
	}
	for _, s := range append([]*pathStats{all}, per...) {
		finish(s)
	}
	rep.Sent, rep.OK, rep.Errors = all.Requests-all.Errors["not sent"], all.OK, all.Requests-all.OK
	rep.Elapsed = round(elapsed.Seconds(), 3)
	// The rate reached is judged over the sending window: requests sent
	// per second of the planned duration (or of the run if it was cut short).
	window := min(c.duration, elapsed).Seconds()
	rep.AchievedRate = round(float64(rep.Sent)/window, 1)
	rep.OKRate = round(float64(all.OK)/window, 1)
	rep.MaxQueue = maxQueue
	rep.CPUPercent = round(100*cpu.Seconds()/elapsed.Seconds(), 1)
	rep.Overall, rep.Paths = all, per
	for _, w := range worst {
		rep.WorstPerSecMs = append(rep.WorstPerSecMs, ms(w))
	}
	return rep
}

func do(ctx context.Context, cl *client, req []byte, j job, start time.Time) result {
	if d := time.Until(j.due); d > 0 {
		time.Sleep(d)
	}
	res := result{path: j.path, second: int(j.due.Sub(start) / time.Second)}
	status, n, err := cl.do(ctx, req)
	res.latency = time.Since(j.due)
	res.bytes = n
	switch {
	case err != nil && status == 0:
		res.status = errKind(ctx, err)
	case err != nil:
		res.status = "body: " + errKind(ctx, err)
	default:
		res.status = strconv.Itoa(status)
		res.ok = status >= 200 && status < 300
	}
	return res
}

func errKind(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return "deadline"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "transport"
}

var quantiles = []struct {
	name string
	q    float64
}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99.9", 0.999}, {"max", 1}}

func finish(s *pathStats) {
	slices.Sort(s.lat)
	s.Latency = map[string]string{}
	s.LatencyMs = map[string]float64{}
	for _, q := range quantiles {
		v := quantile(s.lat, q.q)
		s.Latency[q.name] = v.Round(10 * time.Microsecond).String()
		s.LatencyMs[q.name] = ms(v)
	}
	if s.OK > 0 {
		s.BytesMean = s.bytes / int64(s.OK)
	}
	if len(s.Errors) == 0 {
		s.Errors = nil
	}
}

// quantile is the nearest-rank q-quantile of sorted values.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// cpuTime is the user+system CPU this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func printText(w io.Writer, r *report) {
	fmt.Fprintf(w, "apiload: %s, %.0f req/s planned for %s (%d requests), %d workers\n", r.Base, r.Rate, r.Duration, r.Planned, r.Workers)
	fmt.Fprintf(w, "sent %d, ok %d, errors %d; achieved %.1f req/s (%.1f ok/s) over %.1f s; queue peak %d; apiload CPU %.1f%% of a core\n",
		r.Sent, r.OK, r.Errors, r.AchievedRate, r.OKRate, r.Elapsed, r.MaxQueue, r.CPUPercent)
	fmt.Fprintf(w, "%-60s %7s %7s %9s %9s %9s %9s %9s %9s  %s\n", "path", "requests", "ok", "p50", "p90", "p99", "p99.9", "max", "bytes", "errors")
	for _, s := range append([]*pathStats{r.Overall}, r.Paths...) {
		var errs []string
		for k, v := range s.Errors {
			errs = append(errs, fmt.Sprintf("%s:%d", k, v))
		}
		slices.Sort(errs)
		l := s.LatencyMs
		fmt.Fprintf(w, "%-60s %7d %7d %8.2fms %8.2fms %8.2fms %8.2fms %8.2fms %9d  %s\n", s.Path, s.Requests, s.OK,
			l["p50"], l["p90"], l["p99"], l["p99.9"], l["max"], s.BytesMean, strings.Join(errs, " "))
	}
	fmt.Fprintf(w, "worst latency per second (ms): %v\n", r.WorstPerSecMs)
}
