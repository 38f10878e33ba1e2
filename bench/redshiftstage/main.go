// Command redshiftstage times the Redshift sink's S3 staging: it generates rows of the
// 9-column benchmark shape in process, stages them (CSV encode, gzip, parallel upload)
// to an in-process gofakes3 server, and prints MB/s, rows/s and peak RSS. It also times
// the CSV->gzip encoder alone, writing to io.Discard, as the CPU bound to compare with.
//
//	go run ./bench/redshiftstage -rows 2000000
//
// The S3 server keeps only each object's size, not its bytes, so the peak RSS is the
// stager's own.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluice-etl/sluice/bench/internal/dataset"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
	"github.com/sluice-etl/sluice/internal/redshifttest"
)

// sizeOnly stores objects without their bytes, so the server's memory does not count
// against the stager's.
type sizeOnly struct {
	*s3mem.Backend
	received atomic.Int64
}

func (b *sizeOnly) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	n, err := io.Copy(io.Discard, input)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	b.received.Add(n)
	return b.Backend.PutObject(bucket, key, meta, bytes.NewReader(nil), 0, cond)
}

func peakRSS() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

func main() {
	rows := flag.Int("rows", 2_000_000, "rows to stage")
	partSize := flag.Int64("part-size", redshiftcopy.DefaultPartSize, "part size in bytes before compression")
	concurrency := flag.Int("concurrency", redshiftcopy.DefaultConcurrency, "parts compressed and uploaded at once")
	slices := flag.Int("slices", 4, "slice count; parts come in rounds of this many")
	encodeOnly := flag.Bool("encode-only", false, "skip staging; time the encoder alone")
	flag.Parse()
	if err := run(*rows, *partSize, *concurrency, *slices, *encodeOnly); err != nil {
		fmt.Fprintln(os.Stderr, "redshiftstage:", err)
		os.Exit(1)
	}
}

func run(rows int, partSize int64, concurrency, slices int, encodeOnly bool) error {
	ctx := context.Background()
	fmt.Printf("rows=%d part-size=%d concurrency=%d slices=%d GOMAXPROCS=%d\n", rows, partSize, concurrency, slices, runtime.GOMAXPROCS(0))

	// The CPU bound: the same encoder and gzip level, one stream, to io.Discard.
	start := time.Now()
	generated := 0
	for range dataset.Rows(int64(rows), dataset.DefaultSeed) {
		generated++
	}
	el := time.Since(start)
	fmt.Printf("row generation alone: %d rows in %.2fs: %.0f rows/s\n", generated, el.Seconds(), float64(generated)/el.Seconds())

	start = time.Now()
	zw, _ := gzip.NewWriterLevel(io.Discard, redshiftcopy.GzipLevel)
	n, raw, err := redshiftcopy.WriteCSV(zw, dataset.Schema, dataset.Rows(int64(rows), dataset.DefaultSeed))
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return err
	}
	el = time.Since(start)
	fmt.Printf("encoder alone (CSV -> gzip -> io.Discard, 1 goroutine): %d rows, %.1f MB CSV in %.2fs: %.0f rows/s, %.1f MB/s\n",
		n, float64(raw)/1e6, el.Seconds(), float64(n)/el.Seconds(), float64(raw)/1e6/el.Seconds())
	if encodeOnly {
		fmt.Printf("peak RSS: %.1f MiB\n", peakRSS())
		return nil
	}

	backend := &sizeOnly{Backend: s3mem.New()}
	if err := backend.CreateBucket("bench"); err != nil {
		return err
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	st, err := redshiftcopy.NewStager(ctx, redshiftcopy.Config{
		Bucket: "bench", Client: redshifttest.NewS3Client(srv.URL),
		PartSize: partSize, Concurrency: concurrency, Slices: slices,
	})
	if err != nil {
		return err
	}
	start = time.Now()
	staged, err := st.Stage(ctx, "bench", etl.NewRunID(), dataset.Schema, dataset.Rows(int64(rows), dataset.DefaultSeed))
	if err != nil {
		return err
	}
	el = time.Since(start)
	fmt.Printf("staged: %d rows in %d parts, %.1f MB CSV -> %.1f MB gzip (server received %.1f MB) in %.2fs\n",
		staged.Rows, len(staged.Parts), float64(staged.Bytes)/1e6, float64(staged.Size)/1e6, float64(backend.received.Load())/1e6, el.Seconds())
	fmt.Printf("staging: %.0f rows/s, %.1f MB/s of CSV, %.1f MB/s uploaded\n",
		float64(staged.Rows)/el.Seconds(), float64(staged.Bytes)/1e6/el.Seconds(), float64(staged.Size)/1e6/el.Seconds())
	rss := peakRSS()
	fmt.Printf("peak RSS: %.1f MiB (limit 128 MiB)\n", rss)
	if rss >= 128 {
		return fmt.Errorf("peak RSS %.1f MiB is over the 128 MiB bound", rss)
	}
	return nil
}
