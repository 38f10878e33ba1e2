package csv

import "unsafe"

// slabLen is how many values of one type share one allocation.
const slabLen = 1024

// slab boxes values of type T into interfaces without an allocation per value.
//
// Converting an int64, a string or a time.Time to any copies it to the heap, one small
// allocation each; on the 9-column bulk-load shape that is eight allocations a row and a
// third of the CPU. A slab stores the values in one array of slabLen and points each
// interface at its element, as the runtime itself would point at a fresh copy. A slab is
// never rewritten, only replaced when full, so a value stays valid for as long as
// anything refers to it (such as a cloned row), at the cost of keeping its neighbours'
// memory alive with it.
//
// T must be a type the runtime stores indirectly in an interface: not a pointer, map,
// chan, func or a struct or array holding just one of those. The types used here
// (string, int64, float64, etl.Decimal, time.Time) all are.
type slab[T any] struct {
	typ unsafe.Pointer // the interface type word of T
	buf []T
}

// eface is the runtime's layout of an empty interface.
type eface struct {
	typ, data unsafe.Pointer
}

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
