package checks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-etl/sluice/etl"
)

// maxSamples bounds the offending keys a result carries.
const maxSamples = 5

// DB runs read-only queries inside the load's transaction.
type DB interface {
	// QueryRows runs sql with args and returns all result rows. Checks always bound their
	// results with LIMIT or an aggregate.
	QueryRows(ctx context.Context, sql string, args ...any) ([][]any, error)
}

// Dialect renders identifiers and placeholders for one SQL database.
type Dialect interface {
	// QuoteIdent quotes one identifier, such as a column name.
	QuoteIdent(name string) string
	// Placeholder returns the n-th (1-based) bind parameter, such as "$1" or "?".
	Placeholder(n int) string
}

// Target is what a check looks at.
type Target struct {
	// DB sees the load's uncommitted rows.
	DB DB
	// Dialect renders SQL for DB.
	Dialect Dialect
	// Table is the loaded table, quoted and qualified, ready for SQL.
	Table string
	// Name is the table's name for people, used in results and errors.
	Name string
	// Columns are the loaded columns.
	Columns []string
	// Key is the table's declared key, if any; UniqueKey with no columns checks it.
	Key []string
	// Stats holds the run's counters: rows read, rejected, filtered and written.
	Stats etl.Stats
	// Loaded is the number of rows the load delivered to the database, as the database
	// counted them (the COPY or INSERT row count of the staging step). Tombstones and
	// duplicates that a merge later folds away are included.
	Loaded int64
	// PriorRows is the table's row count before the load, or -1 when unknown. Sinks measure
	// it only when a check implements [PriorCounter].
	PriorRows int64
	// UniqueIndex reports whether a valid unique index covers exactly cols, which makes a
	// uniqueness query redundant. Nil means unknown.
	UniqueIndex func(ctx context.Context, cols []string) (bool, error)
}

// Check is one data assertion.
type Check interface {
	// Name identifies the check in results, such as "unique_key(id)".
	Name() string
	// Severity says whether a failure rolls the load back.
	Severity() etl.Severity
	// Run evaluates the check. An error means the check could not run (bad SQL, say), which
	// fails the load whatever the severity; a failed check is a result with Passed false.
	Run(ctx context.Context, t Target) (etl.CheckResult, error)
}

// RowsChecker is implemented by checks that can also run over rows held in memory.
type RowsChecker interface {
	CheckRows(schema etl.Schema, rows []etl.Row, stats etl.Stats) etl.CheckResult
}

// PriorCounter is implemented by checks that need the table's row count from before the
// load. Sinks count the rows only when some check asks.
type PriorCounter interface {
	NeedsPriorRows() bool
}

// Error is a failed check.
type Error struct {
	Result etl.CheckResult
}

// Error implements the error interface.
func (e *Error) Error() string {
	r := e.Result
	var b strings.Builder
	fmt.Fprintf(&b, "check %s failed on table %s", r.Name, r.Table)
	if r.Expected != "" || r.Found != "" {
		fmt.Fprintf(&b, ": expected %s, found %s", r.Expected, r.Found)
	}
	if len(r.Samples) > 0 {
		fmt.Fprintf(&b, " (e.g. %s)", strings.Join(r.Samples, "; "))
	}
	return b.String()
}

// CheckResult returns the failed result.
func (e *Error) CheckResult() etl.CheckResult { return e.Result }

// Failed returns the error-severity failures in results as one error: nil when there are
// none, a *Error for one, and an errors.Join of *Error values for several.
func Failed(results []etl.CheckResult) error {
	var errs []error
	for _, r := range results {
		if !r.Passed && r.Severity != etl.SeverityWarn {
			errs = append(errs, &Error{Result: r})
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// Results returns every *Error's result found in err's tree, for callers and test helpers
// that want the failed checks behind a load error.
func Results(err error) []etl.CheckResult {
	var out []etl.CheckResult
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if ce, ok := err.(*Error); ok {
			out = append(out, ce.Result)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// Run evaluates every check against t, in order, and returns all results. The error is
// the first check that could not run; failed checks are results, not errors (see Failed).
func Run(ctx context.Context, t Target, cs []Check) ([]etl.CheckResult, error) {
	results := make([]etl.CheckResult, 0, len(cs))
	for _, c := range cs {
		r, err := c.Run(ctx, t)
		if err != nil {
			return results, fmt.Errorf("check %s on table %s: %w", c.Name(), t.Name, err)
		}
		if r.Name == "" {
			r.Name = c.Name()
		}
		if r.Table == "" {
			r.Table = t.Name
		}
		r.Severity = c.Severity() // a wrapper such as Warn decides, not the inner check
		results = append(results, r)
	}
	return results, nil
}

// severity turns the zero value into the default.
func severity(s etl.Severity) etl.Severity {
	if s == "" {
		return etl.SeverityError
	}
	return s
}

func quoteAll(d Dialect, cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = d.QuoteIdent(c)
	}
	return strings.Join(q, ", ")
}

func asInt64(v any) (int64, error) {
	switch n := v.(type) {
	case int64:
		return n, nil
	case int32:
		return int64(n), nil
	case int:
		return int64(n), nil
	case float64:
		return int64(n), nil
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("checks: count came back as %T", v)
}

func formatValues(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		if v == nil {
			parts[i] = "NULL"
			continue
		}
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
