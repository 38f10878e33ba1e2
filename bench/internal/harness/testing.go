package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

// RunTestsOrChild runs a benchmark's tests, unless the driver under test re-executed the test
// binary as a sluice child (see [Child]): then it runs the benchmark's main instead.
func RunTestsOrChild(m *testing.M, main func()) {
	if len(os.Args) > 1 && os.Args[1] == "-"+ChildFlag {
		main()
		return
	}
	pgtest.Main(m) // says, once, when database tests skipped and how to run them
}

// TestSchema returns a schema name of its own for one test, sluice_bench_test_ and random
// hex. When the test ends it drops, on dsn, that schema or, when suffixes are given, the
// schemas named by it followed by each suffix.
func TestSchema(t testing.TB, dsn string, suffixes ...string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema := "sluice_bench_test_" + hex.EncodeToString(b[:])
	if len(suffixes) == 0 {
		suffixes = []string{""}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		for _, s := range suffixes {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+QuoteIdent(schema+s)+" CASCADE")
		}
	})
	return schema
}
