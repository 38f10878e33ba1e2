package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/internal/sinktest"
	"github.com/sluice-etl/sluice/sinks"
	"github.com/sluice-etl/sluice/sinks/postgres"
)

func pgType(t etl.Type) string {
	switch t {
	case etl.TypeInt64:
		return "bigint"
	case etl.TypeBool:
		return "boolean"
	case etl.TypeTimestamp:
		return "timestamptz"
	case etl.TypeNumeric:
		return "numeric"
	}
	return "text"
}

func harness(strategy postgres.Strategy) func(t *testing.T) *sinktest.Harness {
	return func(t *testing.T) *sinktest.Harness {
		db := pgtest.New(t)
		q := func(s string) string { return pgx.Identifier{s}.Sanitize() }
		target := func(s sinktest.Spec) postgres.Target {
			return postgres.Target{Pool: db.Pool, Table: s.Table, Key: s.Key, Checks: s.Checks, Create: s.Create}
		}
		return &sinktest.Harness{
			CreateTable: func(ctx context.Context, table string, schema etl.Schema, key []string) error {
				cols := make([]string, len(schema))
				for i, c := range schema {
					cols[i] = q(c.Name) + " " + pgType(c.Type)
				}
				if len(key) > 0 {
					ks := make([]string, len(key))
					for i, k := range key {
						ks[i] = q(k)
					}
					cols = append(cols, "PRIMARY KEY ("+strings.Join(ks, ", ")+")")
				}
				_, err := db.Pool.Exec(ctx, "CREATE TABLE "+q(table)+" ("+strings.Join(cols, ", ")+")")
				return err
			},
			Query: func(ctx context.Context, sql string) ([][]any, error) {
				rows, err := db.Pool.Query(ctx, sql)
				if err != nil {
					return nil, err
				}
				return pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
			},
			QuoteIdent: q,
			Watermark: func(ctx context.Context, pipeline string) (any, error) {
				return (&postgres.State{Pool: db.Pool}).Watermark(ctx, pipeline)
			},
			FullRefresh: func(s sinktest.Spec) etl.Loader {
				return &postgres.FullRefresh{Target: target(s), Strategy: strategy}
			},
			Merge: func(s sinktest.Spec) etl.Loader {
				return &postgres.Merge{Target: target(s), Cursor: s.Cursor, Deleted: s.Deleted}
			},
			WindowReplace: func(s sinktest.Spec) etl.Loader {
				return &postgres.WindowReplace{Target: target(s), TimeColumn: s.TimeColumn}
			},
			Vocabulary: true,
			Runs: func(ctx context.Context, pipeline string, n int) ([]sinks.RunRecord, error) {
				return (&postgres.State{Pool: db.Pool}).Runs(ctx, pipeline, n)
			},
		}
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, s := range []postgres.Strategy{postgres.Truncate, postgres.Delete, postgres.Swap} {
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			sinktest.Exercise(t, harness(s))
		})
	}
}
