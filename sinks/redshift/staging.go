package redshift

import (
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-etl/sluice/internal/redshiftcopy"
)

// ErrNoBucket is returned by a load or a [Sweep] whose [StageConfig.Bucket] is empty.
var ErrNoBucket = redshiftcopy.ErrNoBucket

// ErrUnsupportedValue is wrapped by a [*ValueError] for a value that Redshift's COPY CSV
// cannot load exactly.
var ErrUnsupportedValue = redshiftcopy.ErrUnsupportedValue

// ValueError reports a row value that cannot be staged: the row's position in the
// stream, the column, its type and what is wrong. It wraps [ErrUnsupportedValue].
type ValueError = redshiftcopy.ValueError

// StageConfig configures the S3 staging of a load's rows. The zero value with a Bucket
// is usable.
//
// Rows are written as gzip CSV parts under "<Prefix>/<pipeline>/<run ID>/", in rounds
// of one part per slice, compressed as they come and uploaded by at most Concurrency
// goroutines, then listed in a manifest that COPY reads. Memory stays flat whatever the
// row count.
type StageConfig struct {
	// Bucket is the S3 bucket that holds staged parts. Required.
	Bucket string
	// Prefix is prepended to every staged key, as "<Prefix>/<pipeline>/<run ID>/...".
	// Defaults to none: keys start with the pipeline's name.
	Prefix string
	// Region is the bucket's AWS region. COPY always names the region the S3 client
	// resolved, so a cluster in another region reads the bucket. Defaults to the region
	// of the default AWS configuration (AWS_REGION, the shared config file).
	Region string
	// Endpoint overrides the S3 endpoint URL, for S3-compatible stores and tests.
	// Defaults to AWS's endpoint for Region.
	Endpoint string
	// UsePathStyle addresses the bucket as a path ("host/bucket/key") rather than a host
	// name. Defaults to false, virtual-hosted style.
	UsePathStyle bool
	// IAMRole is the ARN of the role Redshift assumes to read the staged parts in COPY.
	// Defaults to the cluster's default role (IAM_ROLE default).
	IAMRole string
	// PartSize is the size of one part's CSV before compression, in bytes. Defaults to
	// 8 MiB. With many slices it is lowered so one round of parts stays within 64 MiB.
	PartSize int64
	// Concurrency bounds the parts being uploaded at once. Memory is about
	// Slices+Concurrency compressed parts plus a gzip writer (about 1 MiB) per slice.
	// Defaults to 4.
	Concurrency int
	// Slices is the cluster's slice count (SELECT COUNT(*) FROM stv_slices on a
	// provisioned cluster; Serverless has no STV tables, so leave it at 1 or set the
	// parallelism you want). Parts come in rounds of Slices, one per slice, so every slice
	// loads a share of every run. Defaults to 1.
	Slices int
	// KeepStaged keeps staged objects after every load, for debugging. Defaults to false:
	// they are deleted after a commit, and after a failure unless KeepFailed keeps them.
	KeepStaged bool
	// KeepFailed is how long the staged objects of a load whose COPY failed are kept, so
	// that the rows Redshift refused can be read: the load writes a failed.json marker
	// beside them that says until when, the load's error names the prefix, and [Sweep]
	// deletes them once that time has passed. Defaults to 7 days, as long as Redshift
	// keeps its STL log tables; a negative value deletes them at once.
	KeepFailed time.Duration
	// SSE is the server-side encryption staged objects are written with: "AES256"
	// (SSE-S3) or "aws:kms" (SSE-KMS). A bucket whose policy requires encryption refuses
	// uploads without it. COPY reads either without an option of its own ("The COPY
	// command automatically recognizes and loads files encrypted using SSE-S3 and
	// SSE-KMS", Developer Guide); with SSE-KMS the role in IAMRole needs kms:Decrypt on
	// the key. Defaults to "": the bucket's default encryption applies.
	SSE string
	// KMSKeyID is the KMS key (ID, ARN or alias) of SSE "aws:kms". Defaults to the
	// account's AWS managed key for S3.
	KMSKeyID string
	// Client is the S3 client. Defaults to one built from the default credential chain
	// (environment, shared profile, instance or task role) with Region, Endpoint and
	// UsePathStyle applied.
	Client *s3.Client
	// Logger receives staging logs. Defaults to discarding them.
	Logger *slog.Logger
}

func (c StageConfig) config() redshiftcopy.Config {
	return redshiftcopy.Config{
		Bucket: c.Bucket, Prefix: c.Prefix, Region: c.Region, Endpoint: c.Endpoint, UsePathStyle: c.UsePathStyle,
		IAMRole: c.IAMRole, PartSize: c.PartSize, Concurrency: c.Concurrency, Slices: c.Slices,
		KeepStaged: c.KeepStaged, KeepFailed: c.KeepFailed, SSE: c.SSE, KMSKeyID: c.KMSKeyID,
		Client: c.Client, Logger: c.Logger,
	}
}
