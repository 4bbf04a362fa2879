package b2bua

import (
	"errors"
	"net/netip"
	"strconv"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
	"github.com/dialtone-pbx/dialtone/media/sdp"
)

// reasonOwnAddr is the AddrError reason of a media address that points at
// the PBX itself (its SIP port, or its RTP range on its own address).
const reasonOwnAddr = "address of the pbx itself"

// protectSignalling tells the port pool where the PBX signals, so no leg
// sends media to or accepts media from the SIP port.
func (b *B2BUA) protectSignalling() {
	if b.pool == nil {
		return
	}
	for _, ua := range b.uas {
		if ua == nil {
			continue
		}
		u := ua.ContactHDR.Address
		ip, err := netip.ParseAddr(u.Host)
		if err != nil || u.Port <= 0 || u.Port > 65535 {
			continue
		}
		b.pool.AddSignalling(netip.AddrPortFrom(ip, uint16(u.Port)))
		if b.cfg.Advertise.IsValid() {
			b.pool.AddSignalling(netip.AddrPortFrom(b.cfg.Advertise, uint16(u.Port)))
		}
	}
}

// checkMedia reports why the remote party's media address cannot be used,
// or nil. initial is true for an initial offer or answer, false for a
// re-offer, where an unspecified address means hold (RFC 3264 §8.4).
func (b *B2BUA) checkMedia(m *sdp.Media, initial bool) error {
	if err := m.CheckAddr(initial); err != nil {
		return err
	}
	if !m.Addr.Addr().IsUnspecified() && b.pool != nil && b.pool.IsOwn(m.Addr) {
		return &sdp.AddrError{Addr: m.Addr, Reason: reasonOwnAddr}
	}
	return nil
}

// usableAnswer reads an SDP answer to the PBX's initial offer: a codec the
// PBX accepts and an address it may send to.
func (b *B2BUA) usableAnswer(body []byte) (*sdp.Media, sdp.Format, error) {
	ans, err := sdp.Parse(body)
	if err != nil {
		return nil, sdp.Format{}, err
	}
	f, err := ans.Choose(b.cfg.Codecs)
	if err != nil {
		return nil, sdp.Format{}, err
	}
	if err := b.checkMedia(ans, true); err != nil {
		return nil, sdp.Format{}, err
	}
	return ans, f, nil
}

// remoteOf is what a media leg needs of a remote description. A party
// that will not send (recvonly, inactive) is never timed out for silence;
// nor is a party holding the call (sendonly, or c=0.0.0.0): RFC 3264 §6.1
// has it send, but many phones send nothing while they hold, and a held
// call must not drop after the media timeout.
func remoteOf(m *sdp.Media, f sdp.Format) media.Remote {
	return media.Remote{Addr: m.Addr, Codec: f.Codec, PayloadType: f.PayloadType, DTMFType: m.DTMFPayloadType,
		Receive: !m.OnHold(), Silent: !m.Sends() || m.OnHold()}
}

// warnMediaAddr is the Warning header (RFC 3261 §20.43) of a 488 that
// refuses a media address, naming why.
func (b *B2BUA) warnMediaAddr(err error) sip.Header {
	reason := "refused"
	var ae *sdp.AddrError
	if errors.As(err, &ae) {
		reason = ae.Reason
	}
	agent := b.cfg.Domain
	if b.cfg.Advertise.IsValid() {
		agent = b.cfg.Advertise.String()
		if ua := b.uas["UDP"]; ua != nil && ua.ContactHDR.Address.Port > 0 {
			agent = netip.AddrPortFrom(b.cfg.Advertise, uint16(ua.ContactHDR.Address.Port)).String()
		}
	}
	return sip.NewHeader("Warning", "305 "+headerSafe(agent)+" "+strconv.Quote("media address not acceptable: "+reason))
}

// refuseOffer answers an INVITE whose offer names an unusable media address
// with 488 and a Warning, before any dialog exists, and ends the call.
func (c *Call) refuseOffer(req *sip.Request, tx sip.ServerTransaction, err error) {
	c.log.Warn("offer refused: media address not acceptable", "error", err, "security", true)
	res := sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
	res.AppendHeader(c.b2b.warnMediaAddr(err))
	_ = tx.Respond(res)
	c.finish(call.BySystem, call.CauseNoCodec, call.Failed)
}
