package postgres

import (
	"bytes"
	"testing"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// inlinePlan is a plan over one column of each inline kind, with a numeric with and
// without a modifier, and a varchar, which has none.
func inlinePlan(t testing.TB) *copyPlan {
	schema := etl.Schema{{Name: "i"}, {Name: "s"}, {Name: "ts"}, {Name: "t"}, {Name: "b"}, {Name: "n"}, {Name: "n0"}, {Name: "vc"}}
	cols := []targetColumn{
		{Name: "i", Type: "bigint", Receive: "int8recv", Typmod: -1},
		{Name: "s", Type: "text", Receive: "textrecv", Typmod: -1},
		{Name: "ts", Type: "timestamp with time zone", Receive: "timestamptz_recv", Typmod: -1},
		{Name: "t", Type: "timestamp without time zone", Receive: "timestamp_recv", Typmod: -1},
		{Name: "b", Type: "boolean", Receive: "boolrecv", Typmod: -1},
		{Name: "n", Type: "numeric(5,1)", Receive: "numeric_recv", Typmod: 5<<16 | 1 + 4},
		{Name: "n0", Type: "numeric", Receive: "numeric_recv", Typmod: -1},
		{Name: "vc", Type: "varchar(3)", Receive: "varcharrecv", Typmod: 3 + 4},
	}
	p, err := planCopy(tableRef{Name: "t"}, schema, cols)
	if err != nil {
		t.Fatal(err)
	}
	want := []inlineKind{inlineInt8, inlineText, inlineMicros, inlineMicros, inlineBool, inlineNumeric, inlineNumeric, inlineNone}
	for i, k := range want {
		if p.kinds[i] != k {
			t.Fatalf("column %d: kind %d, want %d", i, p.kinds[i], k)
		}
	}
	return p
}

// FuzzInlineKindsMatchEncoders holds appendRow's inline encoding to the column
// encoders: the same bytes, and the same refusals, for any values of the inline types
// (and for values of other types, which must take the encoders' path).
func FuzzInlineKindsMatchEncoders(f *testing.F) {
	f.Add(int64(2), "12345.6", int64(0), int64(0), true, int64(1))
	f.Add(int64(3), "-1.25", int64(0), int64(0), true, int64(1))
	f.Add(int64(4), "9999.95", int64(0), int64(0), true, int64(1))
	f.Add(int64(1), "Adaleigh Okafor", int64(1714566645), int64(123456789), true, int64(-3))
	f.Add(int64(-1<<63), "", int64(-62135596800), int64(0), false, int64(0))
	f.Add(int64(1<<63-1), "nul\x00inside", int64(253402300799), int64(999999999), true, int64(1<<40))
	f.Add(int64(0), "caf\xc3\xa9 \xff", int64(0), int64(500), false, int64(7))
	p := inlinePlan(f)
	general := *p
	general.kinds = nil
	zones := []*time.Location{time.UTC, time.FixedZone("", 9*3600), time.FixedZone("", -(3*3600 + 1800))}
	f.Fuzz(func(t *testing.T, i int64, s string, sec, nsec int64, b bool, other int64) {
		ts := time.Unix(sec, nsec%1e9).In(zones[uint64(other)%3])
		rows := []etl.Row{
			{i, s, ts, ts, b, etl.Decimal(s), etl.Decimal(s), s},
			{i, s, ts, ts, b, etl.Decimal("1234.5"), etl.Decimal("-12345678901234567.5"), "abc"},
			{nil, nil, nil, nil, nil, nil, nil, nil},
			// Other types than the inline ones go to the encoders either way.
			{int(other), []byte(s), s, etl.Decimal(s), s, other, s, etl.Decimal(s)},
		}
		for _, row := range rows {
			got, gotErr := p.appendRow([]byte("x"), row, 7)
			want, wantErr := general.appendRow([]byte("x"), row, 7)
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("%v: inline error %v, encoders' %v", row, gotErr, wantErr)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%v: inline % x, encoders % x", row, got, want)
			}
		}
	})
}
