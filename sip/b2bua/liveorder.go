package b2bua

import (
	"slices"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// liveOrder keeps the live calls in list order (start time, then ID), the
// order of the live calls list, so a page is read from where its cursor
// points and ends once full, without looking at the calls before or after
// it. A call's place never changes: its start and ID are fixed once it is
// tracked. Calls are tracked about in start order, so a call almost always
// goes at the end. b.mu is held.
type liveOrder []placed

// placed is a call and its place in list order.
type placed struct {
	at int64 // start, Unix nanoseconds
	id call.ID
	c  *Call
}

func (p placed) key() call.LiveHead { return call.LiveHead{StartedAt: p.at, ID: p.id} }

func placeOf(c *Call) placed {
	h := c.head()
	return placed{at: h.StartedAt, id: h.ID, c: c}
}

// search is where the call at key is or would go.
func (o liveOrder) search(key call.LiveHead) (int, bool) {
	return slices.BinarySearchFunc(o, key, func(p placed, k call.LiveHead) int { return p.key().Compare(k) })
}

// insert places c by its head.
func (o *liveOrder) insert(c *Call) {
	p := placeOf(c)
	if n := len(*o); n == 0 || (*o)[n-1].key().Compare(p.key()) < 0 {
		*o = append(*o, p)
		return
	}
	i, _ := o.search(p.key())
	*o = slices.Insert(*o, i, p)
}

// remove takes c out, if it is in. The oldest call, the one that most
// often ends first, goes without moving the others.
func (o *liveOrder) remove(c *Call) {
	p := placeOf(c)
	i, ok := o.search(p.key())
	switch {
	case !ok || (*o)[i].c != c:
	case i == 0:
		(*o)[0] = placed{}
		*o = (*o)[1:]
	default:
		*o = slices.Delete(*o, i, i+1)
	}
}

// after is the calls after the one that started at at (Unix nanoseconds)
// with ID id, which need not be live; all of them when id is empty.
func (o liveOrder) after(at int64, id call.ID) liveOrder {
	if id == "" {
		return o
	}
	i, found := o.search(call.LiveHead{StartedAt: at, ID: id})
	if found {
		i++
	}
	return o[i:]
}
