package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
)

// Every request body is decoded one way, decodeStrict: each JSON object key,
// at any depth, must be exactly the JSON name of a field of the type it is
// decoded into. encoding/json alone matches keys without regard to case and
// folds some letters into others (the Kelvin sign K into k, the long s ſ into
// s), so {"Number": "1999"} would fill the number field while a check of the
// keys as spelled (a member's locked fields) sees no "number" at all.
//
// huma validates a body against its schema before decoding it; its validator
// matches property names case-insensitively unless ValidateStrictCasing is
// set, so it is set here, once, and an unexpected key is a 422 naming the key
// as sent (body.Number) with every schema's additionalProperties: false.
// decodeStrict then guards the decoding itself, whatever a schema says, and
// the merge-patch route (which reads its body raw) calls checkKeys directly.
func init() {
	huma.ValidateStrictCasing = true
}

// strictJSON is the JSON format of the API: huma's, with decodeStrict.
var strictJSON = huma.Format{
	Marshal:   huma.DefaultJSONFormat.Marshal,
	Unmarshal: decodeStrict,
}

// decodeStrict decodes a JSON body into v after checking that every object
// key is exactly the name of a field of v's type.
func decodeStrict(data []byte, v any) error {
	if err := checkKeys(data, reflect.TypeOf(v)); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// checkKeys returns a core.ValidationError naming (as a path such as route.Type
// or items[2].Name) every object key in data that is not exactly the JSON name
// of a field of t. Malformed JSON is left to the decoder that follows.
func checkKeys(data []byte, t reflect.Type) error {
	if t == nil || !hasStruct(t) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil
	}
	var v core.ValidationError
	walkKeys(doc, t, "", &v)
	return v.Err()
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodesItself reports whether t (or *t) reads its own JSON.
func decodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshalerType) || p.Implements(jsonUnmarshalerType) ||
		t.Implements(textUnmarshalerType) || p.Implements(textUnmarshalerType)
}

func walkKeys(doc any, t reflect.Type, path string, v *core.ValidationError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if decodesItself(t) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := doc.(map[string]any)
		if !ok {
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			ft, ok := fields.byName[k]
			if !ok {
				v.Add(joinPath(path, k), unknownFieldMessage(k, fields.names), nil)
				continue
			}
			walkKeys(obj[k], ft, joinPath(path, k), v)
		}
	case reflect.Map:
		obj, ok := doc.(map[string]any)
		if !ok {
			return
		}
		for _, k := range sortedKeys(obj) {
			walkKeys(obj[k], t.Elem(), joinPath(path, k), v)
		}
	case reflect.Slice, reflect.Array:
		arr, ok := doc.([]any)
		if !ok {
			return
		}
		for i, e := range arr {
			walkKeys(e, t.Elem(), path+"["+strconv.Itoa(i)+"]", v)
		}
	}
}

func unknownFieldMessage(key string, names []string) string {
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return "is not a field: field names are case-sensitive; did you mean " + n + "?"
		}
	}
	return "is not a field of this resource"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// structFields are the JSON names of a struct's fields, as encoding/json
// spells them, and the type each decodes into.
type structFields struct {
	byName map[string]reflect.Type
	names  []string
}

var fieldCache sync.Map // reflect.Type -> *structFields

func jsonFields(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{byName: map[string]reflect.Type{}}
	collectFields(t, f, 0)
	for n := range f.byName {
		f.names = append(f.names, n)
	}
	slices.Sort(f.names)
	fieldCache.Store(t, f)
	return f
}

// collectFields follows encoding/json: exported fields by their tag name or Go
// name, "-" skipped, untagged embedded structs promoted (the shallower wins).
func collectFields(t reflect.Type, f *structFields, depth int) {
	if depth > 8 {
		return
	}
	var embedded []reflect.Type
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, dup := f.byName[name]; !dup {
			f.byName[name] = sf.Type
		}
	}
	for _, et := range embedded {
		collectFields(et, f, depth+1)
	}
}

var structCache sync.Map // reflect.Type -> bool

// hasStruct reports whether a value of t can hold a struct decoded from JSON
// (where keys must be checked).
func hasStruct(t reflect.Type) bool {
	if b, ok := structCache.Load(t); ok {
		return b.(bool)
	}
	b := containsStruct(t, map[reflect.Type]bool{})
	structCache.Store(t, b)
	return b
}

func containsStruct(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return containsStruct(t.Elem(), seen)
	case reflect.Struct:
		return !decodesItself(t)
	}
	return false
}
