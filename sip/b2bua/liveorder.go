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

// placed is a call and its place in list order: its start and ID, the
// rest of key left empty.
type placed struct {
	key call.LiveHead
	c   *Call
}

func placeOf(c *Call) call.LiveHead {
	h := c.head()
	return call.LiveHead{StartedAt: h.StartedAt, ID: h.ID}
}

// search is where the call at key is or would go.
func (o liveOrder) search(key call.LiveHead) (int, bool) {
	return slices.BinarySearchFunc(o, key, func(p placed, k call.LiveHead) int { return p.key.Compare(k) })
}

// insert places c by its head.
func (o *liveOrder) insert(c *Call) {
	p := placed{key: placeOf(c), c: c}
	if n := len(*o); n == 0 || (*o)[n-1].key.Compare(p.key) < 0 {
		*o = append(*o, p)
		return
	}
	i, _ := o.search(p.key)
	*o = slices.Insert(*o, i, p)
}

// remove takes c out, if it is in.
func (o *liveOrder) remove(c *Call) {
	if i, ok := o.search(placeOf(c)); ok && (*o)[i].c == c {
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
