package core

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// ExtensionID identifies an extension ("ext_...").
type ExtensionID string

// APIKeyID identifies an API key ("key_...").
type APIKeyID string

// ID prefixes, one per resource kind.
const (
	PrefixExtension = "ext_"
	PrefixAPIKey    = "key_"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 80 random bits, lower-case and URL safe.
func NewID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + idEncoding.EncodeToString(b[:])
}

// Ordered ids: the time (44 bits of Unix milliseconds) in front of 36 bits
// that start random each millisecond and count up within it, in the same
// 16 characters as NewID. The alphabet is in ASCII order, so ids sort by
// when they were made. Records written at a high rate (calls, events,
// webhook deliveries) take them: an index on such an id grows at its end,
// so a batch of inserts touches a few pages instead of one page per row.
const (
	orderedCountBits = 36
	orderedTimeBits  = 80 - orderedCountBits
)

var ordered struct {
	mu    sync.Mutex
	ms    uint64 // milliseconds of the last id
	count uint64 // its low bits
}

// NewOrderedID returns prefix followed by an id later than every id this
// process made before it, whatever the clock does, and unique among them.
// Within a millisecond the count starts at a random value below half its
// range, so ids of two processes seldom meet.
func NewOrderedID(prefix string) string {
	return prefix + orderedID(uint64(time.Now().UnixMilli()))
}

func orderedID(ms uint64) string {
	ms &= 1<<orderedTimeBits - 1
	var r [8]byte
	_, _ = rand.Read(r[:])
	start := binary.BigEndian.Uint64(r[:]) & (1<<(orderedCountBits-1) - 1)
	ordered.mu.Lock()
	if ms > ordered.ms {
		ordered.ms, ordered.count = ms, start
	} else if ordered.count++; ordered.count == 1<<orderedCountBits {
		ordered.ms, ordered.count = ordered.ms+1, 0
	}
	ms, count := ordered.ms, ordered.count
	ordered.mu.Unlock()
	var b [10]byte
	binary.BigEndian.PutUint64(b[:8], ms<<(64-orderedTimeBits)|count>>(orderedCountBits-(64-orderedTimeBits)))
	binary.BigEndian.PutUint16(b[8:], uint16(count))
	return idEncoding.EncodeToString(b[:])
}

// HasPrefix reports whether id is a well-formed identifier with the given prefix.
func HasPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != 16 {
		return false
	}
	for _, c := range rest {
		if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", c) {
			return false
		}
	}
	return true
}
