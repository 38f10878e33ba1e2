package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-etl/sluice/etl"
)

// Warn returns c with severity warn: its failure is recorded and the load commits.
func Warn(c Check) Check { return warned{c} }

type warned struct{ Check }

func (w warned) Severity() etl.Severity { return etl.SeverityWarn }

// RowCount checks that every row the source delivered reached the table (rows loaded
// equal rows read minus rejected and filtered), and that the load's size is within bounds.
// Rows loaded is the database's own count of the rows the load delivered ([Target.Loaded]).
type RowCount struct {
	// Min fails a load of fewer rows. Defaults to 0.
	Min int64
	// Max fails a load of more rows. Defaults to 0, no upper bound.
	Max int64
	// SkipBalance turns off the read-versus-loaded comparison, for a transform that
	// legitimately fans rows out. Defaults to false.
	SkipBalance bool
	// Level is the severity. Defaults to error.
	Level etl.Severity
}

// Name returns "row_count".
func (c RowCount) Name() string { return "row_count" }

// Severity returns the check's severity.
func (c RowCount) Severity() etl.Severity { return severity(c.Level) }

// Run compares the database's count of rows loaded with the run's counters.
func (c RowCount) Run(_ context.Context, t Target) (etl.CheckResult, error) {
	return c.judge(t.Stats, t.Loaded), nil
}

// CheckRows compares the rows held with the run's counters.
func (c RowCount) CheckRows(_ etl.Schema, rows []etl.Row, stats etl.Stats) etl.CheckResult {
	return c.judge(stats, int64(len(rows)))
}

func (c RowCount) judge(s etl.Stats, loaded int64) etl.CheckResult {
	r := etl.CheckResult{Name: c.Name(), Severity: c.Severity(), Passed: true}
	var want []string
	if !c.SkipBalance {
		want = append(want, fmt.Sprintf("%d rows loaded (read %d - rejected %d - filtered %d)",
			s.RowsExpected(), s.RowsRead, s.RowsRejected, s.RowsFiltered))
		if loaded != s.RowsExpected() {
			r.Passed = false
		}
	}
	if c.Min > 0 {
		want = append(want, fmt.Sprintf("at least %d rows", c.Min))
		if loaded < c.Min {
			r.Passed = false
		}
	}
	if c.Max > 0 {
		want = append(want, fmt.Sprintf("at most %d rows", c.Max))
		if loaded > c.Max {
			r.Passed = false
		}
	}
	r.Expected = strings.Join(want, ", ")
	if r.Expected == "" {
		r.Expected = "any number of rows"
	}
	r.Found = fmt.Sprintf("%d rows loaded", loaded)
	return r
}

// UniqueKey checks that no two rows share a key and that no key column is NULL: the
// primary-key guarantee that Redshift does not enforce. With no columns it checks the
// target's declared key.
//
// When a valid unique index covers exactly the key, the database already guarantees it and
// the check passes without a query; the result's Note says so.
func UniqueKey(cols ...string) Unique { return Unique{Columns: cols} }

// Unique is the check [UniqueKey] returns.
type Unique struct {
	// Columns form the key. Defaults to the target's declared key.
	Columns []string
	// Level is the severity. Defaults to error.
	Level etl.Severity
}

// Name returns "unique_key(col, ...)".
func (c Unique) Name() string { return "unique_key(" + strings.Join(c.Columns, ", ") + ")" }

// Severity returns the check's severity.
func (c Unique) Severity() etl.Severity { return severity(c.Level) }

// Run looks for duplicate and NULL keys in the table.
func (c Unique) Run(ctx context.Context, t Target) (etl.CheckResult, error) {
	cols := c.Columns
	if len(cols) == 0 {
		cols = t.Key
	}
	if len(cols) == 0 {
		return etl.CheckResult{}, fmt.Errorf("unique_key: no key columns given and table %s declares no key", t.Name)
	}
	r := etl.CheckResult{Name: "unique_key(" + strings.Join(cols, ", ") + ")", Severity: c.Severity(),
		Expected: "no duplicate or NULL keys"}
	if t.UniqueIndex != nil {
		covered, err := t.UniqueIndex(ctx, cols)
		if err != nil {
			return r, err
		}
		if covered {
			r.Passed, r.Found = true, "none"
			r.Note = "enforced by a unique index on the key; no scan needed"
			return r, nil
		}
	}
	keys := quoteAll(t.Dialect, cols)
	rows, err := t.DB.QueryRows(ctx, fmt.Sprintf(
		"SELECT %s, COUNT(*) FROM %s GROUP BY %s HAVING COUNT(*) > 1 ORDER BY COUNT(*) DESC LIMIT %d",
		keys, t.Table, keys, maxSamples))
	if err != nil {
		return r, err
	}
	var nullCond []string
	for _, col := range cols {
		nullCond = append(nullCond, t.Dialect.QuoteIdent(col)+" IS NULL")
	}
	nulls, err := count(ctx, t.DB, fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", t.Table, strings.Join(nullCond, " OR ")))
	if err != nil {
		return r, err
	}
	if len(rows) == 0 && nulls == 0 {
		r.Passed, r.Found = true, "none"
		return r, nil
	}
	var found []string
	if len(rows) > 0 {
		dups, err := count(ctx, t.DB, fmt.Sprintf(
			"SELECT COUNT(*) FROM (SELECT 1 AS one FROM %s GROUP BY %s HAVING COUNT(*) > 1) dup", t.Table, keys))
		if err != nil {
			return r, err
		}
		found = append(found, fmt.Sprintf("%d duplicate keys", dups))
	}
	if nulls > 0 {
		found = append(found, fmt.Sprintf("%d rows with a NULL key", nulls))
	}
	r.Found = strings.Join(found, " and ")
	for _, row := range rows {
		n, _ := asInt64(row[len(row)-1])
		r.Samples = append(r.Samples, fmt.Sprintf("%s (%d rows)", formatValues(row[:len(row)-1]), n))
	}
	return r, nil
}

// CheckRows looks for duplicate and NULL keys among rows.
func (c Unique) CheckRows(schema etl.Schema, rows []etl.Row, _ etl.Stats) etl.CheckResult {
	r := etl.CheckResult{Name: c.Name(), Severity: c.Severity(), Expected: "no duplicate or NULL keys"}
	return duplicates(r, schema, c.Columns, rows, true)
}

// duplicates counts repeated values of cols among rows. With nullIsBad, a NULL in any
// column is reported instead of grouped, as a key requires; otherwise NULLs group
// together, as SQL's GROUP BY does.
func duplicates(r etl.CheckResult, schema etl.Schema, cols []string, rows []etl.Row, nullIsBad bool) etl.CheckResult {
	idx := make([]int, len(cols))
	for i, col := range cols {
		if idx[i] = schema.Index(col); idx[i] < 0 {
			r.Found = fmt.Sprintf("no column %q", col)
			return r
		}
	}
	seen := make(map[string]int, len(rows))
	var order []string
	nulls := 0
	for _, row := range rows {
		key := make([]any, len(idx))
		null := false
		for i, j := range idx {
			key[i] = row[j]
			null = null || row[j] == nil
		}
		if null && nullIsBad {
			nulls++
			continue
		}
		k := formatValues(key)
		if seen[k] == 1 {
			order = append(order, k)
		}
		seen[k]++
	}
	var found []string
	if len(order) > 0 {
		found = append(found, fmt.Sprintf("%d duplicate keys", len(order)))
	}
	if nulls > 0 {
		found = append(found, fmt.Sprintf("%d rows with a NULL key", nulls))
	}
	if len(found) == 0 {
		r.Passed, r.Found = true, "none"
		return r
	}
	r.Found = strings.Join(found, " and ")
	for i, k := range order {
		if i == maxSamples {
			break
		}
		r.Samples = append(r.Samples, fmt.Sprintf("%s (%d rows)", k, seen[k]))
	}
	return r
}

// DuplicateRows checks that no two rows are identical in every loaded column.
type DuplicateRows struct {
	// Level is the severity. Defaults to error.
	Level etl.Severity
}

// Name returns "duplicate_rows".
func (c DuplicateRows) Name() string { return "duplicate_rows" }

// Severity returns the check's severity.
func (c DuplicateRows) Severity() etl.Severity { return severity(c.Level) }

// Run groups the table by every loaded column.
func (c DuplicateRows) Run(ctx context.Context, t Target) (etl.CheckResult, error) {
	r := etl.CheckResult{Name: c.Name(), Severity: c.Severity(), Expected: "no identical rows"}
	cols := quoteAll(t.Dialect, t.Columns)
	rows, err := t.DB.QueryRows(ctx, fmt.Sprintf(
		"SELECT %s, COUNT(*) FROM %s GROUP BY %s HAVING COUNT(*) > 1 LIMIT %d", cols, t.Table, cols, maxSamples))
	if err != nil {
		return r, err
	}
	if len(rows) == 0 {
		r.Passed, r.Found = true, "none"
		return r, nil
	}
	n, err := count(ctx, t.DB, fmt.Sprintf(
		"SELECT COUNT(*) FROM (SELECT 1 AS one FROM %s GROUP BY %s HAVING COUNT(*) > 1) dup", t.Table, cols))
	if err != nil {
		return r, err
	}
	r.Found = fmt.Sprintf("%d rows that occur more than once", n)
	for _, row := range rows {
		k, _ := asInt64(row[len(row)-1])
		r.Samples = append(r.Samples, fmt.Sprintf("(%s) x%d", formatValues(row[:len(row)-1]), k))
	}
	return r, nil
}

// CheckRows looks for identical rows.
func (c DuplicateRows) CheckRows(schema etl.Schema, rows []etl.Row, _ etl.Stats) etl.CheckResult {
	r := etl.CheckResult{Name: c.Name(), Severity: c.Severity(), Expected: "no identical rows"}
	return duplicates(r, schema, schema.Names(), rows, false)
}

// NotNull checks that the named columns hold no NULL.
func NotNull(cols ...string) NonNull { return NonNull{Columns: cols} }

// NonNull is the check [NotNull] returns.
type NonNull struct {
	// Columns must not hold NULL.
	Columns []string
	// Level is the severity. Defaults to error.
	Level etl.Severity
}

// Name returns "not_null(col, ...)".
func (c NonNull) Name() string { return "not_null(" + strings.Join(c.Columns, ", ") + ")" }

// Severity returns the check's severity.
func (c NonNull) Severity() etl.Severity { return severity(c.Level) }

// Run counts the NULLs of each column in one scan.
func (c NonNull) Run(ctx context.Context, t Target) (etl.CheckResult, error) {
	r := etl.CheckResult{Name: c.Name(), Severity: c.Severity(), Expected: "no NULL values"}
	if len(c.Columns) == 0 {
		return r, fmt.Errorf("not_null: no columns given")
	}
	sums := make([]string, len(c.Columns))
	for i, col := range c.Columns {
		sums[i] = fmt.Sprintf("SUM(CASE WHEN %s IS NULL THEN 1 ELSE 0 END)", t.Dialect.QuoteIdent(col))
	}
	rows, err := t.DB.QueryRows(ctx, fmt.Sprintf("SELECT %s FROM %s", strings.Join(sums, ", "), t.Table))
	if err != nil {
		return r, err
	}
	// One row of one count per column, or the check did not look: never read that as none.
	if len(rows) != 1 || len(rows[0]) != len(c.Columns) {
		return r, fmt.Errorf("not_null: the NULL count returned %d rows, want one of %d columns", len(rows), len(c.Columns))
	}
	var found []string
	for i, v := range rows[0] {
		n, err := asInt64(v)
		if err != nil {
			return r, err
		}
		if n > 0 {
			found = append(found, fmt.Sprintf("%d NULLs in %s", n, c.Columns[i]))
		}
	}
	return notNullResult(r, found), nil
}

// CheckRows counts the NULLs of each column among rows.
func (c NonNull) CheckRows(schema etl.Schema, rows []etl.Row, _ etl.Stats) etl.CheckResult {
	r := etl.CheckResult{Name: c.Name(), Severity: c.Severity(), Expected: "no NULL values"}
	var found []string
	for _, col := range c.Columns {
		j := schema.Index(col)
		if j < 0 {
			found = append(found, fmt.Sprintf("no column %q", col))
			continue
		}
		n := 0
		for _, row := range rows {
			if row[j] == nil {
				n++
			}
		}
		if n > 0 {
			found = append(found, fmt.Sprintf("%d NULLs in %s", n, col))
		}
	}
	return notNullResult(r, found)
}

func notNullResult(r etl.CheckResult, found []string) etl.CheckResult {
	if len(found) == 0 {
		r.Passed, r.Found = true, "none"
		return r
	}
	r.Found = strings.Join(found, ", ")
	return r
}

// Shrink fails a load that leaves the table with fewer than Fraction of the rows it had
// before, such as 0.5 for "lost more than half". It guards a full refresh against a source
// that silently returned a fraction of its data. A table that was empty always passes.
type Shrink struct {
	// Fraction is the smallest allowed ratio of new to old rows, between 0 and 1.
	Fraction float64
	// Level is the severity. Defaults to error.
	Level etl.Severity
}

// Name returns "shrink(fraction)".
func (c Shrink) Name() string { return fmt.Sprintf("shrink(%g)", c.Fraction) }

// Severity returns the check's severity.
func (c Shrink) Severity() etl.Severity { return severity(c.Level) }

// NeedsPriorRows asks the sink to count the table before the load.
func (c Shrink) NeedsPriorRows() bool { return true }

// Run counts the table and compares it with the count from before the load.
func (c Shrink) Run(ctx context.Context, t Target) (etl.CheckResult, error) {
	r := etl.CheckResult{Name: c.Name(), Severity: c.Severity()}
	if t.PriorRows < 0 {
		return r, fmt.Errorf("shrink: the sink did not count the table before the load")
	}
	now, err := count(ctx, t.DB, "SELECT COUNT(*) FROM "+t.Table)
	if err != nil {
		return r, err
	}
	min := c.Fraction * float64(t.PriorRows)
	r.Expected = fmt.Sprintf("at least %g rows (%g of %d before the load)", min, c.Fraction, t.PriorRows)
	r.Found = fmt.Sprintf("%d rows", now)
	r.Passed = t.PriorRows == 0 || float64(now) >= min
	return r, nil
}

// SQL returns a custom assertion: query selects the offending rows, and the check passes
// when it returns none. The text {{table}} in query is replaced by the loaded table, quoted.
// The query is the pipeline author's code, run as written inside the load transaction.
//
//	checks.SQL("gender_known", "SELECT name, gender FROM {{table}} WHERE gender NOT IN ('F', 'M', 'Unisex')")
func SQL(name, query string) Assertion { return Assertion{Label: name, Query: query} }

// Assertion is the check [SQL] returns.
type Assertion struct {
	// Label names the check.
	Label string
	// Query selects offending rows; {{table}} stands for the loaded table.
	Query string
	// Level is the severity. Defaults to error.
	Level etl.Severity
}

// Name returns "sql(label)".
func (c Assertion) Name() string { return "sql(" + c.Label + ")" }

// Severity returns the check's severity.
func (c Assertion) Severity() etl.Severity { return severity(c.Level) }

// Run executes the query and fails when it returns rows.
func (c Assertion) Run(ctx context.Context, t Target) (etl.CheckResult, error) {
	r := etl.CheckResult{Name: c.Name(), Severity: c.Severity(), Expected: "no rows from the assertion"}
	q := strings.ReplaceAll(c.Query, "{{table}}", t.Table)
	rows, err := t.DB.QueryRows(ctx, fmt.Sprintf("SELECT * FROM (%s) assertion LIMIT %d", q, maxSamples+1))
	if err != nil {
		return r, err
	}
	if len(rows) == 0 {
		r.Passed, r.Found = true, "none"
		return r, nil
	}
	if len(rows) > maxSamples {
		r.Found = fmt.Sprintf("more than %d rows", maxSamples)
		rows = rows[:maxSamples]
	} else {
		r.Found = fmt.Sprintf("%d rows", len(rows))
	}
	for _, row := range rows {
		r.Samples = append(r.Samples, formatValues(row))
	}
	return r, nil
}

func count(ctx context.Context, db DB, q string) (int64, error) {
	rows, err := db.QueryRows(ctx, q)
	if err != nil {
		return 0, err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return 0, fmt.Errorf("count query returned %d rows", len(rows))
	}
	return asInt64(rows[0][0])
}
