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
)

// ErrPrivateTarget means a URL points into a loopback, private or link-local network.
var ErrPrivateTarget = errors.New("webhook: target address is not public")

// Forbidden reports whether ip is an address a webhook must not reach: the
// PBX's own host and networks (loopback, RFC 1918 and RFC 4193 private,
// link-local, CGNAT, unspecified, multicast).
func Forbidden(ip netip.Addr) bool {
	ip = ip.Unmap()
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || cgnat.Contains(ip) || !ip.IsValid()
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
