// Package origin remembers where each row of a stream came from, so that a sink can name
// the source line of a row the target refused long after the row went by: a bulk COPY
// reports the failing row by its number, once the row has been sent.
//
// A [Tracker] keeps one span per run of rows from consecutive lines of one input, so a
// file whose records each take one line costs one span however long it is. Records that
// span lines, and rows a source rejected or a transform dropped, start new spans; past
// [MaxSpans] the tracker stops recording, and later rows are not located.
package origin

import (
	"sort"

	"github.com/sluice-etl/sluice/etl"
)

// MaxSpans bounds the spans a tracker keeps (24 bytes each).
const MaxSpans = 1 << 18

// Tracker records the position of each row a sink reads. The zero value and a nil
// *Tracker record nothing and locate nothing.
type Tracker struct {
	pos     func() etl.Position
	spans   []span
	sources []string
	n       int64 // rows seen
	last    etl.Position
	full    bool
}

type span struct {
	row, line int64 // the first row of the span, 1-based, and its line
	src       int32 // index in sources
}

// New returns a tracker for in, or nil when in does not say where its rows come from.
func New(in etl.Stream) *Tracker {
	if in.Position == nil {
		return nil
	}
	return &Tracker{pos: in.Position}
}

// Next records the position of the row just received, the next in the stream. It is
// called once per row, right after the stream yields it.
func (t *Tracker) Next() {
	if t == nil {
		return
	}
	t.n++
	if t.full {
		return
	}
	p := t.pos()
	if p.Line == t.last.Line+1 && p.Source == t.last.Source && len(t.spans) > 0 {
		t.last.Line = p.Line
		return
	}
	if len(t.spans) == MaxSpans {
		t.full = true
		return
	}
	src := len(t.sources) - 1
	if src < 0 || t.sources[src] != p.Source {
		t.sources = append(t.sources, p.Source)
		src++
	}
	t.spans = append(t.spans, span{row: t.n, line: p.Line, src: int32(src)})
	t.last = p
}

// Locate returns where row n (1-based, in the order the rows were received) came from.
func (t *Tracker) Locate(n int64) (etl.Position, bool) {
	if t == nil || n < 1 || n > t.n || len(t.spans) == 0 {
		return etl.Position{}, false
	}
	i := sort.Search(len(t.spans), func(i int) bool { return t.spans[i].row > n }) - 1
	if i < 0 {
		return etl.Position{}, false
	}
	s := t.spans[i]
	if t.full && i == len(t.spans)-1 {
		// The last span ends where recording stopped.
		end := s.row + (t.last.Line - s.line)
		if n > end {
			return etl.Position{}, false
		}
	}
	return etl.Position{Source: t.sources[s.src], Line: s.line + (n - s.row)}, true
}
