package sip

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// slowFirstTrunks is a directory whose first EnabledTrunks waits for gate.
type slowFirstTrunks struct {
	Directory
	calls atomic.Int32
	gate  chan struct{}
}

func (d *slowFirstTrunks) EnabledTrunks(context.Context) ([]*core.Trunk, error) {
	n := d.calls.Add(1)
	if n == 1 {
		<-d.gate
	}
	return []*core.Trunk{{ID: core.TrunkID("trk_load" + string(rune('0'+n))), Host: "192.0.2.1", Port: 5060, Enabled: true}}, nil
}

// TestTrunkCacheOverlappingLoads: a load of the trunks that began before a
// change and ends after a later load does not replace that load's list,
// which stays current.
func TestTrunkCacheOverlappingLoads(t *testing.T) {
	ctx := context.Background()
	dir := &slowFirstTrunks{gate: make(chan struct{})}
	s := &Server{dir: dir}
	done := make(chan []*core.Trunk)
	go func() {
		trunks, _ := s.enabledTrunks(ctx)
		done <- trunks
	}()
	for dir.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.trunkCache.gen.Add(1) // a trunk changed while the first load ran
	later, err := s.enabledTrunks(ctx)
	if err != nil || len(later) != 1 || later[0].ID != "trk_load2" {
		t.Fatalf("the later load: %v, %v", later, err)
	}
	close(dir.gate)
	if earlier := <-done; len(earlier) != 1 || earlier[0].ID != "trk_load1" {
		t.Fatalf("the earlier load: %v", earlier)
	}
	l := s.trunkCache.list.Load()
	if l.gen != s.trunkCache.gen.Load() {
		t.Fatal("the trunk cache is not current after the earlier load ended last")
	}
	if l.trunks[0].ID != "trk_load2" {
		t.Fatalf("cached %v, want the later load's", l.trunks[0].ID)
	}
	if again, _ := s.enabledTrunks(ctx); again[0].ID != "trk_load2" || dir.calls.Load() != 2 {
		t.Fatalf("read again (%d loads): %v", dir.calls.Load(), again)
	}
}
