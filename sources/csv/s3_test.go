package csv_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/csv"
)

// s3Server starts an in-process S3 holding objects (key -> body) in bucket "data", and
// returns the S3Config that reaches it.
func s3Server(t *testing.T, objects map[string][]byte) csv.S3Config {
	t.Helper()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("data"))
	for key, body := range objects {
		_, err := backend.PutObject("data", key, map[string]string{}, strings.NewReader(string(body)), int64(len(body)), nil)
		require.NoError(t, err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return csv.S3Config{
		Region:       "eu-west-1",
		Endpoint:     srv.URL,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	}
}

func TestS3(t *testing.T) {
	t.Parallel()
	// A gzip object cut short, as by an interrupted upload: its rows end early, and
	// so does the gzip stream, without its trailer.
	packed := gzipped(t, nameGender)
	cut := packed[:len(packed)-12]
	cfg := s3Server(t, map[string][]byte{
		"name_gender.csv":            []byte(nameGender),
		"packed.csv":                 gzipped(t, nameGender),
		"exports/":                   nil, // a console-made "folder"
		"exports/part-000.csv":       []byte("name,gender\nA,F\nB,M\n"),
		"exports/part-001.csv.gz":    gzipped(t, "gender,name\nUnisex,C\n"), // columns in another order
		"exports/part-002.csv":       []byte("\ufeffname,gender\r\nD,F\r\n"),
		"exports2/part-000.csv":      []byte("name,gender\nnot,me\n"),
		"bad/part-000.csv":           []byte("name,gender\nA,F\n"),
		"bad/part-001.csv":           []byte("name,gender\nB,F,extra\n"),
		"headerless/part-000.csv":    []byte("A,F\n"),
		"headerless/part-001.csv.gz": gzipped(t, "B,M\n"),
		"cut.csv.gz":                 cut,
	})

	t.Run("object", func(t *testing.T) {
		t.Parallel()
		rows, _, err := read(t, csv.Config{Path: "s3://data/name_gender.csv", Schema: textSchema, S3: cfg})
		require.NoError(t, err)
		require.Equal(t, nameGenderRows, rows)
	})
	t.Run("gzip object", func(t *testing.T) {
		t.Parallel()
		rows, _, err := read(t, csv.Config{Path: "s3://data/packed.csv", Schema: textSchema, S3: cfg})
		require.NoError(t, err)
		require.Equal(t, nameGenderRows, rows)
	})
	t.Run("prefix", func(t *testing.T) {
		t.Parallel()
		rows, _, err := read(t, csv.Config{Path: "s3://data/exports/", Schema: textSchema, S3: cfg})
		require.NoError(t, err)
		require.Equal(t, []etl.Row{{"A", "F"}, {"B", "M"}, {"C", "Unisex"}, {"D", "F"}}, rows)
	})
	t.Run("prefix in pages", func(t *testing.T) {
		t.Parallel()
		lister := &pagedLister{Client: s3Client(t, cfg), perPage: 1}
		rows, _, err := read(t, csv.Config{Path: "s3://data/exports/", Schema: textSchema,
			S3: csv.S3Config{Client: lister}})
		require.NoError(t, err)
		require.Equal(t, []etl.Row{{"A", "F"}, {"B", "M"}, {"C", "Unisex"}, {"D", "F"}}, rows)
		require.GreaterOrEqual(t, lister.pages, 4, "one page per key")
	})
	t.Run("prefix without header", func(t *testing.T) {
		t.Parallel()
		rows, _, err := read(t, csv.Config{Path: "s3://data/headerless/", NoHeader: true, Schema: textSchema, S3: cfg})
		require.NoError(t, err)
		require.Equal(t, []etl.Row{{"A", "F"}, {"B", "M"}}, rows)
	})
	t.Run("error names the object", func(t *testing.T) {
		t.Parallel()
		rows, _, err := read(t, csv.Config{Path: "s3://data/bad/", Schema: textSchema, S3: cfg})
		require.ErrorIs(t, err, csv.ErrFieldCount)
		require.ErrorContains(t, err, "s3://data/bad/part-001.csv: line 2, column 5:")
		require.Len(t, rows, 1)
	})
	t.Run("truncated gzip object", func(t *testing.T) {
		t.Parallel()
		_, _, err := read(t, csv.Config{Path: "s3://data/cut.csv.gz", Schema: textSchema, S3: cfg})
		var pe *csv.ParseError
		require.ErrorAs(t, err, &pe, "a body cut short is an error, not the end of the data")
		require.Equal(t, "s3://data/cut.csv.gz", pe.File)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Run("missing key", func(t *testing.T) {
		t.Parallel()
		_, _, err := read(t, csv.Config{Path: "s3://data/missing.csv", Schema: textSchema, S3: cfg})
		require.ErrorIs(t, err, csv.ErrNotFound)
		require.ErrorContains(t, err, "s3://data/missing.csv")
		require.NotContains(t, err.Error(), "secret")
	})
	t.Run("empty prefix", func(t *testing.T) {
		t.Parallel()
		_, _, err := read(t, csv.Config{Path: "s3://data/nothing/", Schema: textSchema, S3: cfg})
		require.ErrorIs(t, err, csv.ErrNoObjects)
		require.ErrorContains(t, err, "s3://data/nothing/")
	})
	t.Run("missing bucket", func(t *testing.T) {
		t.Parallel()
		_, _, err := read(t, csv.Config{Path: "s3://nobucket/x/", Schema: textSchema, S3: cfg})
		require.ErrorContains(t, err, "csv: list s3://nobucket/x/")
	})
}

func s3Client(t *testing.T, cfg csv.S3Config) *s3.Client {
	t.Helper()
	return s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true,
		Credentials:  cfg.Credentials,
	})
}

// pagedLister lists a few keys per page, to walk the continuation tokens.
type pagedLister struct {
	*s3.Client
	perPage int32
	pages   int
}

func (p *pagedLister) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	in.MaxKeys = aws.Int32(p.perPage)
	p.pages++
	return p.Client.ListObjectsV2(ctx, in, optFns...)
}
