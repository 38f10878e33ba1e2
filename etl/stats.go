package etl

import (
	"fmt"
	"time"
)

// Stats counts what one run did.
type Stats struct {
	// RowsRead counts records the source read, rejected ones included.
	RowsRead int64
	// RowsRejected counts records the source skipped as bad (see [Reject]).
	RowsRejected int64
	// RowsFiltered counts rows a transform dropped on purpose (see [Filter]).
	RowsFiltered int64
	// RowsWritten counts rows inserted or replaced in the target.
	RowsWritten int64
	// RowsDeleted counts target rows removed by deletes or key reconciliation.
	RowsDeleted int64
	// Duration is the wall time of the run.
	Duration time.Duration
}

// RowsExpected is the number of rows that should reach the target: read, minus rejected,
// minus filtered.
func (s Stats) RowsExpected() int64 { return s.RowsRead - s.RowsRejected - s.RowsFiltered }

// Reject describes a record a source skipped as bad instead of failing the run.
type Reject struct {
	// Source names the input, such as a file path or URL.
	Source string
	// Line is the 1-based line (or record number) in the source, 0 when unknown.
	Line int64
	// Column names the offending column, empty when the whole record is bad.
	Column string
	// Err says what was wrong.
	Err error
}

// Error formats the reject as "source:line: column "c": err".
// Parts that are unknown are left out.
func (r Reject) Error() string {
	s := r.Source
	if r.Line > 0 {
		s += fmt.Sprintf(":%d", r.Line)
	}
	if r.Column != "" {
		if s != "" {
			s += ": "
		}
		s += fmt.Sprintf("column %q", r.Column)
	}
	if s == "" {
		return r.Err.Error()
	}
	return s + ": " + r.Err.Error()
}

// Unwrap returns the underlying error.
func (r Reject) Unwrap() error { return r.Err }
