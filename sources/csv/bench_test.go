package csv_test

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/csv"
)

// benchSchema is the 9-column shape of the bulk load benchmark.
var benchSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "name", Type: etl.TypeText},
	{Name: "email", Type: etl.TypeText},
	{Name: "gender", Type: etl.TypeText},
	{Name: "country", Type: etl.TypeText},
	{Name: "amount", Type: etl.TypeNumeric},
	{Name: "created", Type: etl.TypeTimestamp},
	{Name: "modified", Type: etl.TypeTimestamp},
	{Name: "deleted", Type: etl.TypeBool},
}

var (
	genders   = []string{"F", "M", "Unisex"}
	countries = []string{"Germany", "Brazil", "Japan", "Kenya", "Canada", "United States"}
)

func benchCSV(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("id,name,email,gender,country,amount,created,modified,deleted\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&b, "%d,Name %d,user%d@example.com,%s,%s,%d.%02d,2024-%02d-%02d %02d:%02d:%02d+00,2025-%02d-%02dT%02d:%02d:%02d.%06dZ,%s\n",
			i, i, i, genders[i%3], countries[i%6], i%100000, i%100,
			i%12+1, i%28+1, i%24, i%60, (i*7)%60,
			i%12+1, i%28+1, i%24, i%60, (i*7)%60, i%1000000,
			[]string{"f", "t"}[i%2])
	}
	return b.Bytes()
}

// benchRow is row i of benchCSV, as the source should read it.
func benchRow(i int) etl.Row {
	return etl.Row{
		int64(i), fmt.Sprintf("Name %d", i), fmt.Sprintf("user%d@example.com", i),
		genders[i%3], countries[i%6], etl.Decimal(fmt.Sprintf("%d.%02d", i%100000, i%100)),
		time.Date(2024, time.Month(i%12+1), i%28+1, i%24, i%60, (i*7)%60, 0, time.UTC),
		time.Date(2025, time.Month(i%12+1), i%28+1, i%24, i%60, (i*7)%60, (i%1000000)*1000, time.UTC),
		i%2 == 1,
	}
}

// BenchmarkSource measures parsing and typing the 9-column bulk-load shape from memory.
// It reports rows/s; b.SetBytes gives MB/s.
func BenchmarkSource(b *testing.B) {
	const rows = 100_000
	data := benchCSV(rows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	ctx := context.Background()
	cpu0 := cpuTime()
	for b.Loop() {
		src, err := csv.New(csv.Config{Reader: bytes.NewReader(data), Schema: benchSchema})
		if err != nil {
			b.Fatal(err)
		}
		s, err := src.Extract(ctx, etl.NewRun("bench", etl.Window{}))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, err := range s.Rows {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	// CPU time, garbage collection included, is what compares on a busy machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(rows*b.N), "cpu-ns/row")
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchText(rows int) string { return string(benchCSV(rows)) }
