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

	"github.com/sluice-etl/sluice/internal/redshiftcopy"
)

// Sweep deletes staged objects that loads left under the staging prefix: those a killed
// process left behind (SIGKILL, a lost machine), and those a failed COPY kept for
// inspection (see [StageConfig.KeepFailed]) once their time is up. A load deletes its own
// objects otherwise, so a periodic Sweep is all the cleanup staging needs.
//
// It deletes only what looks like staging, "<Prefix>/<pipeline>/<run ID>/part-NNNNN.csv.gz",
// ".../manifest.json" and ".../failed.json". Objects of a run with a failed.json marker
// are deleted once the marker's keep_until has passed; others once they were last
// modified before the cutoff. Pick OlderThan larger than your longest load, so a run
// still in progress is never swept.
//
// A Sweep is a plain Run(ctx) (SweepResult, error), so a scheduler can run it as it is;
// dag.Job adapts it into a task, counting the objects deleted as the task's rows.
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

// RowsAffected returns the objects deleted, which dag.Job counts as the task's rows.
func (r SweepResult) RowsAffected() int64 { return int64(r.Deleted) }

// stagedKey matches the keys a Stager writes below its prefix; its first group is the
// run prefix, its second the object's name.
var stagedKey = regexp.MustCompile(`^([A-Za-z0-9._-]+/[A-Za-z0-9._-]+/)(part-[0-9]{5,}\.csv\.gz|manifest\.json|failed\.json)$`)

// Run lists the staging prefix and deletes the orphaned objects, a page at a time.
func (s Sweep) Run(ctx context.Context) (SweepResult, error) {
	prefix := strings.TrimSuffix(s.Stage.Prefix, "/")
	if prefix == "" {
		return SweepResult{}, errors.New("redshift: sweep needs a staging Prefix; refusing to walk a whole bucket")
	}
	if s.OlderThan <= 0 {
		return SweepResult{}, errors.New("redshift: sweep needs OlderThan > 0")
	}
	st, err := redshiftcopy.NewStager(ctx, s.Stage.config())
	if err != nil {
		return SweepResult{}, err
	}
	log := s.Stage.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	res := SweepResult{Cutoff: now().Add(-s.OlderThan)}
	bucket := s.Stage.Bucket
	pages := s3.NewListObjectsV2Paginator(st.Client(), &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/"),
	})
	// Keys come in order, and a run's failed.json sorts before its manifest and parts,
	// so the marker is read before the objects it keeps.
	keep := map[string]time.Time{}
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return res, fmt.Errorf("redshift: list s3://%s/%s/: %w", bucket, prefix, err)
		}
		var old []types.ObjectIdentifier
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			m := stagedKey.FindStringSubmatch(strings.TrimPrefix(key, prefix+"/"))
			if m == nil {
				continue
			}
			if m[2] == redshiftcopy.FailedMarker {
				mk, err := redshiftcopy.ReadMarker(ctx, st.Client(), bucket, key)
				if err != nil {
					return res, fmt.Errorf("redshift: sweep: read s3://%s/%s: %w", bucket, key, err)
				}
				keep[m[1]] = mk.KeepUntil
			}
			expired := o.LastModified != nil && o.LastModified.Before(res.Cutoff)
			if until, ok := keep[m[1]]; ok {
				expired = now().After(until)
			}
			if !expired {
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
		out, err := st.Client().DeleteObjects(ctx, &s3.DeleteObjectsInput{
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
	log.Info("staging swept", slog.String("bucket", bucket), slog.String("prefix", prefix),
		slog.Time("cutoff", res.Cutoff), slog.Int("deleted", res.Deleted), slog.Int("kept", res.Kept),
		slog.Bool("dry_run", s.DryRun))
	return res, nil
}
