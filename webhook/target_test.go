package webhook

import (
	"net/netip"
	"testing"
)

// TestForbiddenSpecialPurposeAddresses checks the IANA IPv4 and IPv6
// special-purpose registries, and that public addresses pass.
func TestForbiddenSpecialPurposeAddresses(t *testing.T) {
	tests := []struct {
		addr      string
		forbidden bool
	}{
		{"0.0.0.0", true},          // this host (RFC 791)
		{"0.1.2.3", true},          // this network 0.0.0.0/8
		{"10.1.2.3", true},         // private (RFC 1918)
		{"100.64.0.1", true},       // shared address space, CGNAT (RFC 6598)
		{"100.127.255.254", true},  // end of 100.64.0.0/10
		{"127.0.0.1", true},        // loopback
		{"127.255.255.254", true},  // loopback
		{"169.254.169.254", true},  // link-local, cloud metadata
		{"172.16.0.1", true},       // private
		{"172.31.255.255", true},   // private
		{"192.0.0.8", true},        // IETF protocol assignments 192.0.0.0/24
		{"192.0.0.170", true},      // NAT64/DNS64 discovery
		{"192.0.2.10", true},       // TEST-NET-1
		{"192.88.99.1", true},      // 6to4 relay anycast
		{"192.168.1.1", true},      // private
		{"198.18.0.1", true},       // benchmarking 198.18.0.0/15
		{"198.19.255.255", true},   // benchmarking
		{"198.51.100.7", true},     // TEST-NET-2
		{"203.0.113.9", true},      // TEST-NET-3
		{"224.0.0.1", true},        // multicast
		{"239.255.255.250", true},  // multicast (SSDP)
		{"240.0.0.1", true},        // reserved 240.0.0.0/4
		{"255.255.255.255", true},  // limited broadcast
		{"::", true},               // unspecified
		{"::1", true},              // loopback
		{"::ffff:127.0.0.1", true}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", true},  // IPv4-mapped private
		{"::ffff:169.254.169.254", true},
		{"::10.0.0.1", true},            // IPv4-compatible, ::/96
		{"64:ff9b::a00:1", true},        // NAT64 of 10.0.0.1
		{"64:ff9b:1::1", true},          // local-use NAT64 64:ff9b:1::/48
		{"100::1", true},                // discard-only 100::/64
		{"2001::1", true},               // Teredo, IETF protocol assignments 2001::/23
		{"2001:2::1", true},             // benchmarking
		{"2001:db8::1", true},           // documentation
		{"2002:a00:1::1", true},         // 6to4 of 10.0.0.1
		{"2002:7f00:1::1", true},        // 6to4 of 127.0.0.1
		{"3fff::1", true},               // documentation (RFC 9637)
		{"fc00::1", true},               // unique local
		{"fd12:3456::1", true},          // unique local
		{"fe80::1", true},               // link-local
		{"ff02::1", true},               // multicast
		{"8.8.8.8", false},              // public
		{"1.1.1.1", false},              // public
		{"93.184.216.34", false},        // public
		{"100.63.255.255", false},       // just below CGNAT
		{"172.32.0.1", false},           // just above 172.16.0.0/12
		{"::ffff:8.8.8.8", false},       // IPv4-mapped public
		{"2606:4700:4700::1111", false}, // public IPv6
		{"2a00:1450:4001:81c::200e", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := Forbidden(netip.MustParseAddr(tt.addr)); got != tt.forbidden {
				t.Fatalf("Forbidden(%s) = %v, want %v", tt.addr, got, tt.forbidden)
			}
		})
	}
	if !Forbidden(netip.Addr{}) {
		t.Fatal("the zero address must be forbidden")
	}
}
