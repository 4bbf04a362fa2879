package plan

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/routing"
)

// Limits of one plan.
const (
	MaxNodes          = 200
	MaxNameLen        = 100
	MaxPromptsPerList = 20
	MaxPromptLen      = 100
	MaxValueLen       = 100
	MaxTimeoutSeconds = 60
	MaxRetries        = 10
	MaxMinLetters     = 10
)

var (
	nodeNameRE  = regexp.MustCompile(`^[a-z0-9_-]{1,40}$`)
	optionKeyRE = regexp.MustCompile(`^[0-9*#]$`)
	e164RE      = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
)

// Refs answers whether the things a plan names exist. Errors are failures
// to find out, not absence.
type Refs interface {
	// PromptExists: a stored prompt's id ("pmt_...") or a system prompt's name.
	PromptExists(ctx context.Context, p call.Prompt) (bool, error)
	ScheduleExists(ctx context.Context, id string) (bool, error)
	ExtensionExists(ctx context.Context, id core.ExtensionID) (bool, error)
	CallPlanExists(ctx context.Context, id ID) (bool, error)
}

// Warning is something worth telling about a valid plan.
type Warning struct {
	Field   string `json:"field" doc:"Where, as nodes.<name>."`
	Message string `json:"message"`
}

// Validate checks the plan and everything it names. err is a
// core.ValidationError whose fields are paths such as nodes.main.options.2;
// warnings name nodes no call can reach.
func (p *Plan) Validate(ctx context.Context, refs Refs) ([]Warning, error) {
	var v core.ValidationError
	name := strings.TrimSpace(p.Name)
	switch {
	case name == "":
		v.Add("name", "is required", nil)
	case utf8.RuneCountInString(p.Name) > MaxNameLen:
		v.Add("name", fmt.Sprintf("is longer than %d characters", MaxNameLen), p.Name)
	case name != p.Name || strings.IndexFunc(p.Name, unicode.IsControl) >= 0:
		v.Add("name", "has leading or trailing spaces or control characters", p.Name)
	}
	if p.Language != "" {
		if _, err := language.Parse(p.Language); err != nil || len(p.Language) > 35 {
			v.Add("language", "is not a BCP 47 language tag", p.Language)
		}
	}
	switch {
	case len(p.Nodes) == 0:
		v.Add("nodes", "needs at least one node", nil)
	case len(p.Nodes) > MaxNodes:
		v.Add("nodes", fmt.Sprintf("has more than %d nodes", MaxNodes), len(p.Nodes))
	}
	switch {
	case p.Entry == "":
		v.Add("entry", "is required", nil)
	case len(p.Nodes) > 0 && p.Nodes[p.Entry] == nil:
		v.Add("entry", "names no node", p.Entry)
	}
	if len(p.Nodes) > MaxNodes {
		return nil, v.Err()
	}
	names := sortedKeys(p.Nodes)
	for _, nn := range names {
		at := "nodes." + nn
		if !nodeNameRE.MatchString(nn) {
			v.Add(at, "node names are 1 to 40 of a-z, 0-9, _ and -", nn)
		}
		n := p.Nodes[nn]
		if n == nil {
			v.Add(at, "must be an object", nil)
			continue
		}
		if err := p.validateNode(ctx, refs, at, n, &v); err != nil {
			return nil, err
		}
	}
	if len(v) > 0 {
		return nil, v
	}
	p.checkLoops(&v)
	return p.unreachable(), v.Err()
}

func (p *Plan) validateNode(ctx context.Context, refs Refs, at string, n *Node, v *core.ValidationError) error {
	allowed, ok := kindFields[n.Kind]
	if !ok {
		v.Add(at+".kind", "must be one of menu, play, schedule, dial_by_name, set_caller_name, transfer, hangup", string(n.Kind))
		return nil
	}
	for _, f := range n.setFields() {
		if !slices.Contains(allowed, f) {
			v.Add(at+"."+f, "does not apply to a "+string(n.Kind)+" node", nil)
		}
	}
	for _, e := range n.edges() {
		if p.Nodes[e.to] == nil {
			v.Add(at+"."+e.field, "names no node", e.to)
		}
	}
	required := func(field, val string) {
		if val == "" {
			v.Add(at+"."+field, "is required", nil)
		}
	}
	prompts := func(field string, list []call.Prompt, needed bool) error {
		if needed && len(list) == 0 {
			v.Add(at+"."+field, "needs at least one prompt", nil)
		}
		if len(list) > MaxPromptsPerList {
			v.Add(at+"."+field, fmt.Sprintf("has more than %d prompts", MaxPromptsPerList), len(list))
			return nil
		}
		for i, pr := range list {
			f := fmt.Sprintf("%s.%s[%d]", at, field, i)
			if pr == "" || len(pr) > MaxPromptLen {
				v.Add(f, "is not a prompt", string(pr))
				continue
			}
			ok, err := refs.PromptExists(ctx, pr)
			if err != nil {
				return fmt.Errorf("check prompt %s: %w", pr, err)
			}
			if !ok {
				v.Add(f, "names no prompt", string(pr))
			}
		}
		return nil
	}
	var err error
	switch n.Kind {
	case KindMenu:
		err = prompts("prompts", n.Prompts, true)
		if err == nil {
			err = prompts("invalid_prompts", n.InvalidPrompts, false)
		}
		if err == nil {
			err = prompts("timeout_prompts", n.TimeoutPrompts, false)
		}
		if len(n.Options) == 0 && n.DirectDialLength == 0 {
			v.Add(at+".options", "needs at least one option (or direct_dial_length)", nil)
		}
		for _, k := range sortedKeys(n.Options) {
			if !optionKeyRE.MatchString(k) {
				v.Add(at+".options."+k, "keys are one of 0-9, * and #", k)
			}
		}
		if n.TimeoutSeconds < 0 || n.TimeoutSeconds > MaxTimeoutSeconds {
			v.Add(at+".timeout_seconds", fmt.Sprintf("must be 1 to %d", MaxTimeoutSeconds), n.TimeoutSeconds)
		}
		if n.Retries < 0 || n.Retries > MaxRetries {
			v.Add(at+".retries", fmt.Sprintf("must be 1 to %d", MaxRetries), n.Retries)
		}
		if n.DirectDialLength != 0 && (n.DirectDialLength < 2 || n.DirectDialLength > 6) {
			v.Add(at+".direct_dial_length", "must be 2 to 6", n.DirectDialLength)
		}
	case KindPlay:
		err = prompts("prompts", n.Prompts, true)
		required("next", n.Next)
	case KindSchedule:
		required("schedule_id", n.ScheduleID)
		required("open", n.Open)
		required("closed", n.Closed)
		if n.ScheduleID != "" {
			ok, e := refs.ScheduleExists(ctx, n.ScheduleID)
			if e != nil {
				return fmt.Errorf("check schedule %s: %w", n.ScheduleID, e)
			}
			if !ok {
				v.Add(at+".schedule_id", "names no schedule", n.ScheduleID)
			}
		}
	case KindDialByName:
		err = prompts("prompts", n.Prompts, false)
		if n.Field != "" && n.Field != FieldLastName && n.Field != FieldFirstName {
			v.Add(at+".field", "must be last_name or first_name", n.Field)
		}
		if n.MinLetters < 0 || n.MinLetters > MaxMinLetters {
			v.Add(at+".min_letters", fmt.Sprintf("must be 1 to %d", MaxMinLetters), n.MinLetters)
		}
		required("next_no_match", n.NextNoMatch)
	case KindSetCallerName:
		required("next", n.Next)
		if n.Mode != ModePrefix && n.Mode != ModeReplace {
			v.Add(at+".mode", "must be prefix or replace", n.Mode)
		}
		switch {
		case n.Value == "" && n.Mode == ModePrefix:
			v.Add(at+".value", "is required", nil)
		case utf8.RuneCountInString(n.Value) > MaxValueLen:
			v.Add(at+".value", fmt.Sprintf("is longer than %d characters", MaxValueLen), n.Value)
		case strings.IndexFunc(n.Value, unicode.IsControl) >= 0 || strings.ContainsRune(n.Value, '"'):
			// The name ends up in a SIP display name (RFC 3261 §25.1).
			v.Add(at+".value", "may not hold control characters or double quotes", n.Value)
		}
	case KindTransfer:
		err = p.validateTarget(ctx, refs, at+".target", n.Target, v)
	case KindHangup:
		err = prompts("prompts", n.Prompts, false)
	}
	return err
}

func (p *Plan) validateTarget(ctx context.Context, refs Refs, at string, t *routing.Target, v *core.ValidationError) error {
	if t == nil {
		v.Add(at, "is required", nil)
		return nil
	}
	stray := func(field string, set bool) {
		if set {
			v.Add(at+"."+field, "does not apply to a "+string(t.Kind)+" target", nil)
		}
	}
	switch t.Kind {
	case routing.KindExtension:
		stray("number", t.Number != "")
		stray("call_plan_id", t.CallPlanID != "")
		if t.ExtensionID == "" {
			v.Add(at+".extension_id", "is required", nil)
			return nil
		}
		ok, err := refs.ExtensionExists(ctx, t.ExtensionID)
		if err != nil {
			return fmt.Errorf("check extension %s: %w", t.ExtensionID, err)
		}
		if !ok {
			v.Add(at+".extension_id", "names no extension", string(t.ExtensionID))
		}
	case routing.KindExternalNumber:
		stray("extension_id", t.ExtensionID != "")
		stray("call_plan_id", t.CallPlanID != "")
		if !e164RE.MatchString(t.Number) {
			v.Add(at+".number", "must be an E.164 number (+ and up to 15 digits)", t.Number)
		}
	case routing.KindCallPlan:
		stray("extension_id", t.ExtensionID != "")
		stray("number", t.Number != "")
		if t.CallPlanID == "" {
			v.Add(at+".call_plan_id", "is required", nil)
			return nil
		}
		if p.ID != "" && ID(t.CallPlanID) == p.ID {
			return nil // a transfer to the plan itself: checkLoops sees to it
		}
		ok, err := refs.CallPlanExists(ctx, ID(t.CallPlanID))
		if err != nil {
			return fmt.Errorf("check call plan %s: %w", t.CallPlanID, err)
		}
		if !ok {
			v.Add(at+".call_plan_id", "names no call plan", t.CallPlanID)
		}
	default:
		v.Add(at+".type", "must be extension, external_number or call_plan", string(t.Kind))
	}
	return nil
}

// checkLoops refuses cycles a call could go round without the caller doing
// anything: every cycle must pass through a node that waits for input, and
// a transfer to the plan itself must come after one.
func (p *Plan) checkLoops(v *core.ValidationError) {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(name string) bool
	visit = func(name string) bool {
		n := p.Nodes[name]
		if n == nil || n.Kind.waitsForInput() {
			return false
		}
		switch state[name] {
		case onPath:
			i := slices.Index(path, name)
			cycle := append(slices.Clone(path[i:]), name)
			from := p.Nodes[path[len(path)-1]]
			field := "nodes." + path[len(path)-1]
			for _, e := range from.edges() {
				if e.to == name {
					field += "." + e.field
					break
				}
			}
			v.Add(field, "makes a loop no caller input breaks: "+strings.Join(cycle, " -> "), name)
			return true
		case done:
			return false
		}
		state[name] = onPath
		path = append(path, name)
		for _, e := range n.edges() {
			if visit(e.to) {
				return true
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return false
	}
	// From the entry first, so the edge named is the one that leads back.
	for _, name := range append([]string{p.Entry}, sortedKeys(p.Nodes)...) {
		if visit(name) {
			break
		}
	}
	if p.ID == "" {
		return
	}
	// Nodes reached from the entry before any input.
	seen := map[string]bool{}
	queue := []string{p.Entry}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		n := p.Nodes[name]
		if n == nil || seen[name] || n.Kind.waitsForInput() {
			continue
		}
		seen[name] = true
		if n.Kind == KindTransfer && n.Target != nil && n.Target.Kind == routing.KindCallPlan && ID(n.Target.CallPlanID) == p.ID {
			v.Add("nodes."+name+".target.call_plan_id", "transfers to this plan before the caller pressed anything: the call would go round forever", n.Target.CallPlanID)
		}
		for _, e := range n.edges() {
			queue = append(queue, e.to)
		}
	}
}

// unreachable warns about nodes no path from the entry leads to.
func (p *Plan) unreachable() []Warning {
	seen := map[string]bool{}
	queue := []string{p.Entry}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		n := p.Nodes[name]
		if n == nil || seen[name] {
			continue
		}
		seen[name] = true
		for _, e := range n.edges() {
			queue = append(queue, e.to)
		}
	}
	var out []Warning
	for _, name := range sortedKeys(p.Nodes) {
		if !seen[name] {
			out = append(out, Warning{Field: "nodes." + name, Message: "no path from the entry reaches this node"})
		}
	}
	return out
}

// kindFields are the fields each kind takes besides kind.
var kindFields = map[Kind][]string{
	KindMenu:          {"prompts", "options", "timeout_seconds", "retries", "invalid_prompts", "timeout_prompts", "fallback", "direct_dial_length"},
	KindPlay:          {"prompts", "next"},
	KindSchedule:      {"schedule_id", "open", "closed", "holiday"},
	KindDialByName:    {"field", "min_letters", "prompts", "next_no_match"},
	KindSetCallerName: {"mode", "value", "next"},
	KindTransfer:      {"target"},
	KindHangup:        {"prompts"},
}

// setFields names the fields of n that hold a value.
func (n *Node) setFields() []string {
	var out []string
	add := func(name string, set bool) {
		if set {
			out = append(out, name)
		}
	}
	add("prompts", len(n.Prompts) > 0)
	add("next", n.Next != "")
	add("options", len(n.Options) > 0)
	add("timeout_seconds", n.TimeoutSeconds != 0)
	add("retries", n.Retries != 0)
	add("invalid_prompts", len(n.InvalidPrompts) > 0)
	add("timeout_prompts", len(n.TimeoutPrompts) > 0)
	add("fallback", n.Fallback != "")
	add("direct_dial_length", n.DirectDialLength != 0)
	add("schedule_id", n.ScheduleID != "")
	add("open", n.Open != "")
	add("closed", n.Closed != "")
	add("holiday", n.Holiday != "")
	add("field", n.Field != "")
	add("min_letters", n.MinLetters != 0)
	add("next_no_match", n.NextNoMatch != "")
	add("mode", n.Mode != "")
	add("value", n.Value != "")
	add("target", n.Target != nil)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
