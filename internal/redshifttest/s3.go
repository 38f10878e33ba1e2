package redshifttest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Server is an in-process S3 server (gofakes3 on an in-memory backend) with one bucket
// and a client for it.
type S3Server struct {
	// Client is a path-style client for the server, with static test credentials.
	Client *s3.Client
	// Bucket is the bucket created at start.
	Bucket string
	// Endpoint is the server's base URL, for clients built elsewhere.
	Endpoint string
	// Region is the bucket's region, which a COPY from another region must name.
	Region string

	srv *httptest.Server
}

// Region is the region of the buckets the harness serves, and the region the test
// clients use.
const Region = "us-east-1"

// S3Options configures [StartS3With].
type S3Options struct {
	// Clock stamps objects' LastModified, for tests of age-based cleanup. Defaults to the
	// real clock.
	Clock gofakes3.TimeSource
	// RequireSSE makes the bucket refuse a PUT whose x-amz-server-side-encryption header
	// is not this value ("AES256" or "aws:kms"), the way a bucket policy that denies
	// unencrypted uploads does (Amazon S3 User Guide, "Requiring server-side encryption").
	// Defaults to "": any upload is accepted.
	RequireSSE string
	// RequireKMSKey makes the bucket refuse an SSE-KMS PUT that does not name this key in
	// x-amz-server-side-encryption-aws-kms-key-id. Defaults to "": any key.
	RequireKMSKey string
}

// StartS3 starts an S3 server with bucket created. Close it when done.
func StartS3(bucket string) (*S3Server, error) {
	return StartS3With(bucket, S3Options{})
}

// StartS3Clock is StartS3 with the clock that stamps objects' LastModified, for tests of
// age-based cleanup. A nil clock is the real one.
func StartS3Clock(bucket string, clock gofakes3.TimeSource) (*S3Server, error) {
	return StartS3With(bucket, S3Options{Clock: clock})
}

// StartS3With starts an S3 server with bucket created and the policies of opts. Close it
// when done.
func StartS3With(bucket string, opts S3Options) (*S3Server, error) {
	var mem []s3mem.Option
	if opts.Clock != nil {
		mem = append(mem, s3mem.WithTimeSource(opts.Clock))
	}
	backend := s3mem.New(mem...)
	if err := backend.CreateBucket(bucket); err != nil {
		return nil, fmt.Errorf("redshifttest: create bucket: %w", err)
	}
	var handler http.Handler = gofakes3.New(backend).Server()
	if opts.RequireSSE != "" {
		handler = requireSSE(handler, opts.RequireSSE, opts.RequireKMSKey)
	}
	srv := httptest.NewServer(handler)
	return &S3Server{Client: NewS3Client(srv.URL), Bucket: bucket, Endpoint: srv.URL, Region: Region, srv: srv}, nil
}

// requireSSE refuses uploads without the required server-side encryption headers with
// S3's AccessDenied, as a bucket policy with a Deny on s3:PutObject for a missing or other
// x-amz-server-side-encryption does.
func requireSSE(next http.Handler, sse, key string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			ok := r.Header.Get("x-amz-server-side-encryption") == sse
			if ok && key != "" {
				ok = r.Header.Get("x-amz-server-side-encryption-aws-kms-key-id") == key
			}
			if !ok {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusForbidden)
				_, _ = fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// NewS3Client returns a path-style client for an S3 server at endpoint.
func NewS3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// Close stops the server.
func (s *S3Server) Close() { s.srv.Close() }

// Keys lists every key in the bucket under prefix.
func (s *S3Server) Keys(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}
