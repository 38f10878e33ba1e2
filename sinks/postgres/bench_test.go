package postgres

import (
	"testing"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// BenchmarkAppendRow encodes the benchmark's 9-column row shape; it must not allocate.
func BenchmarkAppendRow(b *testing.B) {
	schema := etl.Schema{{Name: "id"}, {Name: "name"}, {Name: "email"}, {Name: "gender"}, {Name: "country"},
		{Name: "amount"}, {Name: "created"}, {Name: "modified"}, {Name: "deleted"}}
	p := &copyPlan{table: tableRef{Name: "t"}, columns: schema.Names(), enc: []fieldEncoder{
		encodeInt8, encodeText, encodeText, encodeText, encodeText, encodeNumeric, encodeTimestamptz, encodeTimestamptz, encodeBool,
	}}
	ts := time.Date(2024, 5, 1, 12, 30, 45, 123456000, time.UTC)
	row := etl.Row{int64(1234567), "Adaleigh Smith", "adaleigh.smith@example.com", "F", "Iceland",
		etl.Decimal("12345.67"), ts, ts, false}
	buf := make([]byte, 0, 1<<16)
	b.ReportAllocs()
	b.SetBytes(int64(len(mustRow(b, p, row))))
	for i := 0; b.Loop(); i++ {
		if len(buf) > 1<<15 {
			buf = buf[:0]
		}
		var err error
		if buf, err = p.appendRow(buf, row, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func mustRow(b *testing.B, p *copyPlan, row etl.Row) []byte {
	out, err := p.appendRow(nil, row, 1)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func BenchmarkAppendNumeric(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendNumeric(buf[:0], "-123456789.0123")
	}
}
