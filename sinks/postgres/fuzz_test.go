package postgres

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

// FuzzNumeric checks the direct decimal encoder against PostgreSQL's own numeric input:
// whatever the encoder accepts, the server must read back from the binary form as the
// same number, with the same scale, that it parses from the text; and whatever the server
// parses, the encoder must accept.
func FuzzNumeric(f *testing.F) {
	for _, s := range []string{"0", "-0.00", "12.50", "1e-20", "-1.5E+3", " 42 ", ".5", "5.", "NaN", "-inf",
		"99999999.99999999", "1000000000000000000000000.0000000000000000000000001", "1e131071", "1e-16383", "0e-16384"} {
		f.Add(s)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(f))
	if err != nil {
		f.Fatalf("connect: %v", err)
	}
	f.Cleanup(func() { _ = conn.Close(context.Background()) })
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2000 || hugeExponent(s) {
			return
		}
		enc, encErr := appendNumeric(nil, s)
		var want string
		var pgErr error
		if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
			pgErr = conn.QueryRow(ctx, "SELECT $1::text::numeric::text", s).Scan(&want)
		} else {
			pgErr = errNumericSyntax
		}
		if encErr != nil {
			if pgErr == nil {
				t.Fatalf("encoder rejects %q (%v), PostgreSQL reads it as %s", s, encErr, want)
			}
			return
		}
		if pgErr != nil {
			t.Fatalf("encoder accepts %q, PostgreSQL rejects it: %v", s, pgErr)
		}
		res := conn.PgConn().ExecParams(ctx, "SELECT $1::numeric::text", [][]byte{enc}, []uint32{1700}, []int16{1}, []int16{0}).Read()
		if res.Err != nil {
			t.Fatalf("PostgreSQL rejects the binary form of %q (% x): %v", s, enc, res.Err)
		}
		if got := string(res.Rows[0][0]); got != want {
			t.Fatalf("%q: binary form reads as %s, text as %s", s, got, want)
		}
	})
}

func isHex(s string) bool {
	return strings.Trim(s, "0123456789abcdef") == ""
}

// hugeExponent reports an exponent beyond numeric's range, which both sides reject but
// the server only after building the number digit by digit.
func hugeExponent(s string) bool {
	i := strings.LastIndexAny(s, "eE")
	if i < 0 {
		return false
	}
	e := strings.TrimLeft(strings.TrimSpace(s[i+1:]), "+-")
	return len(e) > 6
}

// FuzzRunTable checks that per-run table names fit PostgreSQL's 63-byte limit, keep
// valid UTF-8 valid, and differ between runs.
func FuzzRunTable(f *testing.F) {
	f.Add("items", "0123456789abcdef")
	f.Add(strings.Repeat("é", 40), "ab")
	f.Add(`Odd "Table"; DROP`, "ffffffffffffffffffff")
	f.Fuzz(func(t *testing.T, base, runID string) {
		name := runTable(base, runID)
		if len(name) > 63 {
			t.Fatalf("runTable(%q) = %q is %d bytes", base, name, len(name))
		}
		if utf8.ValidString(base) && utf8.ValidString(runID) && !utf8.ValidString(name) {
			t.Fatalf("runTable(%q) = %q is not valid UTF-8", base, name)
		}
		if len(runID) >= 8 && isHex(runID) && runTable(base, "x"+runID) == name && runID[:8] != ("x" + runID)[:8] {
			t.Fatalf("two run IDs give one name %q", name)
		}
	})
}

// FuzzPlainNumeric holds appendNumeric's fast path for plain decimals to the general
// reader: where the fast path takes a text, both must give the same bytes.
func FuzzPlainNumeric(f *testing.F) {
	for _, s := range []string{"0", "1", "-1", "+7", "12345.67", "-12345.67", "10000.5", "12300.00", "100000000", "9999999999999999.99999999",
		"1000000000000000", "0.05", "5.", ".5", "1.000000001", "01.5", "-", "1e5", " 1", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := appendPlainNumeric([]byte("x"), s)
		if !ok {
			if string(fast) != "x" {
				t.Fatalf("%q: the fast path declined but appended % x", s, fast[1:])
			}
			return
		}
		slow, err := appendNumericText([]byte("x"), s)
		if err != nil {
			t.Fatalf("%q: the fast path takes it, the general reader refuses it: %v", s, err)
		}
		if !bytes.Equal(fast, slow) {
			t.Fatalf("%q: fast path % x, general reader % x", s, fast[1:], slow[1:])
		}
	})
}
