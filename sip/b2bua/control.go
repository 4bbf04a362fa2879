package b2bua

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
	"github.com/dialtone-pbx/dialtone/media/sdp"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

// answered returns the live, answered call with id.
func (b *B2BUA) answered(id call.ID) (*Call, error) {
	b.mu.Lock()
	c, ok := b.calls[id]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("call %s: %w", id, core.ErrNotFound)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != call.StateAnswered {
		return nil, fmt.Errorf("call %s is %s, not answered: %w", id, c.state, core.ErrConflict)
	}
	if c.b == nil || c.relay == nil {
		// Answered by the PBX itself (a call plan, a transfer ringing):
		// there is no second party to hold, transfer or send digits to.
		return nil, fmt.Errorf("call %s is not connected to a second party: %w", id, core.ErrConflict)
	}
	return c, nil
}

// Hold puts both parties on hold (each phone is offered sendonly and stops
// sending) or resumes the call.
func (b *B2BUA) Hold(ctx context.Context, id call.ID, hold bool) error {
	c, err := b.answered(id)
	if err != nil {
		return err
	}
	dir := sdp.SendRecv
	t := core.EventCallResumed
	if hold {
		dir, t = sdp.SendOnly, core.EventCallHeld
	}
	done := make(chan struct{}, 2)
	go func() { c.relayHold(true, dir); done <- struct{}{} }()
	go func() { c.relayHold(false, dir); done <- struct{}{} }()
	<-done
	<-done
	// Both parties hear the call's music while the PBX holds it.
	c.holdMusic(true, hold)
	c.holdMusic(false, hold)
	c.emit(t, func(d *call.EventData) { d.HeldBy = "api" })
	return nil
}

// SendDTMF plays digits to one party as RFC 4733 events.
func (b *B2BUA) SendDTMF(ctx context.Context, id call.ID, party, digits string) error {
	c, err := b.answered(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	leg := c.bLeg
	if party == "caller" {
		leg = c.aLeg
	}
	c.mu.Unlock()
	if err := leg.SendDTMF(ctx, digits); err != nil {
		if errors.Is(err, media.ErrNoTelephoneEvent) {
			return fmt.Errorf("the %s's phone did not negotiate RFC 4733: %w", party, core.ErrConflict)
		}
		return err
	}
	return nil
}

// Transfer replaces one party of an answered call (released: "caller" or
// "callee") with the extension number. The released party stays connected
// until the new one answers; if nobody answers, the call goes on as before.
func (b *B2BUA) Transfer(ctx context.Context, id call.ID, released, number string) error {
	c, err := b.answered(id)
	if err != nil {
		return err
	}
	target, err := b.dir.ExtensionByNumber(ctx, number)
	if errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("no extension or outbound route for %s: %w", number, core.ErrNoRoute)
	} else if err != nil {
		return err
	}
	phones := b.registry.Lookup(target.ID)
	if !target.Enabled || len(phones) == 0 {
		return fmt.Errorf("extension %s has no registered phone: %w", number, core.ErrUnavailable)
	}
	go c.transfer(released == "caller", target, phones)
	return nil
}

func (c *Call) transfer(replaceA bool, target *core.Extension, phones []registrar.Binding) {
	b := c.b2b
	c.mu.Lock()
	leg, local, old := c.bLeg, &c.bLocal, c.b
	keeper := c.fromExt
	if replaceA {
		leg, local, old = c.aLeg, &c.aLocal, c.a
		keeper = c.toExt
	}
	local.Version++
	local.Direction = sdp.SendRecv
	local.Codecs = b.cfg.Codecs
	local.DTMF = sdp.DefaultDTMFPayloadType
	offer := local.Marshal()
	c.mu.Unlock()
	presented := &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: c.rec.FromNumber, Name: c.rec.FromName}}
	if keeperExt, err := b.dir.GetExtension(context.Background(), keeper); err == nil {
		presented = keeperExt
	}
	ring, cancel := context.WithTimeout(context.Background(), time.Duration(target.RingTimeoutSeconds)*time.Second)
	defer cancel()
	won, _ := b.fork(ring, phones, dialSpec{offer: offer, from: presented, to: target, log: c.log})
	if won == nil {
		c.log.Info("transfer not answered; the call goes on", "to", target.Number)
		return
	}
	if err := b.accept(won, leg); err != nil {
		c.log.Warn("transfer target's answer unusable", "error", err)
		bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = won.sess.Bye(bctx)
		bcancel()
		return
	}
	c.mu.Lock()
	if c.state != call.StateAnswered {
		c.mu.Unlock()
		bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = won.sess.Bye(bctx)
		bcancel()
		return
	}
	if replaceA {
		c.a = uacDialog{won.sess}
		c.fromExt = target.ID
	} else {
		c.b = uacDialog{won.sess}
		c.bContact = won.binding.Contact
		c.toExt = target.ID
	}
	c.mu.Unlock()
	c.lighten(replaceA)
	b.swapDialog(old.dialogID(), won.sess.ID, c)
	// The party that stays talks to the new one: no music any more.
	c.stopMOH(!replaceA)
	c.stopMOH(replaceA)
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = old.Bye(bctx)
	_ = old.Close()
	bcancel()
	c.log.Info("call transferred", "to", target.Number)
	c.emit(core.EventCallTransferred, func(d *call.EventData) { d.TransferredTo = target.Number })
}

func (b *B2BUA) swapDialog(oldID, newID string, c *Call) {
	b.mu.Lock()
	delete(b.byDialog, oldID)
	b.byDialog[newID] = c
	b.mu.Unlock()
}
