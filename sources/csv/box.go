package csv

import (
	"time"
	"unsafe"
)

// slabLen is how many values of one type share one allocation. A value kept after its
// row is gone keeps its whole slab alive (and, for text, the records its neighbours came
// from), so the length trades allocations saved against what one kept value can pin.
const slabLen = 128

// boxable lists the types a slab may hold: types the runtime stores indirectly in an
// interface, as a pointer to a copy of the value. A pointer, map, chan, func or a struct
// or array holding just one of those is stored directly, in the data word itself, and
// pointing the data word at a slab element would make the interface hold the address
// instead of the value; the constraint keeps such a type out at compile time. bool is not
// here either: the runtime boxes it without an allocation already.
type boxable interface {
	~string | ~int64 | ~float64 | time.Time
}

// slab boxes values of type T into interfaces without an allocation per value.
//
// Converting an int64, a string or a time.Time to any copies it to the heap, one small
// allocation each; on the 9-column bulk-load shape that is eight allocations a row and a
// third of the CPU. A slab stores the values in one array of slabLen and points each
// interface at its element, as the runtime itself would point at a fresh copy. The
// garbage collector follows such an interior pointer like any other, so the array lives
// while any interface points into it.
//
// An element is written once, before the interface to it exists, and never again: the
// slab only appends, and starts a new array when one is full. So the values of a row
// stay valid after the stream moves on (a cloned row shares them and that is safe), and
// an interface handed to another goroutine after it was made reads a value that no one
// writes. A slab itself is not safe for concurrent use; each decoder has its own.
type slab[T boxable] struct {
	typ unsafe.Pointer // the interface type word of T
	buf []T
}

// eface is the runtime's layout of an empty interface.
type eface struct {
	typ, data unsafe.Pointer
}

// rewind makes the slab reuse its array from the start, breaking the rule above: the
// values boxed so far are overwritten by the next ones. It is for lent rows only (see
// etl.LendingExtractor), whose consumer keeps no value past the next row.
func (s *slab[T]) rewind() { s.buf = s.buf[:0] }

func (s *slab[T]) box(v T) any {
	if len(s.buf) == cap(s.buf) {
		if s.typ == nil {
			var zero any = *new(T)
			s.typ = (*eface)(unsafe.Pointer(&zero)).typ
		}
		s.buf = make([]T, 0, slabLen)
	}
	s.buf = append(s.buf, v)
	var r any
	e := (*eface)(unsafe.Pointer(&r))
	e.typ, e.data = s.typ, unsafe.Pointer(&s.buf[len(s.buf)-1])
	return r
}
