package etltest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
)

// Sink is an in-memory [etl.Loader] with full-refresh semantics: a successful Load
// replaces its contents with the stream's rows, and a failed Load leaves them untouched,
// as a transactional SQL sink does. The zero Sink is empty and ready to use; it is safe
// for concurrent use.
//
// A Load fails when the stream fails, when it read no rows and the run does not allow an
// empty load ([etl.ErrEmpty]), or when a check of severity error fails (a *checks.Error, or an errors.Join of several).
// Errors carry the step, as the SQL sinks' do: "stage", "apply" or "check".
//
// Sink also implements [etl.FailureRecorder], so a test can see the failures that a
// pipeline reports when it fails before reaching the sink.
type Sink struct {
	// Table names the sink in check results. Defaults to "etltest".
	Table string
	// Checks run over each load's rows, in order, before the contents are replaced.
	// Defaults to none.
	Checks []StreamCheck

	mu       sync.Mutex
	schema   etl.Schema
	rows     []etl.Row
	loads    []LoadRecord
	failures []FailureRecord
}

// LoadRecord is what a [Sink] saw in one call to Load.
type LoadRecord struct {
	// Run is the run the load belonged to.
	Run *etl.Run
	// Schema is the stream's schema.
	Schema etl.Schema
	// Stats holds the run's counters when the load ended, with RowsWritten set.
	Stats etl.Stats
	// Checks holds every check's result, passed or not.
	Checks []etl.CheckResult
	// Err is what Load returned.
	Err error
}

// FailureRecord is one call to [Sink.RecordFailure].
type FailureRecord struct {
	Run   *etl.Run
	Stats etl.Stats
	Err   error
}

// Seed replaces the sink's contents without a load, to set up the "previous contents"
// that a failed load must leave alone.
func (s *Sink) Seed(schema etl.Schema, rows ...etl.Row) {
	kept := make([]etl.Row, len(rows))
	for i, r := range rows {
		kept[i] = r.Clone()
	}
	s.mu.Lock()
	s.schema, s.rows = slices.Clone(schema), kept
	s.mu.Unlock()
}

// Rows returns a copy of the sink's contents: the rows of the last successful load, or of
// [Sink.Seed].
func (s *Sink) Rows() []etl.Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]etl.Row, len(s.rows))
	for i, r := range s.rows {
		out[i] = r.Clone()
	}
	return out
}

// Schema returns the schema of the sink's contents.
func (s *Sink) Schema() etl.Schema {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.schema)
}

// Loads returns a record of every Load call, oldest first, failed ones included.
func (s *Sink) Loads() []LoadRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.loads)
}

// Last returns the record of the latest Load call, or the zero LoadRecord (with a nil
// Run) when there was none.
func (s *Sink) Last() LoadRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.loads) == 0 {
		return LoadRecord{}
	}
	return s.loads[len(s.loads)-1]
}

// Failures returns the failures recorded through [Sink.RecordFailure], oldest first.
func (s *Sink) Failures() []FailureRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.failures)
}

// RecordFailure records a run that failed before its Load; [etl.Pipeline] calls it.
func (s *Sink) RecordFailure(_ context.Context, run *etl.Run, stats etl.Stats, err error) error {
	s.mu.Lock()
	s.failures = append(s.failures, FailureRecord{Run: run, Stats: stats, Err: err})
	s.mu.Unlock()
	return nil
}

// Load reads the whole stream, runs the checks, and replaces the sink's contents with the
// rows (cloned), unless something failed.
func (s *Sink) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	if run == nil {
		run = etl.NewRun("etltest", etl.Window{})
	}
	res, err := s.load(ctx, run, in)
	rec := LoadRecord{Run: run, Schema: slices.Clone(in.Schema), Stats: run.Stats(), Checks: res.Checks, Err: err}
	rec.Stats.RowsWritten = res.RowsWritten
	s.mu.Lock()
	s.loads = append(s.loads, rec)
	s.mu.Unlock()
	return res, err
}

func (s *Sink) load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	if in.Rows == nil {
		return etl.LoadResult{}, etl.WithStep("stage", fmt.Errorf("etltest: sink %q: the stream has no Rows", s.table()))
	}
	var rows []etl.Row
	for row, err := range in.Rows {
		if err == nil {
			err = ctx.Err()
		}
		if err == nil && len(row) != len(in.Schema) {
			err = fmt.Errorf("etltest: sink %q: row %d has %d values, the schema has %d columns", s.table(), len(rows)+1, len(row), len(in.Schema))
		}
		if err != nil {
			return etl.LoadResult{}, etl.WithStep("stage", err)
		}
		rows = append(rows, row.Clone())
	}
	if len(rows) == 0 && !run.AllowEmpty {
		return etl.LoadResult{}, etl.WithStep("apply", fmt.Errorf("etltest: sink %q: %w", s.table(), etl.ErrEmpty))
	}

	stats := run.Stats()
	stats.RowsWritten = int64(len(rows))
	var results []etl.CheckResult
	for _, c := range s.Checks {
		r := c.CheckRows(in.Schema, rows, stats)
		if r.Severity == "" {
			r.Severity = etl.SeverityError
		}
		if r.Table == "" {
			r.Table = s.table()
		}
		results = append(results, r)
		run.Emit(ctx, etl.Event{Kind: etl.EventCheck, Stats: stats, Check: &r})
	}
	if err := checks.Failed(results); err != nil {
		return etl.LoadResult{Checks: results}, etl.WithStep("check", err)
	}

	s.mu.Lock()
	s.schema, s.rows = slices.Clone(in.Schema), rows
	s.mu.Unlock()
	return etl.LoadResult{RowsWritten: int64(len(rows)), Checks: results}, nil
}

func (s *Sink) table() string {
	if s.Table == "" {
		return "etltest"
	}
	return s.Table
}
