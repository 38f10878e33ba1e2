package redshift_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
	"github.com/sluice-etl/sluice/internal/sinktest"
	"github.com/sluice-etl/sluice/sinks"
	"github.com/sluice-etl/sluice/sinks/redshift"
)

// The smoke suite runs against a real cluster (or Serverless workgroup) and bucket: the
// conformance suite, and the cluster behaviours the sink depends on (TestSmokeCluster).
// It needs SLUICE_TEST_REDSHIFT_URL (a DSN), SLUICE_TEST_S3_STAGING (s3://bucket/prefix),
// and optionally SLUICE_TEST_REDSHIFT_IAM_ROLE (defaults to the cluster's default role),
// SLUICE_TEST_S3_SSE ("AES256" or "aws:kms") with SLUICE_TEST_S3_KMS_KEY, and AWS_REGION;
// AWS credentials come from the default chain. The README's Redshift section says how to
// run it and what it costs.
func smokeConfig(t *testing.T) (dsn string, staging redshift.StageConfig) {
	dsn, s3url := os.Getenv("SLUICE_TEST_REDSHIFT_URL"), os.Getenv("SLUICE_TEST_S3_STAGING")
	if dsn == "" || s3url == "" {
		t.Skip("Redshift smoke tests are off: set SLUICE_TEST_REDSHIFT_URL=postgres://user:pass@cluster:5439/dev and SLUICE_TEST_S3_STAGING=s3://bucket/prefix to run them")
	}
	rest, ok := strings.CutPrefix(s3url, "s3://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !ok || bucket == "" {
		t.Fatalf("SLUICE_TEST_S3_STAGING=%q is not s3://bucket/prefix", s3url)
	}
	return dsn, redshift.StageConfig{
		Bucket: bucket, Prefix: prefix, Region: os.Getenv("AWS_REGION"),
		IAMRole: os.Getenv("SLUICE_TEST_REDSHIFT_IAM_ROLE"),
		SSE:     os.Getenv("SLUICE_TEST_S3_SSE"), KMSKeyID: os.Getenv("SLUICE_TEST_S3_KMS_KEY"),
	}
}

func smokeHarness(t *testing.T) *sinktest.Harness {
	dsn, staging := smokeConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "sluice_test_" + hex.EncodeToString(b[:])
	conn, err := redshift.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+redshiftcopy.QuoteIdentifier(schema))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := conn.Exec(context.Background(), "DROP SCHEMA "+redshiftcopy.QuoteIdentifier(schema)+" CASCADE")
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := redshiftcopy.QuoteIdentifier
	target := func(s sinktest.Spec) redshift.Target {
		return redshift.Target{DSN: dsn, Staging: staging, Schema: schema, MetaSchema: schema,
			Table: s.Table, Key: s.Key, Checks: s.Checks, Create: s.Create}
	}
	return &sinktest.Harness{
		CreateTable: func(ctx context.Context, table string, sch etl.Schema, key []string) error {
			cols := make([]string, len(sch))
			for i, c := range sch {
				cols[i] = q(c.Name) + " " + rsType(c.Type)
			}
			_, err := conn.Exec(ctx, "CREATE TABLE "+q(schema)+"."+q(table)+" ("+strings.Join(cols, ", ")+")")
			return err
		},
		Query: func(ctx context.Context, sql string) ([][]any, error) {
			if _, err := conn.Exec(ctx, "SET search_path TO "+q(schema)); err != nil {
				return nil, err
			}
			rows, err := conn.Query(ctx, sql)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out [][]any
			for rows.Next() {
				v, err := rows.Values()
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			return out, rows.Err()
		},
		QuoteIdent: q,
		Watermark: func(ctx context.Context, pipeline string) (any, error) {
			return (&redshift.State{DSN: dsn, MetaSchema: schema}).Watermark(ctx, pipeline)
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
			return (&redshift.State{DSN: dsn, MetaSchema: schema}).Runs(ctx, pipeline, n)
		},
	}
}

func TestSmokeRedshift(t *testing.T) {
	smokeConfig(t)
	sinktest.Exercise(t, smokeHarness)
}
