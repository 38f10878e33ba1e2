package csv_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/csv"
)

var fuzzSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "name", Type: etl.TypeText},
	{Name: "amount", Type: etl.TypeNumeric},
	{Name: "ts", Type: etl.TypeTimestamp},
	{Name: "ok", Type: etl.TypeBool},
}

// FuzzSource feeds arbitrary bytes to a Source. It must never panic; every error must be
// a *ParseError that names the input and a line; every row must fit the schema; and no
// more rows may be rejected than allowed.
func FuzzSource(f *testing.F) {
	f.Add([]byte("1,a,1.50,2024-06-01 12:00:00+02,t\n"), true, uint8(0), uint8(0))
	f.Add([]byte("\ufeffid,name,amount,ts,ok\r\n1,\"a,\"\"b\"\"\n\",1,2024-06-01T12:00:00Z,yes\r\n\r\n"), false, uint8(0), uint8(0))
	f.Add([]byte("1,a\n2,b,3,2024-06-01 00:00:00,f\n"), true, uint8(2), uint8(0))
	f.Add([]byte("1,\"unterminated\n2,b,3,,\n"), true, uint8(5), uint8(0))
	f.Add([]byte("ID,Name,AMOUNT,ts,ok,extra\n1,x,2,,t,z\n"), false, uint8(0), uint8(3))
	f.Add([]byte("1,\xff,1,,t\n"), true, uint8(1), uint8(0))
	f.Add(gzipped(f, "id,name,amount,ts,ok\n1,a,1,,t\n"), false, uint8(0), uint8(0))
	f.Add([]byte("1,'a,''b''\r\nc',1.5,,t\n2,\"x\\\"y\"\n"), true, uint8(1), uint8(16|32|64))
	f.Add([]byte("1;\"a\";1,5;;t\n"), true, uint8(0), uint8(128))
	f.Add([]byte("1,Jos\xe9,1,,t\n2,\x81,1,,f\n"), true, uint8(1), uint8(128|64))
	f.Fuzz(func(t *testing.T, data []byte, withHeader bool, maxBad, flags uint8) {
		comma := rune(',')
		if flags&128 != 0 {
			comma = ';'
		}
		if withHeader {
			data = append([]byte(strings.ReplaceAll("id,name,amount,ts,ok\n", ",", string(comma))), data...)
		}
		var quote, escape rune
		if flags&16 != 0 {
			quote = '\''
		}
		if flags&32 != 0 {
			escape = '\\'
		}
		var enc encoding.Encoding
		if flags&(128|64) == 128|64 {
			enc = charmap.Windows1252
		}
		src, err := csv.New(csv.Config{
			Comma:           comma,
			Quote:           quote,
			Escape:          escape,
			DecimalComma:    flags&128 != 0,
			FillShortRows:   flags&64 != 0,
			Encoding:        enc,
			Reader:          bytes.NewReader(data),
			Name:            "fuzz.csv",
			Schema:          fuzzSchema,
			MaxBadRows:      int(maxBad % 4),
			CaseInsensitive: flags&1 != 0,
			IgnoreExtra:     flags&2 != 0,
			NullText:        flags&4 != 0,
			NoHeader:        flags&8 != 0,
		})
		if err != nil {
			t.Fatal(err)
		}
		run := etl.NewRun("fuzz", etl.Window{})
		s, err := src.Extract(context.Background(), run)
		if err != nil {
			t.Fatal(err)
		}
		for row, err := range s.Rows {
			if err != nil {
				var pe *csv.ParseError
				if !asParseError(err, &pe) || pe.Line < 1 || pe.File != "fuzz.csv" {
					t.Fatalf("error without a file and line: %v", err)
				}
				break
			}
			if len(row) != len(fuzzSchema) {
				t.Fatalf("row has %d values, schema %d", len(row), len(fuzzSchema))
			}
			checkTypes(t, row)
		}
		if n := run.Stats().RowsRejected; n > int64(maxBad%4) {
			t.Fatalf("%d rows rejected, limit %d", n, maxBad%4)
		}
		for _, r := range run.Rejects() {
			if r.Line < 1 || r.Source != "fuzz.csv" || r.Err == nil {
				t.Fatalf("reject without a line: %+v", r)
			}
		}
	})
}

func asParseError(err error, pe **csv.ParseError) bool {
	for err != nil {
		if p, ok := err.(*csv.ParseError); ok {
			*pe = p
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if asParseError(e, pe) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

func checkTypes(t *testing.T, row etl.Row) {
	t.Helper()
	if _, ok := row[0].(int64); !ok {
		t.Fatalf("id is %T, and NOT NULL", row[0])
	}
	ok := true
	switch v := row[1].(type) {
	case string, nil:
	default:
		ok = v == nil
	}
	switch row[2].(type) {
	case etl.Decimal, nil:
	default:
		ok = false
	}
	switch row[3].(type) {
	case time.Time, nil:
	default:
		ok = false
	}
	switch row[4].(type) {
	case bool, nil:
	default:
		ok = false
	}
	if !ok {
		t.Fatalf("row of the wrong types: %#v", row)
	}
}
