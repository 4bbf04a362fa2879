package api

import (
	"reflect"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Times leave the API at the precision the store keeps them: microseconds,
// in UTC. A resource read back after it was created shows the same
// created_at as the create answer did, whatever clock made it.

// timePrecision is the precision of every time the store writes.
const timePrecision = time.Microsecond

var timeType = reflect.TypeFor[time.Time]()

// microsecondTimes is a huma transformer rounding every time.Time in a
// response body down to timePrecision, in UTC. The body is copied along the
// way to each time, so values the handler shares with others are not touched.
func microsecondTimes(_ huma.Context, _ string, v any) (any, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || !hasTime(rv.Type()) {
		return v, nil
	}
	return withMicroseconds(rv).Interface(), nil
}

// withMicroseconds returns a copy of v whose times are rounded.
func withMicroseconds(v reflect.Value) reflect.Value {
	if !hasTime(v.Type()) {
		return v
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			return reflect.ValueOf(v.Interface().(time.Time).UTC().Truncate(timePrecision))
		}
		cp := reflect.New(v.Type()).Elem()
		cp.Set(v)
		for i := range cp.NumField() {
			if f := cp.Field(i); f.CanSet() {
				f.Set(withMicroseconds(f))
			}
		}
		return cp
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(withMicroseconds(v.Elem()))
		return p
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			cp.Index(i).Set(withMicroseconds(v.Index(i)))
		}
		return cp
	case reflect.Array:
		cp := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			cp.Index(i).Set(withMicroseconds(v.Index(i)))
		}
		return cp
	}
	return v
}

var timeCache sync.Map // reflect.Type -> bool

// hasTime reports whether a value of t can hold a time.Time outside maps and
// interfaces (which response bodies do not use for times).
func hasTime(t reflect.Type) bool {
	if b, ok := timeCache.Load(t); ok {
		return b.(bool)
	}
	b := containsTime(t, map[reflect.Type]bool{})
	timeCache.Store(t, b)
	return b
}

func containsTime(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == timeType {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return containsTime(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() && containsTime(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
