package auth

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// memExtension is an extension as the store returns it: every string its
// own allocation.
func memExtension(i int) *core.Extension {
	number := fmt.Sprintf("%d", 100000+i)
	return &core.Extension{
		ID: core.ExtensionID(fmt.Sprintf("ext_01JABCDEFGHJKMNPQRS%07d", i)),
		ExtensionSpec: core.ExtensionSpec{
			Number: number, Name: fmt.Sprintf("Phone user %d", i), Email: fmt.Sprintf("user%d@example.com", i),
			Language: strings.Clone("en"), Timezone: strings.Clone("Europe/Berlin"), Enabled: true, RingTimeoutSeconds: 25,
			SIPUsername: strings.Clone(number), CallPermissions: strings.Split(strings.Clone("internal,national,mobile"), ","),
		},
		SIPPassword: core.Secret(fmt.Sprintf("bench-password-%06d", i)),
		Version:     1, CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
}

// BenchmarkUsersHeapPerEntry reports the heap kept per cached name for
// 10,000 extensions: read lazily as 10,000 phones authenticate once each
// (the name comes from the Authorization header of the request, as in
// authenticate), and preloaded in one pass.
func BenchmarkUsersHeapPerEntry(b *testing.B) {
	const n = 10_000
	find := func(_ context.Context, key string) (*core.Extension, error) {
		var i int
		if _, err := fmt.Sscanf(key, "%d", &i); err != nil {
			return nil, core.ErrNotFound
		}
		return memExtension(i - 100000), nil
	}
	each := func(_ context.Context, fn func(*core.Extension) error) error {
		for i := range n {
			if err := fn(memExtension(i)); err != nil {
				return err
			}
		}
		return nil
	}
	fill := map[string]func(u *Users){
		"lazy": func(u *Users) {
			for i := range n {
				header := fmt.Sprintf(`Digest username="%d", realm="pbx.test", nonce="MTc1MDAwMDAwMC4xMjM0NTY3ODkwYWJjZGVm", `+
					`uri="sip:pbx.test", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="c0ffee", qop=auth, nc=00000001`, 100000+i)
				u.Get(context.Background(), header[len(`Digest username="`):len(`Digest username="`)+6])
			}
		},
		"preload": func(u *Users) {
			if _, err := u.Preload(context.Background(), each); err != nil {
				b.Fatal(err)
			}
		},
	}
	for _, name := range []string{"lazy", "preload"} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				u := NewUsers("pbx.test", find, find, nil)
				u.Enable()
				fill[name](u)
				runtime.GC()
				runtime.ReadMemStats(&after)
				if u.Len() != n {
					b.Fatalf("%d cached", u.Len())
				}
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/entry")
				runtime.KeepAlive(u)
			}
		})
	}
}
