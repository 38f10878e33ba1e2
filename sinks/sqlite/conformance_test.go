package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/sinktest"
	"github.com/sluice-etl/sluice/sinks"
)

// TestConformance runs the suite every SQL sink must pass, each subtest on its own file.
func TestConformance(t *testing.T) {
	t.Parallel()
	sinktest.Exercise(t, func(t *testing.T) *sinktest.Harness {
		db, err := Open(filepath.Join(t.TempDir(), "conformance.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		target := func(s sinktest.Spec) Target {
			return Target{DB: db, Table: s.Table, Key: s.Key, Checks: s.Checks, Create: s.Create}
		}
		return &sinktest.Harness{
			CreateTable: func(ctx context.Context, table string, schema etl.Schema, key []string) error {
				defs := make([]string, 0, len(schema)+1)
				for _, c := range schema {
					defs = append(defs, quoteIdent(c.Name)+" "+columnType(c.Type))
				}
				if len(key) > 0 {
					defs = append(defs, "PRIMARY KEY ("+quoteList(key)+")")
				}
				_, err := db.SQL().ExecContext(ctx, "CREATE TABLE "+quoteIdent(table)+" ("+strings.Join(defs, ", ")+")")
				return err
			},
			Query: func(ctx context.Context, q string) ([][]any, error) {
				return queryRows(ctx, db.SQL(), q)
			},
			QuoteIdent: quoteIdent,
			Watermark: func(ctx context.Context, pipeline string) (any, error) {
				return (&State{DB: db}).Watermark(ctx, pipeline)
			},
			FullRefresh: func(s sinktest.Spec) etl.Loader {
				return &FullRefresh{Target: target(s)}
			},
			Merge: func(s sinktest.Spec) etl.Loader {
				return &Merge{Target: target(s), Cursor: s.Cursor, Deleted: s.Deleted}
			},
			WindowReplace: func(s sinktest.Spec) etl.Loader {
				return &WindowReplace{Target: target(s), TimeColumn: s.TimeColumn}
			},
			Vocabulary: true,
			Runs: func(ctx context.Context, pipeline string, n int) ([]sinks.RunRecord, error) {
				return (&State{DB: db}).Runs(ctx, pipeline, n)
			},
		}
	})
}
