package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

// FuzzNumericTypmod checks the numeric(p,s) overflow check against PostgreSQL's own:
// a value the encoder takes fails the check exactly when the server refuses it with
// "numeric field overflow".
func FuzzNumericTypmod(f *testing.F) {
	for _, s := range []string{"999.99", "999.995", "-999.994", "1000", "0.001", "9.5", "99999", "0.0000", "1e5", "Infinity", "NaN", "5e-3"} {
		f.Add(s, uint16(5), int16(2))
	}
	f.Add("12345", uint16(3), int16(-2))
	f.Add("0.00049", uint16(2), int16(4))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(f))
	if err != nil {
		f.Fatalf("connect: %v", err)
	}
	f.Cleanup(func() { _ = conn.Close(context.Background()) })
	f.Fuzz(func(t *testing.T, s string, precision uint16, scale int16) {
		p, sc := int(precision%60)+1, int(scale%70)
		if len(s) > 200 || hugeExponent(s) || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return
		}
		enc, err := appendNumeric(nil, s)
		if err != nil {
			return
		}
		got := checkNumericTypmod(enc, p, sc)
		var out string
		pgErr := conn.QueryRow(ctx, fmt.Sprintf("SELECT $1::text::numeric(%d,%d)::text", p, sc), s).Scan(&out)
		if pgErr != nil && !strings.Contains(pgErr.Error(), "numeric field overflow") {
			t.Skipf("PostgreSQL refuses %q for another reason: %v", s, pgErr)
		}
		if (got != nil) != (pgErr != nil) {
			t.Fatalf("%q in numeric(%d,%d): check says %v, PostgreSQL says %v (%s)", s, p, sc, got, pgErr, out)
		}
	})
}

// FuzzFloat4 checks text for a real column against float4in: accepted or refused alike,
// and the same bits when accepted.
func FuzzFloat4(f *testing.F) {
	for _, s := range []string{"3.5e38", "1e-50", "1e-40", "7e-46", "3.4028235e38", "3.4028236e38", "-0", " 1.5 ", "NaN", "-inf", "0x1p-2", "1_0",
		"1.000000059604644775390625", "1.0000000596046447753906251", "1.0000000596046447753906249"} {
		f.Add(s)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(f))
	if err != nil {
		f.Fatalf("connect: %v", err)
	}
	f.Cleanup(func() { _ = conn.Close(context.Background()) })
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 200 || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return
		}
		enc, encErr := encodeFloat4(nil, s)
		var want float32
		pgErr := conn.QueryRow(ctx, "SELECT $1::text::float4", s).Scan(&want)
		switch {
		case encErr == nil && pgErr != nil:
			t.Fatalf("%q: the encoder takes it, PostgreSQL refuses it: %v", s, pgErr)
		case encErr == nil:
			got := math.Float32frombits(binary.BigEndian.Uint32(enc))
			if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
				t.Fatalf("%q: encoded %v, PostgreSQL reads %v", s, got, want)
			}
			// The same text read as a double first, as a float64 column of a CSV is: stored
			// as PostgreSQL rounds the text, or refused, never rounded differently.
			if f64, err := parseFloat(s, 64, "double precision"); err == nil {
				if enc64, err := encodeFloat4(nil, f64); err == nil {
					got := math.Float32frombits(binary.BigEndian.Uint32(enc64))
					if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
						t.Fatalf("%q as a double: encoded %v, PostgreSQL reads %v", s, got, want)
					}
				}
			}
		case pgErr == nil && !strings.Contains(strings.ToLower(s), "x") && !strings.Contains(s, "+nan") && !strings.Contains(s, "-nan"):
			// Stricter on purpose only for hexadecimal floats and signed NaN.
			t.Fatalf("%q: the encoder refuses it (%v), PostgreSQL reads %v", s, encErr, want)
		}
	})
}

// checkNumericTypmodDigits is checkNumericTypmod without its shortcut for values that
// need no rounding.
func checkNumericTypmodDigits(b []byte, precision, scale int) error {
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint16(c[6:], math.MaxUint16) // a dscale past any scale
	return checkNumericTypmod(c, precision, scale)
}

// FuzzNumericTypmodShortcut holds checkNumericTypmod's shortcut to its digit-by-digit
// check, without a server.
func FuzzNumericTypmodShortcut(f *testing.F) {
	for _, s := range []string{"999.99", "999.995", "-999.994", "1000", "0.001", "9.5", "99999", "0.0000", "1e5", "5e-3", "0.05", "-12345.67", "1e-20", "123456789012.5"} {
		f.Add(s, uint16(5), int16(2))
	}
	f.Add("12345", uint16(3), int16(-2))
	f.Add("0.00049", uint16(2), int16(4))
	f.Fuzz(func(t *testing.T, s string, precision uint16, scale int16) {
		p, sc := int(precision%60)+1, int(scale%70)
		if len(s) > 200 || hugeExponent(s) {
			return
		}
		enc, err := appendNumeric(nil, s)
		if err != nil {
			return
		}
		got, want := checkNumericTypmod(enc, p, sc), checkNumericTypmodDigits(enc, p, sc)
		if (got != nil) != (want != nil) {
			t.Fatalf("%q in numeric(%d,%d): shortcut says %v, digits say %v", s, p, sc, got, want)
		}
	})
}
