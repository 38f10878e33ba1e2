package redshift

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluice-etl/sluice/dag"
)

// Sweep deletes staged objects that a killed process left under the staging prefix. A
// load deletes its own objects after commit and after failure; only a process that died
// mid-load (SIGKILL, a lost machine) leaves them behind, and a periodic Sweep clears them.
//
// It deletes only what looks like staging, "<Prefix>/<pipeline>/<run ID>/part-NNNNN.csv.gz"
// and ".../manifest.json", last modified before the cutoff. Pick OlderThan larger than your
// longest load, so a run still in progress is never swept.
type Sweep struct {
	// Stage says where staging lives: Bucket and Prefix, and how to reach S3. Prefix is
	// required, so that a sweep never walks a whole bucket.
	Stage StageConfig
	// OlderThan is the age past which a staged object counts as orphaned. Required.
	OlderThan time.Duration
	// DryRun only counts what would be deleted. Defaults to false.
	DryRun bool
	// Now is the clock the cutoff is taken from. Defaults to time.Now.
	Now func() time.Time
}

// SweepResult is what a [Sweep] found.
type SweepResult struct {
	// Cutoff is the moment before which objects were deleted.
	Cutoff time.Time
	// Deleted counts the objects deleted, or that would be in a dry run; Bytes is their size.
	Deleted int
	Bytes   int64
	// Kept counts staging objects younger than the cutoff.
	Kept int
}

// stagedKey matches the keys a Stager writes below its prefix.
var stagedKey = regexp.MustCompile(`^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/(part-[0-9]{5,}\.csv\.gz|manifest\.json)$`)

// Run lists the staging prefix and deletes the orphaned objects, a page at a time.
func (s Sweep) Run(ctx context.Context) (SweepResult, error) {
	prefix := strings.TrimSuffix(s.Stage.Prefix, "/")
	if prefix == "" {
		return SweepResult{}, errors.New("redshift: sweep needs a staging Prefix; refusing to walk a whole bucket")
	}
	if s.OlderThan <= 0 {
		return SweepResult{}, errors.New("redshift: sweep needs OlderThan > 0")
	}
	st, err := NewStager(ctx, s.Stage)
	if err != nil {
		return SweepResult{}, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	res := SweepResult{Cutoff: now().Add(-s.OlderThan)}
	bucket := st.cfg.Bucket
	pages := s3.NewListObjectsV2Paginator(st.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return res, fmt.Errorf("redshift: list s3://%s/%s/: %w", bucket, prefix, err)
		}
		var old []types.ObjectIdentifier
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !stagedKey.MatchString(strings.TrimPrefix(key, prefix+"/")) {
				continue
			}
			if o.LastModified == nil || !o.LastModified.Before(res.Cutoff) {
				res.Kept++
				continue
			}
			res.Deleted++
			res.Bytes += aws.ToInt64(o.Size)
			old = append(old, types.ObjectIdentifier{Key: o.Key})
		}
		if s.DryRun || len(old) == 0 {
			continue
		}
		out, err := st.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(bucket), Delete: &types.Delete{Objects: old, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return res, fmt.Errorf("redshift: sweep s3://%s/%s/: %w", bucket, prefix, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return res, fmt.Errorf("redshift: sweep: delete s3://%s/%s: %s", bucket, aws.ToString(e.Key), aws.ToString(e.Message))
		}
	}
	st.log.Info("staging swept", slog.String("bucket", bucket), slog.String("prefix", prefix),
		slog.Time("cutoff", res.Cutoff), slog.Int("deleted", res.Deleted), slog.Int("kept", res.Kept),
		slog.Bool("dry_run", s.DryRun))
	return res, nil
}

// Task returns the sweep as a DAG task whose rows are the objects deleted.
func (s Sweep) Task() dag.TaskFunc {
	return func(ctx context.Context, r *dag.Run) error {
		res, err := s.Run(ctx)
		r.AddRows(int64(res.Deleted))
		return err
	}
}
