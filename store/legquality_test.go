package store

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// unmarshalQuality is what decodeQuality must always agree with.
func unmarshalQuality(s string) call.LegQuality {
	var q call.LegQuality
	_ = json.Unmarshal([]byte(s), &q)
	return q
}

// TestDecodeQualityRoundTrip: what toCallRecordRow writes is read back
// directly, without encoding/json.
func TestDecodeQualityRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	codecs := []string{"", "PCMA", "PCMU", "telephone-event", "G722", "caf\u00e9"}
	floats := []float64{0, 0.02, 1.25, 12.5, 1e-7, 3e21, 123456.789, math.MaxFloat64}
	for range 5000 {
		q := call.LegQuality{Codec: codecs[r.IntN(len(codecs))], PacketsIn: r.Uint64() >> r.IntN(64), PacketsOut: r.Uint64() >> r.IntN(64),
			BytesIn: r.Uint64() >> r.IntN(64), BytesOut: r.Uint64() >> r.IntN(64), Lost: uint64(r.IntN(3)), JitterMs: floats[r.IntN(len(floats))]}
		b, _ := json.Marshal(q)
		var got call.LegQuality
		if !parseQuality(string(b), &got) {
			t.Fatalf("%s: not read directly", b)
		}
		if got != q {
			t.Fatalf("%s: read %+v, want %+v", b, got, q)
		}
	}
}

// FuzzDecodeQuality: whatever the stored text, decodeQuality gives what
// json.Unmarshal gives.
func FuzzDecodeQuality(f *testing.F) {
	for _, s := range []string{
		`{"codec":"PCMA","packets_in":1,"packets_out":2,"bytes_in":3,"bytes_out":4,"lost":0,"jitter_ms":1.25}`,
		`{}`, `{"codec":"PCMU"}`, `{"lost":007}`, `{"lost":-1}`, `{"lost":1.5}`, `{"lost":18446744073709551616}`,
		`{"jitter_ms":1e400}`, `{"jitter_ms":.5}`, `{"jitter_ms":-0.0}`, `{"jitter_ms":1E+2}`, `{"Codec":"x"}`,
		`{"codec":"a\"b"}`, `{"codec":"\u0041"}`, `{"codec":"\xff"}`, `{"codec":null}`, `{"lost":1,}`, `{"lost":1}}`,
		`{"lost": 1}`, `{"lost":1,"lost":2}`, `{"extra":1}`, `null`, ``, `{"codec":"PCMA","codec":"PCMU"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got call.LegQuality
		decodeQuality(s, &got)
		want := unmarshalQuality(s)
		if got != want && !(math.IsNaN(got.JitterMs) && math.IsNaN(want.JitterMs)) {
			t.Fatalf("%q: decoded %+v, encoding/json %+v", s, got, want)
		}
	})
}

func BenchmarkDecodeQuality(b *testing.B) {
	s := `{"codec":"PCMA","packets_in":1200,"packets_out":1190,"bytes_in":206400,"bytes_out":204680,"lost":3,"jitter_ms":1.25}`
	b.Run("direct", func(b *testing.B) {
		var q call.LegQuality
		for b.Loop() {
			decodeQuality(s, &q)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			unmarshalQuality(s)
		}
	})
}
