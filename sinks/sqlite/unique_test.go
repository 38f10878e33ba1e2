package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

// A duplicate refused by the table's primary key is the unique_key check failing, and is
// reported as such, naming the key; the old rows stay.
func TestDuplicateRefusedByTheKeyFailsTheUniqueKeyCheck(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "names.db"))
	require.NoError(t, err)
	defer db.Close()
	schema := etl.Schema{{Name: "name", NotNull: true}, {Name: "gender"}}
	sink := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "name_gender", Key: []string{"name"}, Create: true,
		Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey("name")}}}
	load := func(rows ...etl.Row) error {
		p := &etl.Pipeline{Name: "names", Sink: sink, Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(schema, rows), nil
		})}
		_, err := p.Run(context.Background(), etl.Window{})
		return err
	}
	require.NoError(t, load(etl.Row{"Adaleigh", "F"}, etl.Row{"Amryn", "Unisex"}))

	err = load(etl.Row{"Ann", "F"}, etl.Row{"Ann", "F"})
	require.Error(t, err)
	require.Equal(t, "check", etl.Step(err))
	var ce *checks.Error
	require.True(t, errors.As(err, &ce), "want a *checks.Error, got %v", err)
	require.Equal(t, "unique_key(name)", ce.Result.Name)
	require.Equal(t, []string{"name=Ann"}, ce.Result.Samples)
	require.Contains(t, err.Error(), "name=Ann")

	runs, err := (&sqlite.State{DB: db}).Runs(context.Background(), "names", 1)
	require.NoError(t, err)
	require.Equal(t, "check", runs[0].Step)

	var n int
	require.NoError(t, db.SQL().QueryRow(`SELECT count(*) FROM name_gender WHERE name IN ('Adaleigh', 'Amryn')`).Scan(&n))
	require.Equal(t, 2, n, "the previous table stays")
}
