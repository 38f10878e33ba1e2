package checks_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

// pgDB runs check queries on a pool; the dialect is PostgreSQL's.
type pgDB struct{ pool *pgxpool.Pool }

func (d pgDB) QueryRows(ctx context.Context, sql string, args ...any) ([][]any, error) {
	rows, err := d.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

type pgDialect struct{}

func (pgDialect) QuoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }
func (pgDialect) Placeholder(n int) string   { return fmt.Sprintf("$%d", n) }

func target(t *testing.T, ddl string, rows ...string) checks.Target {
	t.Helper()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, ddl)
	require.NoError(t, err)
	for _, r := range rows {
		_, err := db.Pool.Exec(ctx, `INSERT INTO "My Table" VALUES `+r)
		require.NoError(t, err)
	}
	return checks.Target{DB: pgDB{db.Pool}, Dialect: pgDialect{}, Table: `"My Table"`, Name: "My Table",
		Columns: []string{"id", "Name"}, Key: []string{"id"}, PriorRows: -1}
}

func TestSQLChecksFindWhatIsWrong(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tg := target(t, `CREATE TABLE "My Table" (id int, "Name" text)`,
		`(1, 'a')`, `(2, 'b')`, `(2, 'b')`, `(3, 'c')`, `(3, 'x')`, `(NULL, 'n')`, `(4, NULL)`)

	r, err := checks.UniqueKey("id").Run(ctx, tg)
	require.NoError(t, err)
	require.False(t, r.Passed)
	require.Equal(t, "2 duplicate keys and 1 rows with a NULL key", r.Found)
	require.ElementsMatch(t, []string{"2 (2 rows)", "3 (2 rows)"}, r.Samples)

	r, err = checks.UniqueKey().Run(ctx, tg) // the target's declared key
	require.NoError(t, err)
	require.Equal(t, "unique_key(id)", r.Name)
	require.False(t, r.Passed)

	r, err = checks.DuplicateRows{}.Run(ctx, tg)
	require.NoError(t, err)
	require.False(t, r.Passed)
	require.Equal(t, []string{"(2, b) x2"}, r.Samples)
	require.Equal(t, "1 rows that occur more than once", r.Found)

	r, err = checks.NotNull("id", "Name").Run(ctx, tg)
	require.NoError(t, err)
	require.False(t, r.Passed)
	require.Equal(t, "1 NULLs in id, 1 NULLs in Name", r.Found)

	r, err = checks.SQL("no_x", `SELECT id FROM {{table}} WHERE "Name" = 'x'`).Run(ctx, tg)
	require.NoError(t, err)
	require.False(t, r.Passed)
	require.Equal(t, []string{"3"}, r.Samples)

	r, err = checks.SQL("every_row", `SELECT id FROM {{table}} ORDER BY id`).Run(ctx, tg)
	require.NoError(t, err)
	require.False(t, r.Passed)
	require.Equal(t, "more than 5 rows", r.Found)
	require.Len(t, r.Samples, 5)

	r, err = checks.SQL("all_named", `SELECT id FROM {{table}} WHERE "Name" = 'zzz'`).Run(ctx, tg)
	require.NoError(t, err)
	require.True(t, r.Passed)

	_, err = checks.SQL("broken", `SELECT nope FROM {{table}}`).Run(ctx, tg)
	require.Error(t, err, "a check that cannot run is an error, not a pass")
}

func TestSQLChecksPassCleanData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tg := target(t, `CREATE TABLE "My Table" (id int, "Name" text)`, `(1, 'a')`, `(2, 'b')`)
	for _, c := range []checks.Check{checks.UniqueKey("id"), checks.DuplicateRows{}, checks.NotNull("id", "Name")} {
		r, err := c.Run(ctx, tg)
		require.NoError(t, err)
		require.True(t, r.Passed, c.Name())
		require.Empty(t, r.Note)
	}
}

func TestUniqueKeyTrustsACoveringUniqueIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tg := target(t, `CREATE TABLE "My Table" (id int, "Name" text)`, `(1, 'a')`, `(1, 'b')`)
	asked := 0
	tg.UniqueIndex = func(_ context.Context, cols []string) (bool, error) {
		asked++
		return len(cols) == 1 && cols[0] == "id", nil
	}
	r, err := checks.UniqueKey("id").Run(ctx, tg)
	require.NoError(t, err)
	require.True(t, r.Passed)
	require.Contains(t, r.Note, "unique index")
	require.Equal(t, 1, asked)

	r, err = checks.UniqueKey("Name").Run(ctx, tg) // not covered: the query runs
	require.NoError(t, err)
	require.True(t, r.Passed)
	require.Empty(t, r.Note)

	// An index that does not cover the key proves nothing: the scan finds the duplicate.
	tg.UniqueIndex = func(context.Context, []string) (bool, error) { return false, nil }
	r, err = checks.UniqueKey("id").Run(ctx, tg)
	require.NoError(t, err)
	require.False(t, r.Passed, "%+v", r)
	require.Equal(t, []string{"1 (2 rows)"}, r.Samples)

	// A question about the index that cannot be answered is an error, not a pass.
	tg.UniqueIndex = func(context.Context, []string) (bool, error) { return false, errors.New("catalog gone") }
	_, err = checks.UniqueKey("id").Run(ctx, tg)
	require.ErrorContains(t, err, "catalog gone")
}

// A NULL key fails the check on its own, with no duplicate beside it, and a key of several
// columns is NULL when any one of them is.
func TestUniqueKeyFailsOnANullKeyAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tg := target(t, `CREATE TABLE "My Table" (id int, "Name" text)`, `(1, 'a')`, `(NULL, 'b')`, `(3, NULL)`)

	r, err := checks.UniqueKey("id").Run(ctx, tg)
	require.NoError(t, err)
	require.False(t, r.Passed, "%+v", r)
	require.Equal(t, "1 rows with a NULL key", r.Found)

	r, err = checks.UniqueKey("id", "Name").Run(ctx, tg)
	require.NoError(t, err)
	require.False(t, r.Passed, "%+v", r)
	require.Equal(t, "2 rows with a NULL key", r.Found)

	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "Name"}}
	rows := []etl.Row{{int64(1), "a"}, {nil, "b"}, {int64(3), nil}}
	got := checks.UniqueKey("id", "Name").CheckRows(schema, rows, etl.Stats{})
	require.False(t, got.Passed, "%+v", got)
	require.Equal(t, "2 rows with a NULL key", got.Found)
	require.True(t, checks.UniqueKey("id", "Name").CheckRows(schema, rows[:1], etl.Stats{}).Passed)
}

// fakeDB answers every query with the same rows.
type fakeDB [][]any

func (d fakeDB) QueryRows(context.Context, string, ...any) ([][]any, error) { return d, nil }

// A NULL count that comes back in an unexpected shape is an error: read as "no NULLs" it
// would pass a check that never looked.
func TestNotNullRefusesAnUnexpectedAnswer(t *testing.T) {
	t.Parallel()
	c := checks.NotNull("id", "Name")
	for _, rows := range []fakeDB{nil, {{int64(0)}}, {{int64(0), int64(0)}, {int64(0), int64(0)}}} {
		_, err := c.Run(context.Background(), checks.Target{DB: rows, Dialect: pgDialect{}, Table: `"t"`, Name: "t"})
		require.Error(t, err, "%v", rows)
	}
	r, err := c.Run(context.Background(), checks.Target{DB: fakeDB{{int64(0), int64(2)}}, Dialect: pgDialect{}, Table: `"t"`, Name: "t"})
	require.NoError(t, err)
	require.False(t, r.Passed)
	require.Equal(t, "2 NULLs in Name", r.Found)
}

func TestShrinkComparesWithThePriorCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tg := target(t, `CREATE TABLE "My Table" (id int, "Name" text)`, `(1, 'a')`, `(2, 'b')`)
	c := checks.Shrink{Fraction: 0.5}
	require.True(t, c.NeedsPriorRows())

	tg.PriorRows = 4
	r, err := c.Run(ctx, tg)
	require.NoError(t, err)
	require.True(t, r.Passed, "2 of 4 is exactly half")

	tg.PriorRows = 5
	r, err = c.Run(ctx, tg)
	require.NoError(t, err)
	require.False(t, r.Passed)
	require.Equal(t, "2 rows", r.Found)

	tg.PriorRows = -1
	_, err = c.Run(ctx, tg)
	require.Error(t, err)
}

func TestRowCountBalancesReadAgainstLoaded(t *testing.T) {
	t.Parallel()
	stats := etl.Stats{RowsRead: 10, RowsRejected: 2, RowsFiltered: 1}
	cases := []struct {
		name   string
		check  checks.RowCount
		loaded int64
		pass   bool
	}{
		{"balanced", checks.RowCount{}, 7, true},
		{"a row went missing", checks.RowCount{}, 6, false},
		{"a row too many", checks.RowCount{}, 8, false},
		{"too few", checks.RowCount{Min: 8, SkipBalance: true}, 7, false},
		{"exactly the minimum", checks.RowCount{Min: 7}, 7, true},
		{"a fan-out that may not balance", checks.RowCount{SkipBalance: true}, 20, true},
		{"too many", checks.RowCount{Max: 5}, 7, false},
		{"within bounds", checks.RowCount{Min: 1, Max: 7}, 7, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.check.Run(context.Background(), checks.Target{Stats: stats, Loaded: tc.loaded})
			require.NoError(t, err)
			require.Equal(t, tc.pass, r.Passed, "%+v", r)
			rows := make([]etl.Row, tc.loaded)
			require.Equal(t, tc.pass, tc.check.CheckRows(nil, rows, stats).Passed)
		})
	}
}

func TestInStreamChecks(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name"}}
	rows := []etl.Row{{int64(1), "a"}, {int64(2), "b"}, {int64(2), "b"}, {nil, "c"}, {int64(3), nil}}
	cases := []struct {
		check   checks.RowsChecker
		found   string
		samples []string
	}{
		{checks.UniqueKey("id"), "1 duplicate keys and 1 rows with a NULL key", []string{"2 (2 rows)"}},
		{checks.DuplicateRows{}, "1 duplicate keys", []string{"2, b (2 rows)"}}, // NULLs are values here, as in GROUP BY
		{checks.NotNull("id", "name"), "1 NULLs in id, 1 NULLs in name", nil},
		{checks.UniqueKey("missing"), `no column "missing"`, nil},
	}
	for _, tc := range cases {
		r := tc.check.CheckRows(schema, rows, etl.Stats{})
		require.False(t, r.Passed, "%T", tc.check)
		require.Equal(t, tc.found, r.Found)
		require.Equal(t, tc.samples, r.Samples, "%T", tc.check)
	}
	for _, c := range []checks.RowsChecker{checks.DuplicateRows{}, checks.NotNull("id", "name")} {
		r := c.CheckRows(schema, rows[:2], etl.Stats{})
		require.True(t, r.Passed, "%T: %+v", c, r)
	}

	// Samples stop at five; the count does not.
	var many []etl.Row
	for i := range 7 {
		many = append(many, etl.Row{int64(i), "x"}, etl.Row{int64(i), "y"})
	}
	r := checks.UniqueKey("id").CheckRows(schema, many, etl.Stats{})
	require.Equal(t, "7 duplicate keys", r.Found)
	require.Equal(t, []string{"0 (2 rows)", "1 (2 rows)", "2 (2 rows)", "3 (2 rows)", "4 (2 rows)"}, r.Samples)
	require.True(t, checks.UniqueKey("id").CheckRows(schema, rows[:2], etl.Stats{}).Passed)
}

func TestFailedJoinsErrorsAndSkipsWarnings(t *testing.T) {
	t.Parallel()
	results := []etl.CheckResult{
		{Name: "unique_key(id)", Table: "s.t", Severity: etl.SeverityError, Expected: "no duplicate or NULL keys",
			Found: "1 duplicate keys", Samples: []string{"7 (2 rows)"}},
		{Name: "row_count", Table: "s.t", Severity: etl.SeverityWarn},
		{Name: "not_null(a)", Table: "s.t", Severity: etl.SeverityError, Passed: true},
	}
	err := checks.Failed(results)
	require.IsType(t, &checks.Error{}, err, "one failure is the *Error itself, not a join of one")
	require.Equal(t, `check unique_key(id) failed on table s.t: expected no duplicate or NULL keys, found 1 duplicate keys (e.g. 7 (2 rows))`, err.Error())
	require.NoError(t, checks.Failed(results[1:]), "warnings and passes do not fail the load")

	results[1].Severity = etl.SeverityError
	joined := fmt.Errorf("load: %w", checks.Failed(results))
	got := checks.Results(joined)
	require.Len(t, got, 2)
	require.Equal(t, "row_count", got[1].Name)
	require.True(t, strings.Contains(joined.Error(), "row_count"))
}

func TestWarnKeepsTheCheckButNotItsVeto(t *testing.T) {
	t.Parallel()
	c := checks.Warn(checks.UniqueKey("id"))
	require.Equal(t, etl.SeverityWarn, c.Severity())
	require.Equal(t, "unique_key(id)", c.Name())
	res, err := checks.Run(context.Background(), checks.Target{Name: "t", Dialect: pgDialect{}},
		[]checks.Check{checks.Warn(checks.RowCount{Min: 5})})
	require.NoError(t, err)
	require.Equal(t, etl.SeverityWarn, res[0].Severity)
	require.False(t, res[0].Passed)
	require.NoError(t, checks.Failed(res))
}

// fakeCheck returns what it is given, for testing Run itself.
type fakeCheck struct {
	name   string
	result etl.CheckResult
	err    error
}

func (c fakeCheck) Name() string           { return c.name }
func (c fakeCheck) Severity() etl.Severity { return etl.SeverityError }
func (c fakeCheck) Run(context.Context, checks.Target) (etl.CheckResult, error) {
	return c.result, c.err
}

// Run names each result after its check and table when the check left them empty, and
// stops at the first check that cannot run with an error naming both.
func TestRunFillsNamesAndStopsAtACheckThatCannotRun(t *testing.T) {
	t.Parallel()
	tg := checks.Target{Name: "s.t"}
	res, err := checks.Run(context.Background(), tg, []checks.Check{
		fakeCheck{name: "first", result: etl.CheckResult{Passed: true}},
		fakeCheck{name: "second", result: etl.CheckResult{Name: "own", Table: "other"}},
	})
	require.NoError(t, err)
	require.Len(t, res, 2)
	require.Equal(t, "first", res[0].Name)
	require.Equal(t, "s.t", res[0].Table)
	require.Equal(t, etl.SeverityError, res[0].Severity)
	require.Equal(t, "own", res[1].Name, "a name the check gave is kept")
	require.Equal(t, "other", res[1].Table)

	res, err = checks.Run(context.Background(), tg, []checks.Check{
		fakeCheck{name: "first", result: etl.CheckResult{Passed: true}},
		fakeCheck{name: "broken", err: errors.New("no such column")},
		fakeCheck{name: "never", result: etl.CheckResult{Passed: true}},
	})
	require.EqualError(t, err, "check broken on table s.t: no such column")
	require.Len(t, res, 1, "the results so far, and none after the broken check")
}
