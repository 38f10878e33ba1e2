package postgres

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/origin"
	"github.com/sluice-etl/sluice/sources/csv"
)

// loadSchema is the 9-column shape of the full-refresh benchmark (bench/internal/dataset).
var loadSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "name", Type: etl.TypeText, NotNull: true},
	{Name: "email", Type: etl.TypeText, NotNull: true},
	{Name: "gender", Type: etl.TypeText, NotNull: true},
	{Name: "country", Type: etl.TypeText, NotNull: true},
	{Name: "amount", Type: etl.TypeNumeric, NotNull: true},
	{Name: "created", Type: etl.TypeTimestamp, NotNull: true},
	{Name: "modified", Type: etl.TypeTimestamp, NotNull: true},
	{Name: "deleted", Type: etl.TypeBool, NotNull: true},
}

// loadColumns is the target table of loadSchema as the catalog describes it.
var loadColumns = []targetColumn{
	{Name: "id", Type: "bigint", Receive: "int8recv", Typmod: -1},
	{Name: "name", Type: "text", Receive: "textrecv", Typmod: -1},
	{Name: "email", Type: "text", Receive: "textrecv", Typmod: -1},
	{Name: "gender", Type: "text", Receive: "textrecv", Typmod: -1},
	{Name: "country", Type: "text", Receive: "textrecv", Typmod: -1},
	{Name: "amount", Type: "numeric(12,2)", Receive: "numeric_recv", Typmod: 12<<16 | 2 + 4},
	{Name: "created", Type: "timestamp with time zone", Receive: "timestamptz_recv", Typmod: -1},
	{Name: "modified", Type: "timestamp with time zone", Receive: "timestamptz_recv", Typmod: -1},
	{Name: "deleted", Type: "boolean", Receive: "boolrecv", Typmod: -1},
}

var (
	loadData     []byte
	loadDataOnce sync.Once
)

// loadBenchCSV returns loadCSV(200_000), made once so that profiles show the load alone.
func loadBenchCSV() []byte {
	loadDataOnce.Do(func() { loadData = loadCSV(200_000) })
	return loadData
}

// loadCSV writes rows in the shape and format of bench/internal/dataset: about 110
// bytes a row, one name in 200 quoted, psql's timestamptz text.
func loadCSV(rows int) []byte {
	firsts := []string{"Adaleigh", "Amryn", "Apurva", "Bernardo", "Chen", "Valentina", "Wei"}
	lasts := []string{"Okafor", "Nakamura", "Fernandez", "O'Neil", "Whitfield", "Xu"}
	genders := []string{"F", "M", "Unisex"}
	countries := []string{"Portugal", "Nigeria", "South Korea", "New Zealand", "Egypt"}
	var b []byte
	b = append(b, "id,name,email,gender,country,amount,created,modified,deleted\n"...)
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := 1; i <= rows; i++ {
		h := uint64(i) * 0x9e3779b97f4a7c15
		f, l := firsts[h%7], lasts[(h>>8)%6]
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ',')
		if (h>>16)%200 == 0 {
			b = append(b, '"')
			b = append(b, l+", "+f...)
			b = append(b, '"')
		} else {
			b = append(b, f+" "+l...)
		}
		b = append(b, ',')
		b = append(b, f[:1]...)
		b = append(b, l...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, "@example.com,"...)
		b = append(b, genders[(h>>24)%3]...)
		b = append(b, ',')
		b = append(b, countries[(h>>32)%5]...)
		b = append(b, ',')
		cents := int64(h>>20%11_000_000) - 1_000_000
		if cents < 0 {
			b = append(b, '-')
			cents = -cents
		}
		b = strconv.AppendInt(b, cents/100, 10)
		b = append(b, '.', byte('0'+cents%100/10), byte('0'+cents%10), ',')
		created := t0 + int64(h>>30%(5*365*86400))
		b = time.Unix(created, 0).UTC().AppendFormat(b, "2006-01-02 15:04:05-07")
		b = append(b, ',')
		b = time.Unix(created+int64(h>>40%(365*86400)), 0).UTC().AppendFormat(b, "2006-01-02 15:04:05-07")
		b = append(b, ",f\n"...)
	}
	return b
}

// BenchmarkCSVToCopy is the client's whole share of a CSV bulk load, without the server:
// the CSV source reads the bytes and types the fields, the copy plan encodes each row,
// and the chunks are read as pgconn's CopyFrom reads them. It reports CPU time per row,
// garbage collection included.
func BenchmarkCSVToCopy(b *testing.B) {
	// Lent is what etl.Pipeline asks of the source for a FullRefresh; owned rows are what
	// a pipeline with a transform reads.
	b.Run("lent", func(b *testing.B) { benchCSVToCopy(b, true) })
	b.Run("owned", func(b *testing.B) { benchCSVToCopy(b, false) })
}

func benchCSVToCopy(b *testing.B, lent bool) {
	const rows = 200_000
	data := loadBenchCSV()
	plan, err := planCopy(tableRef{Name: "t"}, loadSchema, loadColumns)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	var sent int64
	for b.Loop() {
		src, err := csv.New(csv.Config{Reader: bytes.NewReader(data), Schema: loadSchema})
		if err != nil {
			b.Fatal(err)
		}
		extract := src.Extract
		if lent {
			extract = src.ExtractLent
		}
		s, err := extract(ctx, etl.NewRun("bench", etl.Window{}))
		if err != nil {
			b.Fatal(err)
		}
		n, err := drainCopy(plan, s)
		if err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows*b.N), "ns/row")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(rows*b.N), "cpu-ns/row")
	b.ReportMetric(float64(sent)/float64(rows*b.N), "B/row-sent")
}

// drainCopy reads s through the copy path's reader 64 KiB at a time, as pgconn's
// CopyFrom does, returning the bytes read.
func drainCopy(p *copyPlan, s etl.Stream) (int64, error) {
	rr := newRowReader(p, s.Rows, origin.New(s))
	buf := make([]byte, 65536)
	var n int64
	var err error
	for {
		var k int
		k, err = rr.Read(buf[5:])
		n += int64(k)
		if err != nil {
			break
		}
	}
	rr.close()
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
