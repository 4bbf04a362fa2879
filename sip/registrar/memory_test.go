package registrar

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
)

// discardRepo is a registration store that keeps nothing, so that only the
// registry's own memory (its persistence queue included) is measured.
type discardRepo struct {
	mu    sync.Mutex
	saved int
}

func (d *discardRepo) LoadRegistrations(context.Context, time.Time) ([]core.Registration, error) {
	return nil, nil
}

func (d *discardRepo) SaveRegistrations(_ context.Context, up []core.Registration, _ []core.RegistrationKey) error {
	d.mu.Lock()
	d.saved += len(up)
	d.mu.Unlock()
	return nil
}

func registerRequest(tb testing.TB, user string, i int) *sip.Request {
	raw := fmt.Sprintf("REGISTER sip:pbx.test SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 10.1.%d.%d:5062;branch=z9hG4bK-%08d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%s@pbx.test>;tag=%08d\r\n"+
		"To: <sip:%s@pbx.test>\r\n"+
		"Call-ID: %08x-4a1c-11ef-9b2e-%012d\r\n"+
		"CSeq: 1 REGISTER\r\n"+
		"Contact: <sip:%s@10.1.%d.%d:5062;transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-%012d>\"\r\n"+
		"Expires: 3600\r\n"+
		"User-Agent: Yealink SIP-T46S 66.86.0.15\r\n"+
		"Content-Length: 0\r\n\r\n", i/250, i%250, i, user, i, user, i, i, user, i/250, i%250, i)
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		tb.Fatal(err)
	}
	req := m.(*sip.Request)
	req.SetSource(fmt.Sprintf("10.1.%d.%d:5062", i/250, i%250))
	return req
}

// bytesPerRegistration registers n phones, one per extension, through
// Registrar.Register on a persisting registry and returns the heap they
// keep, per registration, once the requests are garbage.
func bytesPerRegistration(tb testing.TB, n int) float64 {
	tb.Helper()
	ctx := context.Background()
	reg := NewRegistry(5, nil)
	if _, err := reg.Restore(ctx, &discardRepo{}, PersistConfig{FlushEvery: time.Hour}, slog.New(slog.DiscardHandler)); err != nil {
		tb.Fatal(err)
	}
	defer reg.Close(ctx)
	g := &Registrar{Registry: reg, Limits: DefaultLimits()}
	exts := make([]*core.Extension, n)
	for i := range n {
		user := fmt.Sprintf("%d", 100000+i)
		exts[i] = &core.Extension{ID: core.ExtensionID(core.NewID(core.PrefixExtension)), ExtensionSpec: core.ExtensionSpec{SIPUsername: user}}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		if res := g.Register(registerRequest(tb, exts[i].SIPUsername, i), exts[i]); res.StatusCode != sip.StatusOK {
			tb.Fatalf("REGISTER %d: %d", i, res.StatusCode)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := reg.Count(); got != n {
		tb.Fatalf("%d bindings, want %d", got, n)
	}
	runtime.KeepAlive(exts)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// BenchmarkRegistryMemory reports the heap kept per registration of 10,000
// phones (requests parsed by sipgo, bindings, the persistence queue).
func BenchmarkRegistryMemory(b *testing.B) {
	for range b.N {
		b.ReportMetric(bytesPerRegistration(b, 10_000), "bytes/registration")
	}
}
