package render

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"

	"github.com/portico-ingress/portico/pkg/model"
)

// lastRender holds values by key for the latest render: lookup starts a
// render, and store drops the entries it did not use, so it never holds much
// more than one config's worth. A concurrent render of another config may
// lose entries to this; it only costs that render the work next time. The
// zero value is empty and ready for use.
type lastRender[K comparable, V any] struct {
	mu      sync.Mutex
	renders uint64
	entries map[K]*stamped[V]
}

type stamped[V any] struct {
	val  V
	used uint64 // the render that last used it
}

// lookup starts a render, fills out with the values of the keys it holds and
// returns the indexes of the others.
func (c *lastRender[K, V]) lookup(keys []K, out []V) (missing []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.renders++
	for i, k := range keys {
		e, ok := c.entries[k]
		if !ok {
			missing = append(missing, i)
			continue
		}
		e.used = c.renders
		out[i] = e.val
	}
	return missing
}

// store adds the values computed for missing and drops the entries the
// latest render did not use.
func (c *lastRender[K, V]) store(keys []K, vals []V, missing []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[K]*stamped[V])
	}
	for _, i := range missing {
		c.entries[keys[i]] = &stamped[V]{val: vals[i], used: c.renders}
	}
	for k, e := range c.entries {
		if e.used < c.renders {
			delete(c.entries, k)
		}
	}
}

// keyer encodes a value, everything reachable from it, into bytes that
// differ whenever the values differ: every field is visited (reflection, so
// a field added to the model is covered without touching this), lengths
// prefix strings and slices, and nil is told from empty, since templates can
// see that difference (ngxconf.Directive.HasBlock does).
type keyer struct {
	buf []byte
	// shape is room for model.ShapeInto, reused from server to server.
	shape model.Server
}

func newKeyer() *keyer { return &keyer{buf: make([]byte, 0, 1024)} }

func (k *keyer) add(v any) error { return k.value(reflect.ValueOf(v), 0) }

// maxDepth guards against cycles, which the model does not have.
const maxDepth = 64

func (k *keyer) value(v reflect.Value, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("cache key: value nested deeper than %d", maxDepth)
	}
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			k.buf = append(k.buf, 1)
		} else {
			k.buf = append(k.buf, 0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		k.buf = binary.AppendVarint(k.buf, v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		k.buf = binary.AppendUvarint(k.buf, v.Uint())
	case reflect.Float32, reflect.Float64:
		k.buf = binary.LittleEndian.AppendUint64(k.buf, math.Float64bits(v.Float()))
	case reflect.Complex64, reflect.Complex128:
		c := v.Complex()
		k.buf = binary.LittleEndian.AppendUint64(k.buf, math.Float64bits(real(c)))
		k.buf = binary.LittleEndian.AppendUint64(k.buf, math.Float64bits(imag(c)))
	case reflect.String:
		k.str(v.String())
	case reflect.Struct:
		for i := range v.NumField() {
			if err := k.value(v.Field(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Array:
		return k.elems(v, depth)
	case reflect.Slice:
		if v.IsNil() {
			k.buf = append(k.buf, 0)
			return nil
		}
		k.buf = append(k.buf, 1)
		k.buf = binary.AppendUvarint(k.buf, uint64(v.Len()))
		if v.Type().Elem().Kind() == reflect.Uint8 {
			k.buf = append(k.buf, v.Bytes()...)
			return nil
		}
		return k.elems(v, depth)
	case reflect.Pointer:
		if v.IsNil() {
			k.buf = append(k.buf, 0)
			return nil
		}
		k.buf = append(k.buf, 1)
		return k.value(v.Elem(), depth+1)
	case reflect.Interface:
		if v.IsNil() {
			k.buf = append(k.buf, 0)
			return nil
		}
		k.buf = append(k.buf, 1)
		name := v.Elem().Type().String()
		k.buf = binary.AppendUvarint(k.buf, uint64(len(name)))
		k.buf = append(k.buf, name...)
		return k.value(v.Elem(), depth+1)
	case reflect.Map:
		return k.mapValue(v, depth)
	default:
		return fmt.Errorf("cache key: cannot encode a %s", v.Type())
	}
	return nil
}

// str encodes s as its length, a uvarint, then its bytes.
func (k *keyer) str(s string) {
	k.buf = binary.AppendUvarint(k.buf, uint64(len(s)))
	k.buf = append(k.buf, s...)
}

// elems encodes the elements of v, an array or slice, in order.
func (k *keyer) elems(v reflect.Value, depth int) error {
	for i := range v.Len() {
		if err := k.value(v.Index(i), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// mapValue encodes a map's entries sorted by their encoded keys.
func (k *keyer) mapValue(v reflect.Value, depth int) error {
	if v.IsNil() {
		k.buf = append(k.buf, 0)
		return nil
	}
	type entry struct{ key, val []byte }
	entries := make([]entry, 0, v.Len())
	it := v.MapRange()
	for it.Next() {
		sub := &keyer{}
		if err := sub.value(it.Key(), depth+1); err != nil {
			return err
		}
		kb := sub.buf
		sub.buf = nil
		if err := sub.value(it.Value(), depth+1); err != nil {
			return err
		}
		entries = append(entries, entry{key: kb, val: sub.buf})
	}
	slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	k.buf = append(k.buf, 1)
	k.buf = binary.AppendUvarint(k.buf, uint64(len(entries)))
	for _, e := range entries {
		k.buf = append(k.buf, e.key...)
		k.buf = append(k.buf, e.val...)
	}
	return nil
}
