package b2bua

import (
	"context"
	"math/rand/v2"

	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
)

// mohPlayer is music on hold playing to one leg.
type mohPlayer struct {
	stop context.CancelFunc
	done chan struct{}
}

// startMOH plays the call's music-on-hold class to one party (toA: the
// caller) while the other holds the call. The relay's audio towards that
// party is muted while it plays and comes back as it stops; the leg's
// outgoing stream stays one continuous RTP stream throughout.
func (c *Call) startMOH(toA bool) {
	lib := c.b2b.engine.Prompts
	if lib == nil {
		return
	}
	side := 1
	if toA {
		side = 0
	}
	c.mu.Lock()
	if c.moh[side] != nil || c.state == call.StateEnded {
		c.mu.Unlock()
		return
	}
	leg := c.bLeg
	if toA {
		leg = c.aLeg
	}
	if leg == nil {
		c.mu.Unlock()
		return
	}
	class := c.mohClass
	ctx, stop := context.WithCancel(context.Background())
	p := &mohPlayer{stop: stop, done: make(chan struct{})}
	c.moh[side] = p
	c.mu.Unlock()
	go func() {
		defer close(p.done)
		c.playMOH(ctx, lib, class, leg)
	}()
}

// playMOH loops over a class's prompts until ctx ends.
func (c *Call) playMOH(ctx context.Context, lib PromptLibrary, class string, leg *media.Leg) {
	prompts, shuffle, err := lib.MOH(ctx, class)
	if err != nil || len(prompts) == 0 {
		c.log.Warn("music on hold unavailable", "class", class, "error", err)
		return
	}
	clips := make([][]int16, 0, len(prompts))
	for _, p := range prompts {
		pcm, err := lib.Samples(ctx, p, "")
		if err != nil {
			c.log.Warn("music on hold prompt unavailable", "prompt", p, "error", err)
			continue
		}
		clips = append(clips, pcm)
	}
	if len(clips) == 0 {
		return
	}
	for ctx.Err() == nil {
		if shuffle {
			rand.Shuffle(len(clips), func(i, j int) { clips[i], clips[j] = clips[j], clips[i] })
		}
		for _, pcm := range clips {
			if err := leg.Play(ctx, pcm, false); err != nil {
				return
			}
		}
	}
}

// stopMOH stops the music to one party and waits until the player let go
// of the leg, so the relay resumes at once.
func (c *Call) stopMOH(toA bool) {
	side := 1
	if toA {
		side = 0
	}
	c.mu.Lock()
	p := c.moh[side]
	c.moh[side] = nil
	c.mu.Unlock()
	if p != nil {
		p.stop()
		<-p.done
	}
}

// holdMusic follows a change of hold by one party: music to the other
// party while held, the relay again once resumed.
func (c *Call) holdMusic(toA, held bool) {
	if held {
		c.startMOH(toA)
		return
	}
	c.stopMOH(toA)
}
