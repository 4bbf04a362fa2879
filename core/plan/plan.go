// Package plan is the call-plan graph (IVR, auto attendant): its model, its
// validation and its interpreter, which drives a call.Channel node by node.
package plan

import (
	"context"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/routing"
)

// ID identifies a call plan ("cpl_...").
type ID string

// Prefix is the prefix of call plan ids.
const Prefix = "cpl_"

// Kind names what a node does.
type Kind string

// Node kinds.
const (
	KindMenu          Kind = "menu"
	KindPlay          Kind = "play"
	KindSchedule      Kind = "schedule"
	KindDialByName    Kind = "dial_by_name"
	KindSetCallerName Kind = "set_caller_name"
	KindTransfer      Kind = "transfer"
	KindHangup        Kind = "hangup"
)

// waitsForInput reports whether a node of kind k waits for the caller or
// counts attempts, so a cycle through it cannot spin.
func (k Kind) waitsForInput() bool { return k == KindMenu || k == KindDialByName }

// Defaults of optional node fields.
const (
	DefaultLanguage       = "en"
	DefaultTimeoutSeconds = 5
	DefaultRetries        = 3
	DefaultMinLetters     = 3
	// InterDigit is the wait for each digit after the first one.
	InterDigit = 3 * time.Second
)

// System prompts the interpreter plays on its own.
const (
	PromptGoodbye         call.Prompt = "goodbye"
	PromptInvalidOption   call.Prompt = "invalid-option"
	PromptEnterName       call.Prompt = "enter-name"
	PromptPressOne        call.Prompt = "press-1-to-connect"
	PromptNoMatch         call.Prompt = "no-match"
	promptDigitNamePrefix             = "digit-"
)

// Name fields a dial_by_name node matches on.
const (
	FieldLastName  = "last_name"
	FieldFirstName = "first_name"
)

// Modes of a set_caller_name node.
const (
	ModePrefix  = "prefix"
	ModeReplace = "replace"
)

// Plan is a call plan: a named graph of nodes entered at Entry.
type Plan struct {
	ID       ID
	Name     string
	Language string
	Graph
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Graph is the part of a plan that the interpreter walks; it is stored as
// JSON.
type Graph struct {
	Entry string           `json:"entry"`
	Nodes map[string]*Node `json:"nodes"`
}

// Node is one step of a plan. Which fields apply depends on Kind; a field
// that does not belong to the kind is refused by Validate.
type Node struct {
	Kind Kind `json:"kind" enum:"menu,play,schedule,dial_by_name,set_caller_name,transfer,hangup"`
	// Prompts: menu greeting, play, dial_by_name request, hangup farewell.
	Prompts []call.Prompt `json:"prompts,omitempty" doc:"Stored prompt ids (pmt_...) or system prompt names, played in order."`
	// Next: play, set_caller_name.
	Next string `json:"next,omitempty" doc:"play, set_caller_name: the node that follows."`

	// menu
	Options          map[string]string `json:"options,omitempty" doc:"menu: key (0-9, *, #) -> node."`
	TimeoutSeconds   int               `json:"timeout_seconds,omitempty" doc:"menu: seconds to wait for a key after the prompts. Default 5."`
	Retries          int               `json:"retries,omitempty" doc:"menu: invalid keys or timeouts before the fallback is taken. Default 3."`
	InvalidPrompts   []call.Prompt     `json:"invalid_prompts,omitempty" doc:"menu: played before the menu again after an invalid key. Default [\"invalid-option\"]."`
	TimeoutPrompts   []call.Prompt     `json:"timeout_prompts,omitempty" doc:"menu: played before the menu again after a timeout. Default none (the menu is replayed)."`
	Fallback         string            `json:"fallback,omitempty" doc:"menu: node taken when the retries are used up. Default: \"goodbye\" and hang up."`
	DirectDialLength int               `json:"direct_dial_length,omitempty" doc:"menu: 2 to 6: the caller may key an extension number of this length directly."`

	// schedule
	ScheduleID string `json:"schedule_id,omitempty" doc:"schedule: the schedule (sch_...) read when the call arrives."`
	Open       string `json:"open,omitempty" doc:"schedule: node while open."`
	Closed     string `json:"closed,omitempty" doc:"schedule: node while closed."`
	Holiday    string `json:"holiday,omitempty" doc:"schedule: node on a holiday. Default closed."`

	// dial_by_name
	Field       string `json:"field,omitempty" enum:"last_name,first_name" doc:"dial_by_name: the part of the name keyed. Default last_name."`
	MinLetters  int    `json:"min_letters,omitempty" doc:"dial_by_name: letters keyed before a search. Default 3."`
	NextNoMatch string `json:"next_no_match,omitempty" doc:"dial_by_name: node taken when nobody was chosen."`

	// set_caller_name
	Mode  string `json:"mode,omitempty" enum:"prefix,replace" doc:"set_caller_name: put value before the caller's name, or replace it."`
	Value string `json:"value,omitempty" doc:"set_caller_name: the text, used as is (include a separator for prefix)."`

	// transfer
	Target *routing.Target `json:"target,omitempty" doc:"transfer: {type: extension, extension_id}, {type: external_number, number} (E.164) or {type: call_plan, call_plan_id}."`
}

// Normalize fills the defaults of a plan and of its nodes so that what is
// stored and shown says what runs.
func (p *Plan) Normalize() {
	if p.Language == "" {
		p.Language = DefaultLanguage
	}
	for _, n := range p.Nodes {
		if n == nil {
			continue
		}
		switch n.Kind {
		case KindMenu:
			if n.TimeoutSeconds == 0 {
				n.TimeoutSeconds = DefaultTimeoutSeconds
			}
			if n.Retries == 0 {
				n.Retries = DefaultRetries
			}
		case KindDialByName:
			if n.Field == "" {
				n.Field = FieldLastName
			}
			if n.MinLetters == 0 {
				n.MinLetters = DefaultMinLetters
			}
		}
	}
}

// edges are the node names n leads to, each with the field that names it.
func (n *Node) edges() []edge {
	var out []edge
	add := func(field, to string) {
		if to != "" {
			out = append(out, edge{field, to})
		}
	}
	switch n.Kind {
	case KindMenu:
		for _, k := range sortedKeys(n.Options) {
			add("options."+k, n.Options[k])
		}
		add("fallback", n.Fallback)
	case KindPlay, KindSetCallerName:
		add("next", n.Next)
	case KindSchedule:
		add("open", n.Open)
		add("closed", n.Closed)
		add("holiday", n.Holiday)
	case KindDialByName:
		add("next_no_match", n.NextNoMatch)
	}
	return out
}

type edge struct {
	field, to string
}

// Repo stores call plans.
type Repo interface {
	CreateCallPlan(ctx context.Context, p *Plan) error
	GetCallPlan(ctx context.Context, id ID) (*Plan, error)
	ListCallPlans(ctx context.Context, p core.PageRequest) (core.Page[*Plan], error)
	// UpdateCallPlan writes p if its stored version is still expectVersion
	// (core.ErrPrecondition otherwise) and sets p.Version to the new one.
	UpdateCallPlan(ctx context.Context, p *Plan, expectVersion int64) error
	// DeleteCallPlan refuses (a core.InUseError) while CallPlanUsers names
	// anything.
	DeleteCallPlan(ctx context.Context, id ID) error
	// CallPlanUsers names what routes calls to the plan: numbers and other
	// plans.
	CallPlanUsers(ctx context.Context, id ID) ([]User, error)
}

// User is something that routes calls to a plan.
type User struct {
	Kind string // "number" or "call_plan"
	ID   string
	Name string // the number's E.164 form, the plan's name
}
