package dag

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// ErrRunNotFound is returned by [Store.LoadRun] for an unknown run ID.
var ErrRunNotFound = errors.New("no run with this ID")

// Store keeps the history of DAG runs and guards against overlapping runs. The default is
// a [MemoryStore]; package dag/pgstore keeps history in PostgreSQL, so that resumed
// backfills and `history` work across the invocations of a cron job.
//
// A store that holds resources may also implement io.Closer; [MainArgs] closes the store
// it opened.
type Store interface {
	// Lock takes the DAG's run lock without waiting. When another run holds it, Lock
	// returns an error wrapping [etl.ErrLocked]. unlock releases it and must be called
	// once.
	Lock(ctx context.Context, dag string) (unlock func(), err error)
	// SaveRun inserts or replaces the record of rep.RunID. The runner saves a run when it
	// starts and again when it ends. The store must not keep rep itself.
	SaveRun(ctx context.Context, rep *Report) error
	// Runs returns the runs that match q, newest first.
	Runs(ctx context.Context, q Query) ([]*Report, error)
	// LoadRun returns one run, or an error wrapping [ErrRunNotFound].
	LoadRun(ctx context.Context, runID string) (*Report, error)
}

// Pruner is implemented by stores that can forget old runs. It is optional; the stores
// in this module implement it.
type Pruner interface {
	// Prune deletes the finished runs of the DAG that started before before, and returns
	// how many it deleted. Runs still marked running are kept, and so is the successful
	// run with the latest window end, which [DAG.DueWindows] catches up from: after an
	// outage longer than the retention, a scheduled run still resumes where it stopped
	// rather than from Config.Start. A backfill over a pruned window no longer knows it
	// succeeded, and runs it again.
	Prune(ctx context.Context, dag string, before time.Time) (int64, error)
}

// PruneHook trims history that a DAG's tasks keep outside its [Store], for the `prune`
// command of [MainArgs]; see [Config.PruneHooks]. Package dag imports no sink, so the
// program supplies the function, usually a closure over a sink's PruneRuns.
type PruneHook struct {
	// Name says what is pruned, in the command's output and errors, such as "sluice_runs".
	Name string
	// Prune deletes the records older than olderThan and returns how many it deleted.
	Prune func(ctx context.Context, olderThan time.Duration) (int64, error)
}

// Abandoner is implemented by stores that can mark, in one step, the runs of a DAG still
// recorded as running. [DAG.Run] and [DAG.Backfill] call it right after taking the DAG's
// lock, which proves those runs' processes are gone. It is optional: without it the
// runner reads the DAG's history through [Store.Runs] and saves each such run again. The
// stores in this module implement it.
type Abandoner interface {
	// MarkAbandoned gives every run of the DAG whose status is running the status
	// abandoned, Finished at, and Error why, and returns how many it marked.
	MarkAbandoned(ctx context.Context, dag, why string, at time.Time) (int64, error)
}

// Watermarker is implemented by stores that can find the end of a DAG's latest successful
// window without reading its whole history. It is optional: [DAG.DueWindows] falls back
// to reading every run of the DAG through [Store.Runs], which grows with the history. The
// stores in this module implement it.
type Watermarker interface {
	// Watermark returns the latest window end among the DAG's successful runs over a
	// window, or the zero time when there is none. Runs over all data do not count.
	Watermark(ctx context.Context, dag string) (time.Time, error)
}

// Query selects runs from a [Store]. The zero Query matches the 20 newest runs.
type Query struct {
	// DAG keeps runs of this DAG only. Defaults to any DAG.
	DAG string
	// Task keeps runs that include this task; with Failed, runs in which it failed.
	// Defaults to any.
	Task string
	// Failed keeps only failed and abandoned runs. Defaults to false.
	Failed bool
	// From and To keep runs whose window starts in [From, To); either bound leaves out
	// runs over all data (the zero window), which have no start. Defaults to no bound.
	From, To time.Time
	// Limit caps the number of runs returned. Defaults to 20; negative means no cap.
	Limit int
}

// Match reports whether rep satisfies q's filters (Limit aside). Stores may use it.
func (q Query) Match(rep *Report) bool {
	if q.DAG != "" && rep.DAG != q.DAG {
		return false
	}
	if (!q.From.IsZero() || !q.To.IsZero()) && rep.Window.IsZero() {
		return false
	}
	if !q.From.IsZero() && rep.Window.Start.Before(q.From) {
		return false
	}
	if !q.To.IsZero() && !rep.Window.Start.Before(q.To) {
		return false
	}
	if q.Task != "" {
		t := rep.Task(q.Task)
		if t == nil {
			return false
		}
		if q.Failed {
			return t.Status == StatusFailed
		}
		return true
	}
	if q.Failed && rep.Status != StatusFailed && rep.Status != StatusAbandoned {
		return false
	}
	return true
}

// MaxResults returns the number of runs q asks for, with the default applied, or -1 for
// no cap.
func (q Query) MaxResults() int {
	switch {
	case q.Limit == 0:
		return 20
	case q.Limit < 0:
		return -1
	}
	return q.Limit
}

// MemoryStore is a [Store] that keeps history in memory, for one process. Its lock
// guards against overlap within the process only, and its history grows until
// [MemoryStore.Prune] trims it. The zero value is an empty store, ready to use.
type MemoryStore struct {
	mu     sync.Mutex
	runs   map[string]*Report
	order  []string // run IDs, oldest first
	locked map[string]bool
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Lock takes the named DAG's lock, or fails with [etl.ErrLocked].
func (s *MemoryStore) Lock(ctx context.Context, dag string) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked[dag] {
		return nil, fmt.Errorf("memory store: dag %q: %w", dag, etl.ErrLocked)
	}
	if s.locked == nil {
		s.locked = map[string]bool{}
	}
	s.locked[dag] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.locked, dag)
			s.mu.Unlock()
		})
	}, nil
}

// SaveRun stores a copy of rep.
func (s *MemoryStore) SaveRun(ctx context.Context, rep *Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs == nil {
		s.runs = map[string]*Report{}
	}
	if _, ok := s.runs[rep.RunID]; !ok {
		s.order = append(s.order, rep.RunID)
	}
	s.runs[rep.RunID] = rep.clone()
	return nil
}

// Runs returns copies of the matching runs, newest first.
func (s *MemoryStore) Runs(ctx context.Context, q Query) ([]*Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Report
	for _, id := range slices.Backward(s.order) {
		if r := s.runs[id]; q.Match(r) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *Report) int { return -cmp.Compare(a.Started.UnixNano(), b.Started.UnixNano()) })
	if m := q.MaxResults(); m >= 0 && len(out) > m {
		out = out[:m]
	}
	// Copy only what is returned: history asks for 20 runs of a long history.
	for i, r := range out {
		out[i] = r.clone()
	}
	return out, nil
}

// LoadRun returns a copy of one run.
func (s *MemoryStore) LoadRun(ctx context.Context, runID string) (*Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[runID]
	if !ok {
		return nil, fmt.Errorf("memory store: run %q: %w", runID, ErrRunNotFound)
	}
	return r.clone(), nil
}

// MarkAbandoned marks the DAG's running runs abandoned; see [Abandoner].
func (s *MemoryStore) MarkAbandoned(ctx context.Context, dag, why string, at time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, r := range s.runs {
		if r.DAG == dag && r.Status == StatusRunning {
			abandon(r, why, at)
			n++
		}
	}
	return n, nil
}

// abandon marks rep abandoned at at, for why.
func abandon(rep *Report, why string, at time.Time) {
	rep.Status = StatusAbandoned
	rep.Finished = at.UTC()
	rep.Duration = rep.Finished.Sub(rep.Started)
	rep.Error = why
}

// Watermark returns the latest window end among the DAG's successful runs.
func (s *MemoryStore) Watermark(ctx context.Context, dag string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mark := s.watermarkRun(dag); mark != nil {
		return mark.Window.End, nil
	}
	return time.Time{}, nil
}

// watermarkRun returns the DAG's successful run with the latest window end (the latest
// started among equals), or nil. s.mu must be held.
func (s *MemoryStore) watermarkRun(dag string) *Report {
	var mark *Report
	for _, r := range s.runs {
		if r.DAG != dag || r.Status != StatusSuccess || r.Window.IsZero() {
			continue
		}
		if mark == nil || r.Window.End.After(mark.Window.End) ||
			r.Window.End.Equal(mark.Window.End) && r.Started.After(mark.Started) {
			mark = r
		}
	}
	return mark
}

// Prune deletes the DAG's finished runs that started before before, but for the one that
// sets its watermark; see [Pruner].
func (s *MemoryStore) Prune(ctx context.Context, dag string, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mark := s.watermarkRun(dag)
	var n int64
	keep := s.order[:0]
	for _, id := range s.order {
		r := s.runs[id]
		if r.DAG == dag && r.Status != StatusRunning && r.Started.Before(before) && r != mark {
			delete(s.runs, id)
			n++
			continue
		}
		keep = append(keep, id)
	}
	s.order = keep
	return n, nil
}
