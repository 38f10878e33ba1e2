package mysql

import (
	"context"
	"testing"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/mysqltest"
	"github.com/sluice-etl/sluice/internal/sinktest"
	"github.com/sluice-etl/sluice/sinks"
)

func harness(strategy Strategy) func(t *testing.T) *sinktest.Harness {
	return func(t *testing.T) *sinktest.Harness {
		db := mysqltest.New(t)
		target := func(s sinktest.Spec) Target {
			return Target{DB: db.DB, Table: s.Table, Key: s.Key, Checks: s.Checks, Create: s.Create}
		}
		return &sinktest.Harness{
			CreateTable: func(ctx context.Context, table string, schema etl.Schema, key []string) error {
				_, err := db.DB.ExecContext(ctx, createTableSQL(quoteIdent(table), schema, key, "utf8mb4_bin"))
				return err
			},
			Query: func(ctx context.Context, sql string) ([][]any, error) {
				return queryRows(ctx, db.DB, sql)
			},
			QuoteIdent: quoteIdent,
			Watermark: func(ctx context.Context, pipeline string) (any, error) {
				return (&State{DB: db.DB}).Watermark(ctx, pipeline)
			},
			FullRefresh: func(s sinktest.Spec) etl.Loader {
				return &FullRefresh{Target: target(s), Strategy: strategy}
			},
			Merge: func(s sinktest.Spec) etl.Loader {
				return &Merge{Target: target(s), Cursor: s.Cursor, Deleted: s.Deleted}
			},
			WindowReplace: func(s sinktest.Spec) etl.Loader {
				return &WindowReplace{Target: target(s), TimeColumn: s.TimeColumn}
			},
			Vocabulary: true,
			Runs: func(ctx context.Context, pipeline string, n int) ([]sinks.RunRecord, error) {
				return (&State{DB: db.DB}).Runs(ctx, pipeline, n)
			},
		}
	}
}

func TestConformanceDelete(t *testing.T) {
	t.Parallel()
	sinktest.Exercise(t, harness(Delete))
}

func TestConformanceSwap(t *testing.T) {
	t.Parallel()
	h := harness(Swap)
	sinktest.Exercise(t, func(t *testing.T) *sinktest.Harness {
		x := h(t)
		// Merge and window replace have no strategy; the delete run covers them.
		x.Merge, x.WindowReplace = nil, nil
		return x
	})
}
