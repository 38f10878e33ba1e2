package redshift_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
	"github.com/sluice-etl/sluice/internal/redshifttest"
	"github.com/sluice-etl/sluice/sinks/redshift"
)

func TestSweepDeletesOnlyOrphanedStagingOlderThanTheCutoff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := gofakes3.FixedTimeSource(t0)
	srv, err := redshifttest.StartS3Clock("staging", clock)
	require.NoError(t, err)
	defer srv.Close()

	cfg := redshift.StageConfig{Bucket: srv.Bucket, Prefix: "sluice/stage", Client: srv.Client, KeepStaged: true}
	st, err := redshiftcopy.NewStager(ctx, redshiftcopy.Config{Bucket: cfg.Bucket, Prefix: cfg.Prefix, Client: cfg.Client, KeepStaged: true})
	require.NoError(t, err)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}}
	stage := func(runID string) {
		_, err := st.Stage(ctx, "orders", runID, schema, etl.SliceStream(schema, []etl.Row{{int64(1)}, {int64(2)}}).Rows)
		require.NoError(t, err)
	}
	put := func(key string) {
		_, err := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("x"))})
		require.NoError(t, err)
	}

	stage("killed-run")                           // left by a process that died on day 0
	put("sluice/stage/notes/readme.txt")          // not staging: never touched
	put("elsewhere/orders/old-run/manifest.json") // outside the prefix: never touched
	clock.Advance(48 * time.Hour)
	stage("running-run") // a load in progress on day 2

	before, err := srv.Keys(ctx, "")
	require.NoError(t, err)
	sweep := redshift.Sweep{Stage: cfg, OlderThan: 24 * time.Hour, Now: func() time.Time { return t0.Add(48 * time.Hour) }}

	dry := sweep
	dry.DryRun = true
	res, err := dry.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, res.Deleted, "one part and one manifest of the killed run")
	require.Equal(t, 2, res.Kept)
	after, err := srv.Keys(ctx, "")
	require.NoError(t, err)
	require.Equal(t, before, after, "a dry run deletes nothing")

	res, err = sweep.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, res.Deleted)
	left, err := srv.Keys(ctx, "")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{
		"elsewhere/orders/old-run/manifest.json",
		"sluice/stage/notes/readme.txt",
		"sluice/stage/orders/running-run/manifest.json",
		"sluice/stage/orders/running-run/part-00000.csv.gz",
	}, left)
}

func TestSweepRefusesAWholeBucket(t *testing.T) {
	t.Parallel()
	_, err := redshift.Sweep{Stage: redshift.StageConfig{Bucket: "b"}, OlderThan: time.Hour}.Run(context.Background())
	require.ErrorContains(t, err, "Prefix")
	_, err = redshift.Sweep{Stage: redshift.StageConfig{Bucket: "b", Prefix: "p"}}.Run(context.Background())
	require.ErrorContains(t, err, "OlderThan")
}
