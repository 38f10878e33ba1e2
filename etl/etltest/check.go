package etltest

import (
	"fmt"
	"strings"

	"github.com/sluice-etl/sluice/etl"
)

// maxSamples bounds the offending keys a check result lists.
const maxSamples = 5

// StreamCheck is a data check over the rows of one load, held in memory. A [Sink] runs its
// checks after reading the stream and before replacing its contents.
//
// stats holds the run's counters, with RowsWritten set to len(rows). The result's
// Severity defaults to [etl.SeverityError] and its Table to the sink's table when left
// empty. The checks of package checks that implement checks.RowsChecker have this very
// method, so they satisfy StreamCheck too.
type StreamCheck interface {
	CheckRows(schema etl.Schema, rows []etl.Row, stats etl.Stats) etl.CheckResult
}

// CheckFunc adapts a function to [StreamCheck].
type CheckFunc func(schema etl.Schema, rows []etl.Row, stats etl.Stats) etl.CheckResult

// CheckRows calls f(schema, rows, stats).
func (f CheckFunc) CheckRows(schema etl.Schema, rows []etl.Row, stats etl.Stats) etl.CheckResult {
	return f(schema, rows, stats)
}

// UniqueKey returns a check that no two rows share a value of cols and that no key column
// is NULL, the primary-key guarantee, named "unique_key(col, ...)" as in package checks.
func UniqueKey(cols ...string) *UniqueKeyCheck { return &UniqueKeyCheck{Columns: cols} }

// UniqueKeyCheck is the check [UniqueKey] returns.
type UniqueKeyCheck struct {
	// Columns form the key.
	Columns []string
	// Severity is the check's severity. Defaults to etl.SeverityError.
	Severity etl.Severity
}

// CheckRows looks for duplicate and NULL keys among rows.
func (c *UniqueKeyCheck) CheckRows(schema etl.Schema, rows []etl.Row, _ etl.Stats) etl.CheckResult {
	r := etl.CheckResult{
		Name:     "unique_key(" + strings.Join(c.Columns, ", ") + ")",
		Severity: severity(c.Severity),
		Expected: "no duplicate or NULL keys",
	}
	if len(c.Columns) == 0 {
		r.Found = "no key columns given"
		return r
	}
	idx := make([]int, len(c.Columns))
	for i, col := range c.Columns {
		if idx[i] = schema.Index(col); idx[i] < 0 {
			r.Found = fmt.Sprintf("no column %q", col)
			return r
		}
	}
	seen := make(map[string]int, len(rows))
	var dups []string
	nulls := 0
	parts := make([]string, len(idx))
	for _, row := range rows {
		null := false
		for i, j := range idx {
			null = null || row[j] == nil
			parts[i] = formatValue(row[j])
		}
		if null {
			nulls++
			continue
		}
		k := strings.Join(parts, ", ")
		if seen[k] == 1 {
			dups = append(dups, k)
		}
		seen[k]++
	}
	var found []string
	if len(dups) > 0 {
		found = append(found, fmt.Sprintf("%d duplicate keys", len(dups)))
	}
	if nulls > 0 {
		found = append(found, fmt.Sprintf("%d rows with a NULL key", nulls))
	}
	if len(found) == 0 {
		r.Passed, r.Found = true, "none"
		return r
	}
	r.Found = strings.Join(found, " and ")
	for _, k := range dups[:min(len(dups), maxSamples)] {
		r.Samples = append(r.Samples, fmt.Sprintf("(%s) (%d rows)", k, seen[k]))
	}
	return r
}

// RowCount returns a check, named "row_count" as in package checks, that every row the
// source delivered reached the sink (rows loaded equal rows read minus rejected and
// filtered) and that the load holds at least min and, when max is positive, at most max
// rows.
func RowCount(min, max int64) *RowCountCheck { return &RowCountCheck{Min: min, Max: max} }

// RowCountCheck is the check [RowCount] returns.
type RowCountCheck struct {
	// Min fails a load of fewer rows. Defaults to 0.
	Min int64
	// Max fails a load of more rows. Defaults to 0, no upper bound.
	Max int64
	// SkipBalance turns off the read-versus-loaded comparison, for a transform that
	// fans rows out. Defaults to false.
	SkipBalance bool
	// Severity is the check's severity. Defaults to etl.SeverityError.
	Severity etl.Severity
}

// CheckRows compares the number of rows with the bounds and the run's counters.
func (c *RowCountCheck) CheckRows(_ etl.Schema, rows []etl.Row, s etl.Stats) etl.CheckResult {
	loaded := int64(len(rows))
	r := etl.CheckResult{Name: "row_count", Severity: severity(c.Severity), Passed: true}
	var want []string
	if !c.SkipBalance {
		want = append(want, fmt.Sprintf("%d rows loaded (read %d - rejected %d - filtered %d)",
			s.RowsExpected(), s.RowsRead, s.RowsRejected, s.RowsFiltered))
		r.Passed = loaded == s.RowsExpected()
	}
	if c.Min > 0 {
		want = append(want, fmt.Sprintf("at least %d rows", c.Min))
		r.Passed = r.Passed && loaded >= c.Min
	}
	if c.Max > 0 {
		want = append(want, fmt.Sprintf("at most %d rows", c.Max))
		r.Passed = r.Passed && loaded <= c.Max
	}
	r.Expected = strings.Join(want, ", ")
	if r.Expected == "" {
		r.Expected = "any number of rows"
	}
	r.Found = fmt.Sprintf("%d rows loaded", loaded)
	return r
}

func severity(s etl.Severity) etl.Severity {
	if s == "" {
		return etl.SeverityError
	}
	return s
}
