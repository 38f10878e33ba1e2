package load_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

// sqliteNames returns a database of its own and a function that loads rows into its
// table names, a full refresh with checks cs, through the given transforms.
func sqliteNames(t *testing.T, cs ...checks.Check) (*sqlite.DB, func(ts []etl.Transformer, rows ...etl.Row) (etl.Result, error)) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "names.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, namesLoader(db, cs...)
}

func namesLoader(db *sqlite.DB, cs ...checks.Check) func(ts []etl.Transformer, rows ...etl.Row) (etl.Result, error) {
	schema := etl.Schema{{Name: "name", NotNull: true}, {Name: "gender"}}
	sink := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "names", Key: []string{"name"}, Create: true, Checks: cs}}
	return func(ts []etl.Transformer, rows ...etl.Row) (etl.Result, error) {
		p := &etl.Pipeline{Name: "names", Sink: sink, Transforms: ts,
			Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
				return etl.SliceStream(schema, rows), nil
			})}
		return p.Run(context.Background(), etl.Window{})
	}
}

func names(t *testing.T, db *sqlite.DB) []string {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT name FROM names ORDER BY name`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// RowCount compares the rows read with the rows the database says it received: a
// transform that drops a row without etl.Filter (so without counting it) fails the load,
// and the table keeps its rows.
func TestRowCountCatchesARowLostOnTheWay(t *testing.T) {
	t.Parallel()
	db, load := sqliteNames(t, checks.RowCount{})
	_, err := load(nil, etl.Row{"Ann", "F"})
	require.NoError(t, err)

	lose := etl.TransformFunc(func(_ context.Context, _ *etl.Run, in etl.Stream) (etl.Stream, error) {
		return etl.Stream{Schema: in.Schema, Rows: func(yield func(etl.Row, error) bool) {
			for row, err := range in.Rows {
				if err == nil && row[0] == "Bo" {
					continue
				}
				if !yield(row, err) {
					return
				}
			}
		}}, nil
	})
	res, err := load([]etl.Transformer{lose}, etl.Row{"Bo", "M"}, etl.Row{"Cy", "F"}, etl.Row{"Di", "F"})
	require.Error(t, err)
	require.Equal(t, "check", etl.Step(err))
	failed := checks.Results(err)
	require.Len(t, failed, 1, "%v", err)
	require.Equal(t, "row_count", failed[0].Name)
	require.Equal(t, "2 rows loaded", failed[0].Found)
	require.Equal(t, "3 rows loaded (read 3 - rejected 0 - filtered 0)", failed[0].Expected)
	require.Len(t, res.Checks, 1)
	require.Equal(t, []string{"Ann"}, names(t, db), "the failed load leaves the old rows")
}

// A duplicate that the table's key refuses during the load is reported as the
// unique_key check with the check's own severity: the load fails either way, since the
// database refused it, but a warning stays a warning in the run's results.
func TestAKeyRefusedDuplicateKeepsTheChecksSeverity(t *testing.T) {
	t.Parallel()
	for _, c := range []checks.Check{checks.UniqueKey("name"), checks.Warn(checks.UniqueKey("name"))} {
		db, load := sqliteNames(t, c)
		_, err := load(nil, etl.Row{"Ann", "F"})
		require.NoError(t, err)
		res, err := load(nil, etl.Row{"Bo", "M"}, etl.Row{"Bo", "M"})
		require.Error(t, err)
		require.Equal(t, "check", etl.Step(err))
		require.Len(t, res.Checks, 1)
		require.Equal(t, "unique_key(name)", res.Checks[0].Name)
		require.False(t, res.Checks[0].Passed)
		require.Equal(t, c.Severity(), res.Checks[0].Severity)
		require.Equal(t, []string{"Ann"}, names(t, db))
	}
}

// A check that cannot run (here, SQL naming a column the table lacks) fails the load
// whatever its severity, naming the check and the table: it is not a pass, and the
// checks after it do not decide alone.
func TestACheckThatCannotRunFailsTheLoad(t *testing.T) {
	t.Parallel()
	db, seed := sqliteNames(t)
	_, err := seed(nil, etl.Row{"Ann", "F"})
	require.NoError(t, err)
	for _, broken := range []checks.Check{checks.SQL("broken", "SELECT nope FROM {{table}}"),
		checks.Warn(checks.SQL("broken", "SELECT nope FROM {{table}}"))} {
		load := namesLoader(db, checks.RowCount{}, broken, checks.UniqueKey("name"))
		res, err := load(nil, etl.Row{"Bo", "M"})
		require.ErrorContains(t, err, "check sql(broken) on table names")
		require.Equal(t, "check", etl.Step(err))
		require.Len(t, res.Checks, 1, "the results are those of the checks that ran")
		require.Equal(t, []string{"Ann"}, names(t, db))
	}
}
