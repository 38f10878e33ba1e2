package etltest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

// RequireRows fails the test unless got holds the rows of want in the same order. The
// failure message shows a line diff of the rows, then msgAndArgs as testify formats them.
//
// Values compare by their formatted form, which keeps the Go type: int64(1) and int(1)
// differ, float64 values compare exactly, byte slices by content (a nil slice differs
// from an empty one and from NULL), and times as instants, so the same moment in two time
// zones is equal.
func RequireRows(tb testing.TB, want, got []etl.Row, msgAndArgs ...any) {
	tb.Helper()
	requireRows(tb, want, got, false, msgAndArgs)
}

// RequireRowsAnyOrder is [RequireRows] that ignores the order of the rows, for sinks and
// sources that promise none. Duplicates still count: two equal rows in want need two in
// got.
func RequireRowsAnyOrder(tb testing.TB, want, got []etl.Row, msgAndArgs ...any) {
	tb.Helper()
	requireRows(tb, want, got, true, msgAndArgs)
}

func requireRows(tb testing.TB, want, got []etl.Row, anyOrder bool, msgAndArgs []any) {
	tb.Helper()
	w, g := formatRows(want), formatRows(got)
	order := "in order"
	if anyOrder {
		slices.Sort(w)
		slices.Sort(g)
		order = "in any order"
	}
	if slices.Equal(w, g) {
		return
	}
	msg := fmt.Sprintf("rows differ (%s): want %d, got %d\n--- want\n+++ got\n%s",
		order, len(want), len(got), strings.Join(diffLines(w, g), "\n"))
	require.Fail(tb, msg, msgAndArgs...)
}

// RequireStats fails the test unless got equals want, ignoring Duration. The failure
// message shows testify's diff of the two.
func RequireStats(tb testing.TB, want, got etl.Stats) {
	tb.Helper()
	want.Duration, got.Duration = 0, 0
	require.Equal(tb, want, got, "run stats differ (Duration is not compared)")
}

// RequireCheckFailed fails the test unless err's chain holds a failed check named
// checkName, and returns that check's result. checkName matches a result's full name
// ("unique_key(id)") or its name up to the parenthesis ("unique_key").
//
// Any error in the chain (through Unwrap() error and Unwrap() []error) counts when it has
// a method CheckResults() []etl.CheckResult, as [*CheckError] has, or CheckResult()
// etl.CheckResult, as package checks' *checks.Error has; a result counts when its Passed
// is false.
func RequireCheckFailed(tb testing.TB, err error, checkName string) etl.CheckResult {
	tb.Helper()
	if err == nil {
		require.Fail(tb, fmt.Sprintf("expected check %q to fail, but there was no error", checkName))
		return etl.CheckResult{}
	}
	failed := FailedChecks(err)
	names := make([]string, len(failed))
	for i, r := range failed {
		if r.Name == checkName || strings.SplitN(r.Name, "(", 2)[0] == checkName {
			return r
		}
		names[i] = strconv.Quote(r.Name)
	}
	found := "no failed check is in the error chain"
	if len(names) > 0 {
		found = "the failed checks are " + strings.Join(names, ", ")
	}
	require.Fail(tb, fmt.Sprintf("expected check %q to fail, but %s\nerror: %v", checkName, found, err))
	return etl.CheckResult{}
}

// FailedChecks returns the failed check results in err's chain, found as
// [RequireCheckFailed] describes, in the order the chain is walked.
func FailedChecks(err error) []etl.CheckResult {
	var out []etl.CheckResult
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if c, ok := err.(interface{ CheckResults() []etl.CheckResult }); ok {
			for _, r := range c.CheckResults() {
				if !r.Passed {
					out = append(out, r)
				}
			}
		}
		if c, ok := err.(interface{ CheckResult() etl.CheckResult }); ok {
			if r := c.CheckResult(); !r.Passed {
				out = append(out, r)
			}
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

func formatRows(rows []etl.Row) []string {
	out := make([]string, len(rows))
	var b strings.Builder
	for i, r := range rows {
		b.Reset()
		b.WriteByte('(')
		for j, v := range r {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(formatValue(v))
		}
		b.WriteByte(')')
		out[i] = b.String()
	}
	return out
}

// formatValue writes v so that values of different Go types never look alike: text is
// quoted, int64 and bool are bare, and other types are named.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return strconv.Quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return "float64(" + strconv.FormatFloat(x, 'g', -1, 64) + ")"
	case etl.Decimal:
		return "decimal(" + string(x) + ")"
	case time.Time:
		return "time(" + x.UTC().Format(time.RFC3339Nano) + ")"
	case []byte:
		if x == nil {
			return "bytes(nil)" // neither NULL nor the empty value: a sink may store either
		}
		return fmt.Sprintf("bytes(%q)", x)
	}
	return fmt.Sprintf("%T(%#v)", v, v)
}

// diffContext is how many equal lines the diff keeps around each change.
const diffContext = 2

// diffLines returns a line diff of want and got: "  " for lines in both, "- " for lines
// only in want, "+ " for lines only in got. Long runs of equal lines are elided.
func diffLines(want, got []string) []string { return elide(diffOps(want, got)) }

// diffOps is diffLines without the elision.
func diffOps(want, got []string) []string {
	var ops []string
	n, m := len(want), len(got)
	if n*m > 4_000_000 {
		// Too large for the quadratic table: show everything as changed.
		for _, w := range want {
			ops = append(ops, "- "+w)
		}
		for _, g := range got {
			ops = append(ops, "+ "+g)
		}
		return ops
	}
	// lcs[i][j] is the length of the longest common subsequence of want[i:] and got[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			ops = append(ops, "  "+want[i])
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, "- "+want[i])
			i++
		default:
			ops = append(ops, "+ "+got[j])
			j++
		}
	}
	return ops
}

// elide replaces runs of equal lines far from any change with a count.
func elide(ops []string) []string {
	keep := make([]bool, len(ops))
	for i, op := range ops {
		if op[0] != ' ' {
			for k := max(0, i-diffContext); k <= min(len(ops)-1, i+diffContext); k++ {
				keep[k] = true
			}
		}
	}
	var out []string
	skipped := 0
	for i, op := range ops {
		if keep[i] {
			if skipped > 0 {
				out = append(out, fmt.Sprintf("  ... %d equal rows", skipped))
				skipped = 0
			}
			out = append(out, op)
			continue
		}
		skipped++
	}
	if skipped > 0 {
		out = append(out, fmt.Sprintf("  ... %d equal rows", skipped))
	}
	return out
}
