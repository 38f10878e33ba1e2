package csv

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"

	"github.com/sluice-etl/sluice/internal/idletimeout"
)

// S3API is the part of *s3.Client that the source uses, so that a caller can hand in a
// client it already has, or one wrapped for tracing.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// S3Config says how to reach S3 for s3:// inputs.
type S3Config struct {
	// Client is used as is when set, and the other fields are ignored. Defaults to a
	// client built from the default credential chain (environment, shared profile, IAM
	// role) and the fields below.
	Client S3API
	// Region overrides the region. Defaults to the chain's region (AWS_REGION or the
	// profile's), or us-east-1 when it has none.
	Region string
	// Endpoint overrides the service URL, for MinIO or another S3-compatible store, such
	// as "http://127.0.0.1:9000". Defaults to AWS's endpoint for the region.
	Endpoint string
	// UsePathStyle addresses buckets as endpoint/bucket/key instead of
	// bucket.endpoint/key. Defaults to false; most S3-compatible stores need true.
	UsePathStyle bool
	// Credentials overrides the credential chain. Defaults to the default chain.
	Credentials aws.CredentialsProvider
}

// input is one stream of CSV bytes: a file, a response body or an S3 object.
type input struct {
	name string
	open func(ctx context.Context) (io.ReadCloser, error)
}

// bufSize is the read buffer. encoding/csv reads a line at a time from it, so it bounds
// nothing but the number of read calls; 256 KiB keeps those few on a fast disk.
const bufSize = 256 << 10

var (
	gzipMagic = []byte{0x1f, 0x8b}
	utf8BOM   = []byte{0xef, 0xbb, 0xbf}
	utf16LE   = []byte{0xff, 0xfe}
	utf16BE   = []byte{0xfe, 0xff}
)

// decoded wraps an opened input: it inflates gzip, recognised by its magic bytes rather
// than by a ".gz" suffix, decodes enc to UTF-8 when enc is set, and skips a UTF-8 byte
// order mark. Without enc, a UTF-16 byte order mark is an error: read as UTF-8, every
// other byte of the file would be NUL.
func decoded(rc io.Reader, enc encoding.Encoding) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(rc, bufSize)
	if b, err := br.Peek(2); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	} else if bytes.Equal(b, gzipMagic) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		br = bufio.NewReaderSize(gz, bufSize)
	}
	if enc != nil {
		br = bufio.NewReaderSize(transform.NewReader(br, enc.NewDecoder()), bufSize)
	} else if b, err := br.Peek(2); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	} else if bytes.Equal(b, utf16LE) || bytes.Equal(b, utf16BE) {
		return nil, ErrUTF16
	}
	if b, err := br.Peek(3); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	} else if bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(3)
	}
	return br, nil
}

// inputs yields the inputs in the order they are read, opening none of them.
func (s *Source) inputs(ctx context.Context) iter.Seq2[input, error] {
	return func(yield func(input, error) bool) {
		switch s.kind {
		case kindReader:
			yield(input{name: s.name, open: s.openReader}, nil)
		case kindFile:
			yield(input{name: s.name, open: func(context.Context) (io.ReadCloser, error) {
				return os.Open(s.path)
			}}, nil)
		case kindHTTP:
			yield(input{name: s.name, open: s.openHTTP}, nil)
		case kindS3:
			client, err := s.s3Client(ctx)
			if err != nil {
				yield(input{}, err)
				return
			}
			if !s.prefix {
				yield(s.s3Input(client, s.key), nil)
				return
			}
			s.listS3(ctx, client, yield)
		}
	}
}

func (s *Source) openReader(context.Context) (io.ReadCloser, error) {
	if s.readerUsed.Swap(true) {
		return nil, fmt.Errorf("csv: %s: the io.Reader was already read; a Source over a Reader is single-use", s.name)
	}
	if rc, ok := s.cfg.Reader.(io.ReadCloser); ok {
		return rc, nil
	}
	return io.NopCloser(s.cfg.Reader), nil
}

func (s *Source) openHTTP(ctx context.Context) (io.ReadCloser, error) {
	reqCtx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, s.url.String(), nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("csv: GET %s: %w", s.name, err)
	}
	resp, err := s.httpClient.Do(req)
	if err != nil {
		cancel(nil)
		// *url.Error repeats the URL, query string and all; name it ourselves.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("csv: GET %s: %w", s.name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		_ = resp.Body.Close()
		cancel(nil)
		return nil, &HTTPError{URL: s.name, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	return idletimeout.NewBody(reqCtx, cancel, resp.Body, s.timeout), nil
}

func (s *Source) s3Client(ctx context.Context) (S3API, error) {
	c := s.cfg.S3
	if c.Client != nil {
		return c.Client, nil
	}
	var opts []func(*config.LoadOptions) error
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(c.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("csv: %s: load AWS configuration: %w", s.name, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.UsePathStyle
		// Objects written without a checksum are the norm; don't warn on stderr about each.
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}

func (s *Source) s3Input(client S3API, key string) input {
	name := "s3://" + s.bucket + "/" + key
	return input{name: name, open: func(ctx context.Context) (io.ReadCloser, error) {
		reqCtx, cancel := context.WithCancelCause(ctx)
		out, err := client.GetObject(reqCtx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
		if err != nil {
			cancel(nil)
			var re *awshttp.ResponseError
			if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
				return nil, fmt.Errorf("csv: %s: %w: %w", name, ErrNotFound, err)
			}
			return nil, fmt.Errorf("csv: %s: %w", name, err)
		}
		return idletimeout.NewBody(reqCtx, cancel, out.Body, s.timeout), nil
	}}
}

// listS3 yields every object under the prefix in key order (S3 lists keys in UTF-8 byte
// order), one page at a time so that a prefix of any size costs one page of memory.
// Zero-byte "folder" markers are skipped.
func (s *Source) listS3(ctx context.Context, client S3API, yield func(input, error) bool) {
	prefixName := "s3://" + s.bucket + "/" + s.key
	var token *string
	found := false
	for {
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket:            aws.String(s.bucket),
			Prefix:            aws.String(s.key),
			ContinuationToken: token,
		})
		if err != nil {
			yield(input{}, fmt.Errorf("csv: list %s: %w", prefixName, err))
			return
		}
		for _, obj := range out.Contents {
			key := aws.ToString(obj.Key)
			if strings.HasSuffix(key, "/") && aws.ToInt64(obj.Size) == 0 {
				continue
			}
			found = true
			if !yield(s.s3Input(client, key), nil) {
				return
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		token = out.NextContinuationToken
	}
	if !found {
		yield(input{}, fmt.Errorf("csv: %s: %w", prefixName, ErrNoObjects))
	}
}
