package etl

import (
	"context"
	"time"
)

// EventKind names a run event.
type EventKind string

// The events a run emits, in order: one Start, any number of Progress and Check events,
// then one Complete or Fail.
const (
	EventStart    EventKind = "START"
	EventProgress EventKind = "PROGRESS"
	EventCheck    EventKind = "CHECK"
	EventComplete EventKind = "COMPLETE"
	EventFail     EventKind = "FAIL"
)

// Event is one thing that happened during a run.
type Event struct {
	Kind EventKind
	// Time is when it happened.
	Time time.Time
	// Run is the run it happened in. Observers must not modify it.
	Run *Run
	// Stats is a snapshot of the run's counters.
	Stats Stats
	// Check is set on EventCheck.
	Check *CheckResult
	// Err is set on EventFail.
	Err error
}

// Observer receives run events. Observe is called synchronously from the run, so it must
// be quick and must not fail the run: an observer that talks to a network hands the event
// off and logs its own failures.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc adapts a function to [Observer].
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f(ctx, e).
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Observers returns an Observer that passes each event to every non-nil observer in
// order. It returns nil when none is left, so a run without observers stays free.
func Observers(obs ...Observer) Observer {
	var keep []Observer
	for _, o := range obs {
		if o != nil {
			keep = append(keep, o)
		}
	}
	switch len(keep) {
	case 0:
		return nil
	case 1:
		return keep[0]
	}
	return observers(keep)
}

// observers passes each event to every observer in order.
type observers []Observer

func (os observers) Observe(ctx context.Context, e Event) {
	for _, o := range os {
		o.Observe(ctx, e)
	}
}
