package etl

import (
	"fmt"
	"time"
)

// Window is a run's data interval: the half-open range [Start, End). A zero Window means
// "all data", as in a full refresh.
//
// In JSON it is {"start": ..., "end": ...}. Decoding matches keys without regard to
// case, so windows stored as {"Start": ..., "End": ...} still read.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// IsZero reports whether w is the zero Window.
func (w Window) IsZero() bool { return w.Start.IsZero() && w.End.IsZero() }

// Contains reports whether t falls inside w. Every time falls inside the zero Window.
func (w Window) Contains(t time.Time) bool {
	if w.IsZero() {
		return true
	}
	return !t.Before(w.Start) && t.Before(w.End)
}

// Validate reports a window whose end is not after its start.
func (w Window) Validate() error {
	if w.IsZero() {
		return nil
	}
	if !w.End.After(w.Start) {
		return fmt.Errorf("etl: window end %s is not after start %s", w.End.Format(time.RFC3339), w.Start.Format(time.RFC3339))
	}
	return nil
}

// String formats w as "start/end" in RFC 3339, or "all" for the zero Window.
func (w Window) String() string {
	if w.IsZero() {
		return "all"
	}
	return w.Start.UTC().Format(time.RFC3339) + "/" + w.End.UTC().Format(time.RFC3339)
}

// Windows splits [from, to) into consecutive windows of length every. The last window ends
// at to even when it is shorter. It returns nil when to is not after from or every is not
// positive.
func Windows(from, to time.Time, every time.Duration) []Window {
	if every <= 0 || !to.After(from) {
		return nil
	}
	var ws []Window
	for s := from; s.Before(to); s = s.Add(every) {
		e := s.Add(every)
		if e.After(to) {
			e = to
		}
		ws = append(ws, Window{Start: s, End: e})
	}
	return ws
}
