package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

var benchSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64}, {Name: "name", Type: etl.TypeText}, {Name: "amount", Type: etl.TypeNumeric},
	{Name: "modified", Type: etl.TypeTimestamp}, {Name: "deleted", Type: etl.TypeBool},
}

// genRows streams n generated rows, ids from first, reusing one Row as sources do.
func genRows(first, n int64, deleteEvery int64) etl.Stream {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return etl.Stream{Schema: benchSchema, Rows: func(yield func(etl.Row, error) bool) {
		row := make(etl.Row, len(benchSchema))
		for i := first; i < first+n; i++ {
			row[0], row[1], row[2] = i, "name-of-row", etl.Decimal("1234.50")
			row[3], row[4] = t0.Add(time.Duration(i)*time.Second), deleteEvery > 0 && i%deleteEvery == 0
			if !yield(row, nil) {
				return
			}
		}
	}}
}

// BenchmarkFullRefresh loads 100k rows, replacing 100k.
func BenchmarkFullRefresh(b *testing.B) {
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	l := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", Key: []string{"id"}, Create: true}}
	const n = 100_000
	for b.Loop() {
		if _, err := l.Load(ctx, etl.NewRun("bench", etl.Window{}), genRows(0, n, 0)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkMerge merges 10k changed rows (1% of them deletes) into a 100k-row table.
func BenchmarkMerge(b *testing.B) {
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	l := &sqlite.Merge{Target: sqlite.Target{DB: db, Table: "t", Key: []string{"id"}, Create: true}, Cursor: "modified", Deleted: "deleted"}
	if _, err := l.Load(ctx, etl.NewRun("bench", etl.Window{}), genRows(0, 100_000, 0)); err != nil {
		b.Fatal(err)
	}
	const n = 10_000
	for b.Loop() {
		if _, err := l.Load(ctx, etl.NewRun("bench", etl.Window{}), genRows(45_000, n, 100)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
