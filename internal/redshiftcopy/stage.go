package redshiftcopy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-etl/sluice/etl"
)

// Defaults of [Config]; the sink's StageConfig documents them.
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 4
	DefaultKeepFailed  = 7 * 24 * time.Hour
	// maxRoundBytes bounds the uncompressed bytes held for one round of parts (one part
	// per slice), so a cluster with many slices gets smaller parts, not more memory.
	maxRoundBytes = 64 << 20
	// minCappedPartSize is the smallest part the round bound shrinks parts to.
	minCappedPartSize = 1 << 20
)

// GzipLevel is the compression level of staged parts. Fastest wins: staging is bound by
// the client's CPU, and Redshift reads any level at the same speed.
const GzipLevel = gzip.BestSpeed

// uploadGrace bounds how long an upload already under way may run on after staging is
// cancelled.
const uploadGrace = 30 * time.Second

// ErrNoBucket is returned by [NewStager] when [Config.Bucket] is empty.
var ErrNoBucket = errors.New("redshift: no S3 staging bucket configured")

// Config configures a [Stager]. The zero value with a Bucket is usable.
type Config struct {
	// Bucket is the S3 bucket that holds staged parts. Required.
	Bucket string
	// Prefix is prepended to every staged key, as "<Prefix>/<pipeline>/<run ID>/...".
	// Defaults to none: keys start with the pipeline's name.
	Prefix string
	// Region is the bucket's AWS region. Defaults to the region of the default AWS
	// configuration (AWS_REGION, the shared config file).
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
	// Concurrency bounds the parts being uploaded at once. Parts are compressed as they
	// fill, so memory is about Slices+Concurrency compressed parts plus a gzip writer
	// (about 1 MiB) per slice, whatever the row count. Defaults to 4.
	Concurrency int
	// Slices is the cluster's slice count (SELECT COUNT(*) FROM stv_slices). Parts come
	// in rounds of Slices, one per slice, so every slice loads a share of every run.
	// Defaults to 1.
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
	// uploads without it. COPY reads either without an option of its own; with SSE-KMS the
	// role in IAMRole needs kms:Decrypt on the key. Defaults to "": the bucket's default
	// encryption applies.
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

// Stager writes row streams to S3 as gzip CSV parts plus a manifest for COPY. It is safe
// for concurrent use; each Stage call writes under its own run prefix.
type Stager struct {
	cfg    Config
	client *s3.Client
	log    *slog.Logger
	bufs   sync.Pool // *bytes.Buffer, compressed parts
}

// NewStager returns a Stager for cfg. It builds the S3 client when cfg.Client is nil.
func NewStager(ctx context.Context, cfg Config) (*Stager, error) {
	if cfg.Bucket == "" {
		return nil, ErrNoBucket
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Slices <= 0 {
		cfg.Slices = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.KeepFailed == 0 {
		cfg.KeepFailed = DefaultKeepFailed
	}
	switch cfg.SSE {
	case "", string(types.ServerSideEncryptionAes256), string(types.ServerSideEncryptionAwsKms):
	default:
		return nil, fmt.Errorf("redshift: Config.SSE %q is neither AES256 nor aws:kms", cfg.SSE)
	}
	if cfg.KMSKeyID != "" && cfg.SSE != string(types.ServerSideEncryptionAwsKms) {
		return nil, errors.New(`redshift: Config.KMSKeyID needs SSE "aws:kms"`)
	}
	client := cfg.Client
	if client == nil {
		var opts []func(*awsconfig.LoadOptions) error
		if cfg.Region != "" {
			opts = append(opts, awsconfig.WithRegion(cfg.Region))
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("redshift: load AWS configuration: %w", err)
		}
		client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if cfg.Endpoint != "" {
				o.BaseEndpoint = aws.String(cfg.Endpoint)
			}
			o.UsePathStyle = cfg.UsePathStyle
		})
	}
	return &Stager{cfg: cfg, client: client, log: cfg.Logger}, nil
}

// Config returns the stager's configuration with defaults filled in.
func (s *Stager) Config() Config { return s.cfg }

// Client returns the S3 client the stager uses.
func (s *Stager) Client() *s3.Client { return s.client }

// ReadMarker reads the [Marker] at key.
func ReadMarker(ctx context.Context, client *s3.Client, bucket, key string) (Marker, error) {
	var m Marker
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return m, err
	}
	defer out.Body.Close()
	err = json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&m)
	return m, err
}

// Region returns the bucket's region as the S3 client resolved it: Region when set, else
// the default AWS configuration's. COPY names it, so that a cluster in another region
// reads the bucket.
func (s *Stager) Region() string { return s.client.Options().Region }

// encrypt sets the configured server-side encryption on an upload.
func (s *Stager) encrypt(in *s3.PutObjectInput) *s3.PutObjectInput {
	if s.cfg.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.cfg.SSE)
	}
	if s.cfg.KMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
	}
	return in
}

// Part is one staged object.
type Part struct {
	// Key is the object's key in the bucket.
	Key string
	// Rows counts the rows in the part.
	Rows int64
	// Bytes is the part's CSV size before compression.
	Bytes int64
	// Size is the object's size, compressed.
	Size int64

	n int // position in the manifest
}

// Staged is what one [Stager.Stage] call wrote.
type Staged struct {
	// Bucket holds the staged objects.
	Bucket string
	// Prefix is the run prefix every staged key starts with, ending in "/".
	Prefix string
	// ManifestURL is the s3:// URL of the manifest, for COPY ... MANIFEST.
	ManifestURL string
	// Parts lists the parts in manifest order.
	Parts []Part
	// Rows counts the rows written, to compare with pg_last_copy_count() after COPY.
	Rows int64
	// Bytes is the CSV size of all parts before compression.
	Bytes int64
	// Size is the compressed size of all parts.
	Size int64

	stager *Stager
}

// Delete removes every object under the run prefix, the manifest included.
func (st *Staged) Delete(ctx context.Context) error {
	return deletePrefix(ctx, st.stager.client, st.Bucket, st.Prefix)
}

// FailedMarker is the name of the object a failed load leaves beside its kept staged
// files; the sink's Sweep reads it.
const FailedMarker = "failed.json"

// Marker is the content of [FailedMarker].
type Marker struct {
	// KeepUntil is when Sweep may delete the run's objects.
	KeepUntil time.Time `json:"keep_until"`
	// Table and Error say what failed, for whoever finds the files.
	Table string `json:"table"`
	Error string `json:"error"`
}

// MarkFailed writes the failed.json marker that keeps the run's objects from the sink's
// Sweep until until.
func (st *Staged) MarkFailed(ctx context.Context, until time.Time, table, reason string) error {
	if len(reason) > 4096 {
		reason = reason[:4096]
	}
	body, err := json.Marshal(Marker{KeepUntil: until.UTC(), Table: table, Error: reason})
	if err != nil {
		return err
	}
	_, err = st.stager.client.PutObject(ctx, st.stager.encrypt(&s3.PutObjectInput{
		Bucket: aws.String(st.Bucket), Key: aws.String(st.Prefix + FailedMarker),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentType: aws.String("application/json"),
	}))
	return err
}

type manifest struct {
	Entries []manifestEntry `json:"entries"`
}

type manifestEntry struct {
	URL       string       `json:"url"`
	Mandatory bool         `json:"mandatory"`
	Meta      manifestMeta `json:"meta"`
}

type manifestMeta struct {
	ContentLength int64 `json:"content_length"`
}

// RunPrefix returns the key prefix, ending in "/", under which a run of pipeline is
// staged. Bytes of the pipeline name and run ID other than letters, digits, '.', '-' and
// '_' become '_', so neither can add a level or need escaping in an s3:// URL; the run ID
// keeps runs apart.
func (s *Stager) RunPrefix(pipeline, runID string) string {
	p := keySafe(pipeline) + "/" + keySafe(runID) + "/"
	if s.cfg.Prefix != "" {
		p = strings.TrimSuffix(s.cfg.Prefix, "/") + "/" + p
	}
	return p
}

func keySafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// lane is the part being filled for one slice in the current round. Rows are encoded
// into pending and compressed into out as they come, so a lane holds compressed bytes.
type lane struct {
	zw      *gzip.Writer
	out     *bytes.Buffer
	pending []byte
	raw     int64
	rows    int64
}

// pendingSize is how much CSV a lane gathers before handing it to gzip, so gzip sees
// large writes rather than one per row.
const pendingSize = 32 << 10

// Stage writes rows as gzip CSV parts under [Stager.RunPrefix], then a manifest, and
// returns what it wrote. Rows are dealt round-robin to one part per slice and compressed
// as they come; when the round holds Slices*PartSize bytes of CSV its parts are handed to
// at most Concurrency uploaders and a new round starts, so the part count is always a
// multiple of Slices and parts of a round are the same size to within a row. A stream with fewer rows than slices still writes
// one part per slice, some empty. On failure the objects written so far are deleted
// unless KeepStaged is set. A cancelled Stage returns once the uploads already under way
// have ended, each given up to 30 seconds more: an abandoned PUT could land after the
// cleanup and leave an orphan.
func (s *Stager) Stage(ctx context.Context, pipeline, runID string, schema etl.Schema, rows iter.Seq2[etl.Row, error]) (*Staged, error) {
	if err := schema.Validate(); err != nil {
		return nil, fmt.Errorf("redshift: stage: %w", err)
	}
	if pipeline == "" || runID == "" {
		return nil, errors.New("redshift: stage: pipeline and run ID are required")
	}
	st := &Staged{Bucket: s.cfg.Bucket, Prefix: s.RunPrefix(pipeline, runID), stager: s}
	err := s.stage(ctx, st, schema, rows)
	if err != nil {
		if !s.cfg.KeepStaged {
			if derr := st.Delete(context.WithoutCancel(ctx)); derr != nil {
				err = errors.Join(err, fmt.Errorf("redshift: delete staged s3://%s/%s: %w", st.Bucket, st.Prefix, derr))
			}
		}
		return nil, err
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "staged",
		slog.String("manifest", st.ManifestURL), slog.Int("parts", len(st.Parts)),
		slog.Int64("rows", st.Rows), slog.Int64("bytes", st.Bytes), slog.Int64("size", st.Size))
	return st, nil
}

func (s *Stager) stage(ctx context.Context, st *Staged, schema etl.Schema, rows iter.Seq2[etl.Row, error]) error {
	slices := s.cfg.Slices
	partSize := s.cfg.PartSize
	if int64(slices)*partSize > maxRoundBytes {
		partSize = max(maxRoundBytes/int64(slices), min(partSize, minCappedPartSize))
	}
	roundLimit := int64(slices) * partSize

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	var mu sync.Mutex
	var parts []Part
	next := 0

	lanes := make([]lane, slices)
	for i := range lanes {
		lanes[i].out = s.getBuf()
		lanes[i].zw, _ = gzip.NewWriterLevel(lanes[i].out, GzipLevel)
		lanes[i].pending = make([]byte, 0, 2*pendingSize)
	}
	// flush closes every lane's part and hands it to an uploader. The uploaders own the
	// compressed bytes; g.Go blocks while Concurrency uploads run, which is what bounds
	// the parts in memory.
	flush := func() error {
		for i := range lanes {
			l := &lanes[i]
			if _, err := l.zw.Write(l.pending); err != nil {
				return err
			}
			if err := l.zw.Close(); err != nil {
				return err
			}
			part := Part{Key: fmt.Sprintf("%spart-%05d.csv.gz", st.Prefix, next), Rows: l.rows, Bytes: l.raw, n: next}
			next++
			out := l.out
			g.Go(func() error {
				defer s.putBuf(out)
				if err := gctx.Err(); err != nil {
					return err
				}
				part.Size = int64(out.Len())
				// A cancelled PUT may still land after the client gives up, and then
				// survive the cleanup; so a started upload is let finish (within
				// uploadGrace) and the cleanup that follows sees every object.
				upCtx, cancel := context.WithCancel(context.WithoutCancel(gctx))
				defer cancel()
				stop := context.AfterFunc(gctx, func() { time.AfterFunc(uploadGrace, cancel) })
				defer stop()
				if err := s.put(upCtx, part.Key, out.Bytes()); err != nil {
					return fmt.Errorf("redshift: upload s3://%s/%s: %w", s.cfg.Bucket, part.Key, err)
				}
				mu.Lock()
				parts = append(parts, part)
				mu.Unlock()
				return nil
			})
			l.out = s.getBuf()
			l.zw.Reset(l.out)
			l.pending, l.raw, l.rows = l.pending[:0], 0, 0
		}
		return nil
	}

	enc := encoder{schema: schema}
	var roundBytes int64
	var roundRows int64
	var streamErr error
	for row, err := range rows {
		if err != nil {
			streamErr = err
			break
		}
		l := &lanes[roundRows%int64(slices)]
		before := len(l.pending)
		if l.pending, err = enc.appendRow(l.pending, row); err != nil {
			streamErr = err
			break
		}
		n := int64(len(l.pending) - before)
		if len(l.pending) >= pendingSize {
			if _, err := l.zw.Write(l.pending); err != nil {
				streamErr = err
				break
			}
			l.pending = l.pending[:0]
		}
		l.raw += n
		l.rows++
		roundRows++
		roundBytes += n
		if roundBytes >= roundLimit {
			if streamErr = flush(); streamErr != nil {
				break
			}
			roundBytes, roundRows = 0, 0
			if gctx.Err() != nil {
				break
			}
		} else if roundRows&1023 == 0 && gctx.Err() != nil {
			break
		}
	}
	// gctx is done when ctx is or an upload failed: then the last round is not worth
	// compressing.
	if streamErr == nil && gctx.Err() == nil && (roundRows > 0 || next == 0) {
		streamErr = flush()
	}
	for i := range lanes {
		s.putBuf(lanes[i].out)
	}
	werr := g.Wait()
	if streamErr != nil {
		return streamErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}

	sort.Slice(parts, func(i, j int) bool { return parts[i].n < parts[j].n })
	m := manifest{Entries: make([]manifestEntry, len(parts))}
	for i, p := range parts {
		m.Entries[i] = manifestEntry{URL: "s3://" + s.cfg.Bucket + "/" + p.Key, Mandatory: true, Meta: manifestMeta{ContentLength: p.Size}}
		st.Rows += p.Rows
		st.Bytes += p.Bytes
		st.Size += p.Size
	}
	st.Parts = parts
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	key := st.Prefix + "manifest.json"
	if _, err := s.client.PutObject(ctx, s.encrypt(&s3.PutObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentType: aws.String("application/json"),
	})); err != nil {
		return fmt.Errorf("redshift: upload manifest s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	st.ManifestURL = "s3://" + s.cfg.Bucket + "/" + key
	return nil
}

// put uploads one compressed part.
func (s *Stager) put(ctx context.Context, key string, body []byte) error {
	_, err := s.client.PutObject(ctx, s.encrypt(&s3.PutObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentType: aws.String("text/csv"), ContentEncoding: aws.String("gzip"),
	}))
	return err
}

func (s *Stager) getBuf() *bytes.Buffer {
	if b, ok := s.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (s *Stager) putBuf(b *bytes.Buffer) {
	if b.Cap() > 2*int(s.cfg.PartSize) {
		return // incompressible data or a long row grew it; let it go
	}
	b.Reset()
	s.bufs.Put(b)
}

// deletePrefix deletes every object under prefix, a page of at most 1000 at a time.
func deletePrefix(ctx context.Context, client *s3.Client, bucket, prefix string) error {
	if prefix == "" {
		return errors.New("redshift: refusing to delete an empty prefix")
	}
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete s3://%s/%s: %s", bucket, aws.ToString(e.Key), aws.ToString(e.Message))
		}
	}
	return nil
}
