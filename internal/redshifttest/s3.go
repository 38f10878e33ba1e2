package redshifttest

import (
	"context"
	"fmt"
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

	srv *httptest.Server
}

// Region is the region the test clients use.
const Region = "us-east-1"

// StartS3 starts an S3 server with bucket created. Close it when done.
func StartS3(bucket string) (*S3Server, error) {
	return StartS3Clock(bucket, nil)
}

// StartS3Clock is StartS3 with the clock that stamps objects' LastModified, for tests of
// age-based cleanup. A nil clock is the real one.
func StartS3Clock(bucket string, clock gofakes3.TimeSource) (*S3Server, error) {
	var opts []s3mem.Option
	if clock != nil {
		opts = append(opts, s3mem.WithTimeSource(clock))
	}
	backend := s3mem.New(opts...)
	if err := backend.CreateBucket(bucket); err != nil {
		return nil, fmt.Errorf("redshifttest: create bucket: %w", err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	return &S3Server{Client: NewS3Client(srv.URL), Bucket: bucket, Endpoint: srv.URL, srv: srv}, nil
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
