package redshift_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
	"github.com/sluice-etl/sluice/internal/redshifttest"
	"github.com/sluice-etl/sluice/internal/sinktest"
	"github.com/sluice-etl/sluice/sinks"
	"github.com/sluice-etl/sluice/sinks/redshift"
)

// harnessTarget returns a Target that runs on h, with small parts over 2 slices so every
// load writes several parts.
func harnessTarget(h *redshifttest.Harness, table string, key []string) redshift.Target {
	return redshift.Target{
		Connect: func(context.Context) (redshift.DB, error) { return h, nil },
		Staging: redshift.StageConfig{
			Bucket: h.Bucket, Client: h.S3.Client, IAMRole: "arn:aws:iam::123456789012:role/load",
			PartSize: 64, Slices: 2,
		},
		Table: table, Key: key, RetryBackoff: 1,
	}
}

func rsType(t etl.Type) string {
	switch t {
	case etl.TypeInt64:
		return "BIGINT"
	case etl.TypeBool:
		return "BOOLEAN"
	case etl.TypeTimestamp:
		return "TIMESTAMPTZ"
	case etl.TypeNumeric:
		return "NUMERIC(12,2)"
	}
	return "VARCHAR(256)"
}

func conformanceHarness(t *testing.T) *sinktest.Harness {
	h := redshifttest.New(t)
	// Tables are made and read through a session of their own, so that names are folded
	// as a default cluster folds them and the loads' session keeps its state.
	other := h.Session(t)
	q := redshiftcopy.QuoteIdentifier
	target := func(s sinktest.Spec) redshift.Target {
		tg := harnessTarget(h, s.Table, s.Key)
		tg.Checks, tg.Create = s.Checks, s.Create
		tg.LockWait = s.LockWait
		return tg
	}
	return &sinktest.Harness{
		CreateTable: func(ctx context.Context, table string, schema etl.Schema, key []string) error {
			// Redshift accepts PRIMARY KEY but does not enforce it; leave it out so
			// PostgreSQL behaves the same.
			cols := make([]string, len(schema))
			for i, c := range schema {
				cols[i] = q(c.Name) + " " + rsType(c.Type)
			}
			_, err := other.Exec(ctx, "CREATE TABLE "+q(table)+" ("+strings.Join(cols, ", ")+")")
			return err
		},
		Query: func(ctx context.Context, sql string) ([][]any, error) {
			rows, err := other.Query(ctx, sql)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
		},
		QuoteIdent: q,
		Exec: func(ctx context.Context, sql string) error {
			_, err := h.Pool.Exec(ctx, sql)
			return err
		},
		OneSession: true,
		Watermark: func(ctx context.Context, pipeline string) (any, error) {
			return (&redshift.State{Connect: func(context.Context) (redshift.DB, error) { return h, nil }}).Watermark(ctx, pipeline)
		},
		FullRefresh: func(s sinktest.Spec) etl.Loader { return &redshift.FullRefresh{Target: target(s)} },
		Merge: func(s sinktest.Spec) etl.Loader {
			return &redshift.Merge{Target: target(s), Cursor: s.Cursor, Deleted: s.Deleted}
		},
		WindowReplace: func(s sinktest.Spec) etl.Loader {
			return &redshift.WindowReplace{Target: target(s), TimeColumn: s.TimeColumn}
		},
		Vocabulary: true,
		Runs: func(ctx context.Context, pipeline string, n int) ([]sinks.RunRecord, error) {
			return (&redshift.State{Connect: func(context.Context) (redshift.DB, error) { return other, nil }}).Runs(ctx, pipeline, n)
		},
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	sinktest.Exercise(t, conformanceHarness)
}
