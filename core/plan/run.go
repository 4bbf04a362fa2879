package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/routing"
)

// Schedule states StateAt answers.
const (
	StateOpen    = "open"
	StateClosed  = "closed"
	StateHoliday = "holiday"
)

// Schedules tells a schedule's state at an instant.
type Schedules interface {
	StateAt(ctx context.Context, scheduleID string, at time.Time) (status string, err error)
}

// DirectoryEntry is an extension callers may find by name.
type DirectoryEntry struct {
	ExtensionID core.ExtensionID
	Number      string
	// Name is the extension's name, first and last name parted by the last
	// space.
	Name string
	// NamePrompt is the extension's recorded name ("" when none).
	NamePrompt call.Prompt
}

// Directory lists the extensions shown in the directory (hidden ones left
// out).
type Directory interface {
	Entries(ctx context.Context) ([]DirectoryEntry, error)
}

// Extensions finds an extension by its number for direct dialling.
type Extensions interface {
	ExtensionByNumber(ctx context.Context, number string) (id core.ExtensionID, ok bool, err error)
}

// Env is what a run needs besides the channel and the plan.
type Env struct {
	Schedules  Schedules
	Directory  Directory
	Extensions Extensions
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// CallerName is the caller's name as it came in; set_caller_name nodes
	// change it.
	CallerName string
	// Observer, when set, is told about every node visited.
	Observer func(Step)
}

// Step is one node visited.
type Step struct {
	PlanID ID
	Node   string
	Kind   Kind
	// Digits are the keys pressed at the node, in order.
	Digits string
	// Branch says how the node was left: "option:1", "direct_dial:204",
	// "timeout", "open", "connect:ext_...", "next", "caller_hung_up", ...
	Branch string
	At     time.Time
}

// How runs end.
const (
	EndTransferred  = "transferred"
	EndHangup       = "hangup"
	EndInvalidInput = "invalid_input"
	EndNoInput      = "no_input"
	EndCallerHungUp = "caller_hung_up"
	EndStepLimit    = "step_limit"
)

// MaxSteps bounds the nodes one run visits, whatever the caller does.
const MaxSteps = 500

// Result is how a run ended.
type Result struct {
	// Target is where the call goes next; nil when the plan hung up. A
	// call_plan target is for the engine to load and run.
	Target *routing.Target
	// CallerName is the name to present to whoever answers after a transfer.
	CallerName string
	Steps      []Step
	End        string
}

// Run interprets p against ch from its entry until it transfers, hangs up
// or the caller goes away (End caller_hung_up, no error). It answers the
// leg before it first plays or collects. Errors are failures of what env
// provides or of the channel, never of the caller.
func Run(ctx context.Context, ch call.Channel, p *Plan, env Env) (Result, error) {
	if env.Now == nil {
		env.Now = time.Now
	}
	r := &runner{ch: ch, p: p, env: env, lang: cmp.Or(p.Language, DefaultLanguage)}
	r.res.CallerName = env.CallerName
	name := p.Entry
	for range MaxSteps {
		n := p.Nodes[name]
		if n == nil {
			return r.res, fmt.Errorf("call plan %s: node %q: %w", p.ID, name, core.ErrNotFound)
		}
		at := env.Now()
		out, err := r.node(ctx, n)
		if err != nil && r.hungUp(err) {
			r.step(name, n, out.digits, EndCallerHungUp, at)
			r.res.End = EndCallerHungUp
			return r.res, nil
		}
		if err != nil {
			r.step(name, n, out.digits, "error", at)
			return r.res, fmt.Errorf("call plan %s: node %s: %w", p.ID, name, err)
		}
		r.step(name, n, out.digits, out.branch, at)
		if out.hangup != "" {
			if err := r.ch.Hangup(ctx, out.hangup); err != nil && !r.hungUp(err) {
				return r.res, fmt.Errorf("call plan %s: node %s: hang up: %w", p.ID, name, err)
			}
		}
		if out.end != "" {
			r.res.End = out.end
			return r.res, nil
		}
		name = out.next
	}
	if err := r.goodbye(ctx); err != nil {
		if r.hungUp(err) {
			r.res.End = EndCallerHungUp
			return r.res, nil
		}
		return r.res, err
	}
	if err := r.ch.Hangup(ctx, call.CausePlanLoop); err != nil && !r.hungUp(err) {
		return r.res, err
	}
	r.res.End = EndStepLimit
	return r.res, nil
}

type runner struct {
	ch       call.Channel
	p        *Plan
	env      Env
	lang     string
	answered bool
	res      Result
}

// outcome is how a node was left: to next, or ending the run with end.
type outcome struct {
	next, branch, end string
	digits            string
	// hangup, when set, is the cause the run hangs the leg up with once
	// the node is recorded.
	hangup string
}

func (r *runner) step(name string, n *Node, digits, branch string, at time.Time) {
	s := Step{PlanID: r.p.ID, Node: name, Kind: n.Kind, Digits: digits, Branch: branch, At: at}
	r.res.Steps = append(r.res.Steps, s)
	if r.env.Observer != nil {
		r.env.Observer(s)
	}
}

// hungUp reports whether err means the leg went away.
func (r *runner) hungUp(err error) bool {
	return errors.Is(err, call.ErrHungUp) || r.ch.Context().Err() != nil
}

func (r *runner) answer(ctx context.Context) error {
	if r.answered {
		return nil
	}
	if err := r.ch.Answer(ctx); err != nil {
		return err
	}
	r.answered = true
	return nil
}

func (r *runner) play(ctx context.Context, prompts []call.Prompt, interrupt bool) error {
	if len(prompts) == 0 {
		return nil
	}
	if err := r.answer(ctx); err != nil {
		return err
	}
	return r.ch.Play(ctx, prompts, call.PlayOptions{Language: r.lang, Interrupt: interrupt})
}

func (r *runner) collect(ctx context.Context, spec call.CollectSpec) (string, error) {
	if err := r.answer(ctx); err != nil {
		return "", err
	}
	got, err := r.ch.Collect(ctx, spec)
	return got.Digits, err
}

// goodbye plays "goodbye": where a plan ends without a node saying what
// follows, before it hangs up.
func (r *runner) goodbye(ctx context.Context) error {
	return r.play(ctx, []call.Prompt{PromptGoodbye}, false)
}

func (r *runner) node(ctx context.Context, n *Node) (outcome, error) {
	if err := ctx.Err(); err != nil {
		return outcome{}, err
	}
	switch n.Kind {
	case KindMenu:
		return r.menu(ctx, n)
	case KindPlay:
		return outcome{next: n.Next, branch: "next"}, r.play(ctx, n.Prompts, false)
	case KindSchedule:
		return r.schedule(ctx, n)
	case KindDialByName:
		return r.dialByName(ctx, n)
	case KindSetCallerName:
		if n.Mode == ModeReplace {
			r.res.CallerName = n.Value
		} else {
			r.res.CallerName = n.Value + r.res.CallerName
		}
		return outcome{next: n.Next, branch: "next"}, nil
	case KindTransfer:
		if n.Target == nil {
			return outcome{}, fmt.Errorf("transfer without a target: %w", core.ErrInvalid)
		}
		t := *n.Target
		return r.transfer(t, string(t.Kind)), nil
	case KindHangup:
		if err := r.play(ctx, n.Prompts, false); err != nil {
			return outcome{}, err
		}
		return outcome{branch: "hangup", end: EndHangup, hangup: call.CausePlanHangup}, nil
	}
	return outcome{}, fmt.Errorf("node kind %q: %w", n.Kind, core.ErrInvalid)
}

func (r *runner) transfer(t routing.Target, branch string) outcome {
	r.res.Target = &t
	return outcome{branch: branch, end: EndTransferred}
}

func seconds(n, def int) time.Duration {
	if n <= 0 {
		n = def
	}
	return time.Duration(n) * time.Second
}

func orPrompts(list []call.Prompt, def ...call.Prompt) []call.Prompt {
	if len(list) == 0 {
		return def
	}
	return list
}

// menu plays the greeting (barge-in allowed) and takes one key, or an
// extension number keyed directly, until a valid choice or the retries
// run out.
func (r *runner) menu(ctx context.Context, n *Node) (outcome, error) {
	var out outcome
	timeout := seconds(n.TimeoutSeconds, DefaultTimeoutSeconds)
	retries := cmp.Or(max(n.Retries, 0), DefaultRetries)
	invalid := orPrompts(n.InvalidPrompts, PromptInvalidOption)
	prompts := n.Prompts
	lastFailure := EndNoInput
	for failures := 0; ; {
		if err := r.play(ctx, prompts, true); err != nil {
			return out, err
		}
		d, err := r.collect(ctx, call.CollectSpec{Max: 1, FirstDigit: timeout, InterDigit: InterDigit})
		out.digits += d
		if err != nil {
			return out, err
		}
		if d == "" {
			failures++
			lastFailure = EndNoInput
			if failures >= retries {
				break
			}
			prompts = append(slices.Clone(n.TimeoutPrompts), n.Prompts...)
			continue
		}
		if n.DirectDialLength > 0 && d[0] >= '0' && d[0] <= '9' {
			rest, err := r.collect(ctx, call.CollectSpec{Max: n.DirectDialLength - 1, FirstDigit: InterDigit, InterDigit: InterDigit})
			out.digits += rest
			if err != nil {
				return out, err
			}
			if rest != "" {
				number := d + rest
				if len(number) == n.DirectDialLength {
					if r.env.Extensions == nil {
						return out, fmt.Errorf("direct dial: no extension lookup: %w", core.ErrUnavailable)
					}
					id, ok, err := r.env.Extensions.ExtensionByNumber(ctx, number)
					if err != nil {
						return out, fmt.Errorf("direct dial %s: %w", number, err)
					}
					if ok {
						o := r.transfer(routing.Target{Kind: routing.KindExtension, ExtensionID: id}, "direct_dial:"+number)
						o.digits = out.digits
						return o, nil
					}
				}
				d = "" // not an extension: invalid
			}
		}
		if next, ok := n.Options[d]; ok && d != "" {
			out.next, out.branch = next, "option:"+d
			return out, nil
		}
		failures++
		lastFailure = EndInvalidInput
		if failures >= retries {
			if err := r.play(ctx, invalid, false); err != nil {
				return out, err
			}
			break
		}
		prompts = append(slices.Clone(invalid), n.Prompts...)
	}
	if n.Fallback != "" {
		out.next, out.branch = n.Fallback, "fallback"
		return out, nil
	}
	out.branch, out.end, out.hangup = "goodbye", lastFailure, call.CauseNoInput
	if lastFailure == EndInvalidInput {
		out.hangup = call.CauseInvalidInput
	}
	return out, r.goodbye(ctx)
}

func (r *runner) schedule(ctx context.Context, n *Node) (outcome, error) {
	if r.env.Schedules == nil {
		return outcome{}, fmt.Errorf("schedule %s: no schedules: %w", n.ScheduleID, core.ErrUnavailable)
	}
	state, err := r.env.Schedules.StateAt(ctx, n.ScheduleID, r.env.Now())
	if err != nil {
		return outcome{}, fmt.Errorf("schedule %s: %w", n.ScheduleID, err)
	}
	switch state {
	case StateOpen:
		return outcome{next: n.Open, branch: state}, nil
	case StateClosed:
		return outcome{next: n.Closed, branch: state}, nil
	case StateHoliday:
		return outcome{next: cmp.Or(n.Holiday, n.Closed), branch: state}, nil
	}
	return outcome{}, fmt.Errorf("schedule %s: state %q: %w", n.ScheduleID, state, core.ErrInvalid)
}

// maxNameKeys bounds the letters keyed at a dial_by_name node.
const maxNameKeys = 20

// dialByName takes letters keyed on the keypad and offers the matching
// extensions one by one; 1 connects.
func (r *runner) dialByName(ctx context.Context, n *Node) (outcome, error) {
	var out outcome
	if err := r.play(ctx, orPrompts(n.Prompts, PromptEnterName), true); err != nil {
		return out, err
	}
	keyed, err := r.collect(ctx, call.CollectSpec{Max: maxNameKeys, Terminator: '#',
		FirstDigit: seconds(0, DefaultTimeoutSeconds), InterDigit: InterDigit})
	out.digits = keyed
	if err != nil {
		return out, err
	}
	var matches []DirectoryEntry
	if len(keyed) >= cmp.Or(max(n.MinLetters, 0), DefaultMinLetters) {
		if matches, err = r.matches(ctx, n.Field, keyed); err != nil {
			return out, err
		}
	}
	for _, m := range matches {
		offer := []call.Prompt{m.NamePrompt}
		if m.NamePrompt == "" {
			offer = digitPrompts(m.Number)
		}
		if err := r.play(ctx, append(offer, PromptPressOne), true); err != nil {
			return out, err
		}
		d, err := r.collect(ctx, call.CollectSpec{Max: 1, FirstDigit: seconds(0, DefaultTimeoutSeconds), InterDigit: InterDigit})
		out.digits += d
		if err != nil {
			return out, err
		}
		if d == "1" {
			o := r.transfer(routing.Target{Kind: routing.KindExtension, ExtensionID: m.ExtensionID}, "connect:"+string(m.ExtensionID))
			o.digits = out.digits
			return o, nil
		}
	}
	if err := r.play(ctx, []call.Prompt{PromptNoMatch}, false); err != nil {
		return out, err
	}
	out.next, out.branch = n.NextNoMatch, "no_match"
	return out, nil
}

// matches are the directory entries whose name field starts with the keys
// pressed, ordered by that field, then by number.
func (r *runner) matches(ctx context.Context, field, keyed string) ([]DirectoryEntry, error) {
	if r.env.Directory == nil {
		return nil, fmt.Errorf("dial by name: no directory: %w", core.ErrUnavailable)
	}
	entries, err := r.env.Directory.Entries(ctx)
	if err != nil {
		return nil, fmt.Errorf("dial by name: %w", err)
	}
	type match struct {
		e   DirectoryEntry
		key string
	}
	var ms []match
	for _, e := range entries {
		first, last := splitName(e.Name)
		key := last
		if field == FieldFirstName {
			key = first
		}
		if strings.HasPrefix(KeypadDigits(key), keyed) {
			ms = append(ms, match{e, strings.ToLower(key)})
		}
	}
	slices.SortFunc(ms, func(a, b match) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.e.Number, b.e.Number))
	})
	out := make([]DirectoryEntry, len(ms))
	for i, m := range ms {
		out[i] = m.e
	}
	return out, nil
}

// digitPrompts reads a number digit by digit ("digit-2", "digit-0", ...).
func digitPrompts(number string) []call.Prompt {
	out := make([]call.Prompt, 0, len(number))
	for _, c := range number {
		if c >= '0' && c <= '9' {
			out = append(out, call.Prompt(promptDigitNamePrefix+string(c)))
		}
	}
	return out
}
