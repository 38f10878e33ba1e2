package redshiftcopy

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/etl"
)

// ErrUnsupportedValue is wrapped by a [*ValueError] for a value that Redshift's COPY CSV
// cannot load exactly.
var ErrUnsupportedValue = errors.New("value cannot be staged for Redshift")

// ValueError reports a row value that cannot be written as staged CSV.
type ValueError struct {
	// Row is the 1-based position of the row in the stream.
	Row int64
	// Column is the column's name.
	Column string
	// Type is the column's type.
	Type etl.Type
	// Reason says what is wrong with the value.
	Reason string
}

// Error names the row, the column and the reason.
func (e *ValueError) Error() string {
	return fmt.Sprintf("redshift: row %d, column %q (%s): %s", e.Row, e.Column, e.Type, e.Reason)
}

// Unwrap returns [ErrUnsupportedValue].
func (e *ValueError) Unwrap() error { return ErrUnsupportedValue }

// encoder writes rows as the CSV that the COPY built by [Copy.SQL] reads back exactly:
//
//   - NULL is the unquoted field \N ([NullMarker]); an empty field is never written, so
//     EMPTYASNULL and BLANKSASNULL do not matter.
//   - Text and JSON are always quoted, with quotes doubled, so an empty string is "" and
//     commas, newlines and leading spaces survive. The text \N itself, NUL bytes and
//     invalid UTF-8 are refused: Redshift would read the first as NULL and rejects the
//     others.
//   - Integers and floats in Go's shortest exact form; NaN and infinities are refused.
//   - Numeric as its decimal text, checked to be plain decimal syntax.
//   - Booleans as t and f.
//   - Timestamps in UTC as 2006-01-02 15:04:05.999999+00 (TIMEFORMAT 'auto' reads it and
//     keeps microseconds); dates as 2006-01-02 from their own year, month and day, never
//     after a zone conversion. Years outside 1-9999 are refused.
//   - Bytes are refused: a VARBYTE column would need hex, and a text column would not.
type encoder struct {
	schema etl.Schema
	row    int64
}

func (e *encoder) appendRow(dst []byte, row etl.Row) ([]byte, error) {
	e.row++
	if len(row) != len(e.schema) {
		return dst, fmt.Errorf("redshift: row %d has %d values for %d columns", e.row, len(row), len(e.schema))
	}
	for i, v := range row {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		dst, err = e.appendValue(dst, i, v)
		if err != nil {
			return dst, err
		}
	}
	return append(dst, '\n'), nil
}

func (e *encoder) fail(i int, format string, args ...any) error {
	c := e.schema[i]
	t := c.Type
	if t == 0 {
		t = etl.TypeText
	}
	return &ValueError{Row: e.row, Column: c.Name, Type: t, Reason: fmt.Sprintf(format, args...)}
}

func (e *encoder) appendValue(dst []byte, i int, v any) ([]byte, error) {
	if v == nil {
		return append(dst, NullMarker...), nil
	}
	switch e.schema[i].Type {
	case etl.TypeText, etl.TypeJSON, 0:
		s, ok := v.(string)
		if !ok {
			return dst, e.fail(i, "want string, got %T", v)
		}
		return e.appendText(dst, i, s)
	case etl.TypeInt64:
		switch n := v.(type) {
		case int64:
			return strconv.AppendInt(dst, n, 10), nil
		case int:
			return strconv.AppendInt(dst, int64(n), 10), nil
		case int32:
			return strconv.AppendInt(dst, int64(n), 10), nil
		}
		return dst, e.fail(i, "want int64, got %T", v)
	case etl.TypeFloat64:
		var f float64
		switch n := v.(type) {
		case float64:
			f = n
		case float32:
			f = float64(n)
		default:
			return dst, e.fail(i, "want float64, got %T", v)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return dst, e.fail(i, "%v has no exact form in a Redshift COPY", f)
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
	case etl.TypeNumeric:
		var s string
		switch n := v.(type) {
		case etl.Decimal:
			s = string(n)
		case string:
			s = n
		default:
			return dst, e.fail(i, "want etl.Decimal, got %T", v)
		}
		if !isDecimal(s) {
			return dst, e.fail(i, "%q is not a decimal number", s)
		}
		return append(dst, s...), nil
	case etl.TypeBool:
		b, ok := v.(bool)
		if !ok {
			return dst, e.fail(i, "want bool, got %T", v)
		}
		if b {
			return append(dst, 't'), nil
		}
		return append(dst, 'f'), nil
	case etl.TypeTimestamp, etl.TypeDate:
		t, ok := v.(time.Time)
		if !ok {
			return dst, e.fail(i, "want time.Time, got %T", v)
		}
		if e.schema[i].Type == etl.TypeDate {
			// A date is its own year, month and day: converting it to UTC first would
			// move midnight east of Greenwich to the day before.
			if y := t.Year(); y < 1 || y > 9999 {
				return dst, e.fail(i, "year %d is outside 1-9999", y)
			}
			return t.AppendFormat(dst, time.DateOnly), nil
		}
		// A timestamp is an instant: written in UTC it loads as that instant into
		// TIMESTAMPTZ and as its UTC wall clock into TIMESTAMP.
		t = t.UTC()
		if y := t.Year(); y < 1 || y > 9999 {
			return dst, e.fail(i, "year %d is outside 1-9999", y)
		}
		return t.AppendFormat(dst, "2006-01-02 15:04:05.999999+00"), nil
	case etl.TypeBytes:
		return dst, e.fail(i, "bytes columns are not supported by the Redshift sink")
	}
	return dst, e.fail(i, "unknown column type")
}

func (e *encoder) appendText(dst []byte, i int, s string) ([]byte, error) {
	if s == NullMarker {
		return dst, e.fail(i, "the text %s reads back as NULL in a Redshift COPY", NullMarker)
	}
	if !utf8.ValidString(s) {
		return dst, e.fail(i, "invalid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return dst, e.fail(i, "NUL byte")
	}
	dst = append(dst, '"')
	for {
		j := strings.IndexByte(s, '"')
		if j < 0 {
			break
		}
		dst = append(dst, s[:j+1]...)
		dst = append(dst, '"')
		s = s[j+1:]
	}
	dst = append(dst, s...)
	return append(dst, '"'), nil
}

// isDecimal reports whether s is [+-]digits[.digits] with at least one digit.
func isDecimal(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// WriteCSV writes rows to w in the CSV form that [Stager] stages and [Copy.SQL] reads,
// one line per row, with no header. It returns the rows and bytes written. It is for
// tools and tests that need the staged form without S3.
func WriteCSV(w io.Writer, schema etl.Schema, rows iter.Seq2[etl.Row, error]) (n, size int64, err error) {
	enc := encoder{schema: schema}
	var buf []byte
	for row, err := range rows {
		if err != nil {
			return n, size, err
		}
		if buf, err = enc.appendRow(buf[:0], row); err != nil {
			return n, size, err
		}
		m, err := w.Write(buf)
		size += int64(m)
		if err != nil {
			return n, size, err
		}
		n++
	}
	return n, size, nil
}
