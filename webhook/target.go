package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"code.dny.dev/ssrf"
)

// ErrPrivateTarget means a URL points into a loopback, private or link-local network.
var ErrPrivateTarget = errors.New("webhook: target address is not public")

// targets judges destination addresses against the IANA IPv4 and IPv6
// special-purpose address registries (code.dny.dev/ssrf keeps them,
// generated from IANA's files): only IPv4 addresses outside every reserved
// block and IPv6 global unicast addresses outside the reserved ones pass.
var targets = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork())

// Forbidden reports whether ip is an address a webhook must not reach: the
// PBX's own host and networks and every special-purpose block (loopback,
// private, link-local, CGNAT, this-network, benchmarking, documentation,
// reserved, broadcast, multicast; in IPv6 anything outside 2000::/3, and
// the reserved blocks inside it such as 2002::/16 and 2001::/23). An
// IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
func Forbidden(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	return targets.SafeAddr(ip) != nil
}

// CheckURL validates a subscription URL: http or https, a host, no
// credentials, and (unless allowPrivate) every address the host resolves to
// is public.
func CheckURL(ctx context.Context, raw string, allowPrivate bool, resolver *net.Resolver) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an absolute http or https URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials; use the signature to authenticate")
	}
	if strings.ContainsAny(raw, " \r\n") {
		return errors.New("must not contain spaces or line breaks")
	}
	if allowPrivate {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if Forbidden(ip) {
			return fmt.Errorf("%w (%s)", ErrPrivateTarget, ip)
		}
		return nil
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	ips, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return fmt.Errorf("host %q does not resolve", host)
	}
	for _, ip := range ips {
		if Forbidden(ip) {
			return fmt.Errorf("%w (%s resolves to %s)", ErrPrivateTarget, host, ip)
		}
	}
	return nil
}

// dialControl refuses, at connect time, addresses CheckURL would refuse, so a
// name that resolves differently at delivery (DNS rebinding) gains nothing.
func dialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	if Forbidden(ap.Addr()) {
		return fmt.Errorf("%w (%s)", ErrPrivateTarget, ap.Addr())
	}
	return nil
}
