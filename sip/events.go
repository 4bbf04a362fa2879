package sip

import (
	"context"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/auth"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

// eventQueue is a store that takes events without waiting for their
// commit (in order, group-committed, never dropped).
type eventQueue interface {
	QueueEvents(events ...core.Event) error
}

// publish appends events to the outbox, logging a failure. A REGISTER or a
// ban never waits for the disk when the store can queue.
func (s *Server) publish(evs ...core.Event) {
	if s.events == nil || len(evs) == 0 {
		return
	}
	if q, ok := s.events.(eventQueue); ok {
		if err := q.QueueEvents(evs...); err != nil {
			s.log.Error("queue event", "error", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.events.AppendEvents(ctx, evs...); err != nil {
		s.log.Error("append event", "error", err)
	}
}

// TrunksChanged tells the trunk keeper to read trunk settings again now.
func (s *Server) TrunksChanged() {
	s.trunkCache.gen.Add(1)
	select {
	case s.trunkChanged <- struct{}{}:
	default:
	}
}

// TrunkStatus is the live state of a trunk.
func (s *Server) TrunkStatus(id core.TrunkID) (core.TrunkStatus, bool) {
	st, ok := s.trunks.get(id)
	st.ActiveChannels = s.B2BUA.TrunkChannels(id)
	return st, ok
}

// publishState turns registrar and brute-force guard changes into events.
func (s *Server) publishState() {
	s.Registry.OnChange(func(ext core.ExtensionID, added, removed []registrar.Binding) {
		now := time.Now()
		var evs []core.Event
		for _, b := range added {
			evs = append(evs, registrationEvent(core.EventRegistrationCreated, ext, b, now))
		}
		for _, b := range removed {
			evs = append(evs, registrationEvent(core.EventRegistrationRemoved, ext, b, now))
		}
		s.publish(evs...)
	})
	s.Guard.OnBan(func(b auth.Ban) {
		s.publish(core.NewEvent(core.EventSecurityIPBanned, b.Since, "ban:"+b.IP.String(), nil,
			core.SecurityBanData{IP: b.IP.String(), Failures: b.Failures, Until: b.Until, Reason: b.Reason}))
	})
}

func registrationEvent(t core.EventType, ext core.ExtensionID, b registrar.Binding, at time.Time) core.Event {
	return core.NewEvent(t, at, "registration:"+string(ext), []core.ExtensionID{ext}, core.RegistrationEventData{
		ExtensionID: string(ext), SIPUsername: b.Username, Contact: b.Contact, SourceAddress: b.Source,
		Transport: b.Transport, UserAgent: b.UserAgent, ExpiresAt: b.ExpiresAt,
	})
}
