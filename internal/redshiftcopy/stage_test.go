package redshiftcopy_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
	"github.com/sluice-etl/sluice/internal/redshifttest"
)

var schema = etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name", Type: etl.TypeText}}

// rows yields n rows, then fails with err when err is not nil.
func rows(n int, err error) iter.Seq2[etl.Row, error] {
	return func(yield func(etl.Row, error) bool) {
		row := make(etl.Row, 2)
		for i := range n {
			row[0], row[1] = int64(i), fmt.Sprintf("name %d, with a comma", i)
			if !yield(row, nil) {
				return
			}
		}
		if err != nil {
			yield(nil, err)
		}
	}
}

func startS3(t *testing.T) *redshifttest.S3Server {
	t.Helper()
	srv, err := redshifttest.StartS3("stage")
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

func stager(t *testing.T, srv *redshifttest.S3Server, cfg redshiftcopy.Config) *redshiftcopy.Stager {
	t.Helper()
	cfg.Bucket = srv.Bucket
	cfg.Client = srv.Client
	s, err := redshiftcopy.NewStager(context.Background(), cfg)
	require.NoError(t, err)
	return s
}

func get(t *testing.T, srv *redshifttest.S3Server, key string) []byte {
	t.Helper()
	out, err := srv.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
	require.NoError(t, err)
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	return b
}

func gunzipLines(t *testing.T, b []byte) int64 {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(string(b)))
	require.NoError(t, err)
	var n int64
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		n++
	}
	require.NoError(t, sc.Err())
	return n
}

func TestStagePartsAndManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startS3(t)
	s := stager(t, srv, redshiftcopy.Config{Prefix: "etl/", PartSize: 1024, Slices: 4, Concurrency: 3})
	st, err := s.Stage(ctx, "users", "run-1", schema, rows(1000, nil))
	require.NoError(t, err)

	require.Equal(t, int64(1000), st.Rows)
	require.Equal(t, "etl/users/run-1/", st.Prefix)
	require.Equal(t, "s3://stage/etl/users/run-1/manifest.json", st.ManifestURL)
	require.Greater(t, len(st.Parts), 4)
	require.Zero(t, len(st.Parts)%4, "part count is a multiple of the slice count")

	var m struct {
		Entries []struct {
			URL       string `json:"url"`
			Mandatory bool   `json:"mandatory"`
			Meta      struct {
				ContentLength int64 `json:"content_length"`
			} `json:"meta"`
		} `json:"entries"`
	}
	require.NoError(t, json.Unmarshal(get(t, srv, "etl/users/run-1/manifest.json"), &m))
	require.Len(t, m.Entries, len(st.Parts))
	var total, bytes int64
	for i, p := range st.Parts {
		require.Equal(t, fmt.Sprintf("etl/users/run-1/part-%05d.csv.gz", i), p.Key)
		e := m.Entries[i]
		require.Equal(t, "s3://stage/"+p.Key, e.URL)
		require.True(t, e.Mandatory)
		body := get(t, srv, p.Key)
		require.Equal(t, int64(len(body)), e.Meta.ContentLength)
		require.Equal(t, p.Size, e.Meta.ContentLength)
		require.Equal(t, p.Rows, gunzipLines(t, body))
		total += p.Rows
		bytes += p.Bytes
	}
	require.Equal(t, st.Rows, total)
	require.Equal(t, st.Bytes, bytes)
	// Rows are dealt round-robin, so the parts of a round differ by at most one row.
	for r := 0; r < len(st.Parts); r += 4 {
		lo, hi := st.Parts[r].Rows, st.Parts[r].Rows
		for _, p := range st.Parts[r : r+4] {
			lo, hi = min(lo, p.Rows), max(hi, p.Rows)
		}
		require.LessOrEqual(t, hi-lo, int64(1), "round %d", r/4)
	}

	require.NoError(t, st.Delete(ctx))
	keys, err := srv.Keys(ctx, "")
	require.NoError(t, err)
	require.Empty(t, keys)
}

func TestStageFewerRowsThanSlices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startS3(t)
	s := stager(t, srv, redshiftcopy.Config{Slices: 4})
	for _, n := range []int{0, 2} {
		st, err := s.Stage(ctx, "p", fmt.Sprint("run", n), schema, rows(n, nil))
		require.NoError(t, err)
		require.Len(t, st.Parts, 4, "one part per slice, some empty")
		require.Equal(t, int64(n), st.Rows)
		for _, p := range st.Parts {
			require.Equal(t, p.Rows, gunzipLines(t, get(t, srv, p.Key)))
		}
	}
}

func TestStageFailureDeletesWhatItWrote(t *testing.T) {
	t.Parallel()
	boom := errors.New("source went away")
	cases := []struct {
		name string
		rows iter.Seq2[etl.Row, error]
		want error
	}{
		{"stream error", rows(5000, boom), boom},
		{"bad value", func(yield func(etl.Row, error) bool) {
			for row := range rows(3000, nil) {
				if !yield(row, nil) {
					return
				}
			}
			yield(etl.Row{int64(1), `\N`}, nil)
		}, redshiftcopy.ErrUnsupportedValue},
	}
	for _, c := range cases {
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s keep=%v", c.name, keep), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				srv := startS3(t)
				s := stager(t, srv, redshiftcopy.Config{PartSize: 4096, Slices: 2, KeepStaged: keep})
				st, err := s.Stage(ctx, "p", "r", schema, c.rows)
				require.ErrorIs(t, err, c.want)
				require.Nil(t, st)
				keys, err := srv.Keys(ctx, "")
				require.NoError(t, err)
				if keep {
					require.NotEmpty(t, keys, "parts uploaded before the failure are kept")
				} else {
					require.Empty(t, keys)
				}
			})
		}
	}
}

func TestStageCanceled(t *testing.T) {
	t.Parallel()
	srv := startS3(t)
	s := stager(t, srv, redshiftcopy.Config{PartSize: 4096})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := s.Stage(ctx, "p", "r", schema, func(yield func(etl.Row, error) bool) {
		for row := range rows(100000, nil) {
			if n++; n == 5000 {
				cancel()
			}
			if !yield(row, nil) {
				return
			}
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, n, 100000, "staging stops reading the stream")
	keys, err := srv.Keys(context.Background(), "")
	require.NoError(t, err)
	require.Empty(t, keys)
}

func TestStageUploadError(t *testing.T) {
	t.Parallel()
	srv := startS3(t)
	s, err := redshiftcopy.NewStager(context.Background(), redshiftcopy.Config{Bucket: "missing", Client: srv.Client})
	require.NoError(t, err)
	_, err = s.Stage(context.Background(), "p", "r", schema, rows(10, nil))
	require.ErrorContains(t, err, "s3://missing/p/r/part-00000.csv.gz")

	// A failed upload stops the reading of the stream: once Concurrency uploads are
	// under way a new one starts only after one ended, and a failure cancels the
	// staging before its slot frees, so at most Concurrency+1 rounds are read.
	s, err = redshiftcopy.NewStager(context.Background(), redshiftcopy.Config{
		Bucket: "missing", Client: srv.Client, PartSize: 4096, Concurrency: 2,
	})
	require.NoError(t, err)
	read := 0
	_, err = s.Stage(context.Background(), "p", "r", schema, func(yield func(etl.Row, error) bool) {
		for row := range rows(1_000_000, nil) {
			read++
			if !yield(row, nil) {
				return
			}
		}
	})
	require.ErrorContains(t, err, "s3://missing/p/r/part-")
	require.Less(t, read, 4*4096/20, "rows read after an upload failed")
}

func TestStagerConfig(t *testing.T) {
	t.Parallel()
	_, err := redshiftcopy.NewStager(context.Background(), redshiftcopy.Config{})
	require.ErrorIs(t, err, redshiftcopy.ErrNoBucket)
	srv := startS3(t)
	s := stager(t, srv, redshiftcopy.Config{})
	cfg := s.Config()
	require.Equal(t, int64(redshiftcopy.DefaultPartSize), cfg.PartSize)
	require.Equal(t, redshiftcopy.DefaultConcurrency, cfg.Concurrency)
	require.Equal(t, 1, cfg.Slices)
	require.Equal(t, ".._x/a_b/", s.RunPrefix("../x", "a/b"), "names cannot climb out of the prefix")
	require.Equal(t, "weird__pipe__/r-1_/", s.RunPrefix(`weird "pipe"%`, "r-1 "))
	_, err = s.Stage(context.Background(), "", "r", schema, rows(1, nil))
	require.Error(t, err)
	_, err = s.Stage(context.Background(), "p", "r", nil, rows(1, nil))
	require.Error(t, err)
}
