package sqlite

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/textvalue"
)

// TimestampLayout is how timestamps are stored: RFC 3339 in UTC with exactly nine
// fractional digits, so that text order is time order and every value reads back exactly.
const TimestampLayout = "2006-01-02T15:04:05.000000000Z"

// DateLayout is how dates are stored.
const DateLayout = "2006-01-02"

func formatTimestamp(t time.Time) string { return t.UTC().Format(TimestampLayout) }

// formatDate stores the date's calendar day in its own location: a date carries no time
// of day, so shifting it to UTC could change the day.
func formatDate(t time.Time) string { return t.Format(DateLayout) }

// ErrValue is wrapped by the error for a row value that does not fit its column's type.
var ErrValue = errors.New("value does not fit the column type")

// ValueError reports a row value that could not be stored.
type ValueError struct {
	// Table is the target table.
	Table string
	// Row is the 1-based position of the row in the stream.
	Row int64
	// Source and Line say where the row came from, when the stream says so (see
	// [etl.Stream.Position]): the input's name and the line its record starts on.
	Source string
	Line   int64
	// Column is the column's name.
	Column string
	// Value is the refused value as text, cut to at most 64 bytes.
	Value string
	// Err says what was wrong.
	Err error
}

// Error implements the error interface.
func (e *ValueError) Error() string {
	loc := ""
	if e.Source != "" {
		loc = fmt.Sprintf("%s: line %d: ", e.Source, e.Line)
	}
	msg := e.Err.Error()
	if q := strconv.Quote(e.Value); e.Value != "" && !strings.Contains(msg, q) {
		msg += " (value " + q + ")"
	}
	return fmt.Sprintf("%stable %s: row %d: column %q: %s", loc, e.Table, e.Row, e.Column, msg)
}

// clipValue formats v for an error, cut to 64 bytes on a character boundary.
func clipValue(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	case etl.Decimal:
		s = string(x)
	case time.Time:
		s = x.Format(time.RFC3339Nano)
	default:
		s = fmt.Sprint(v)
	}
	if len(s) <= 64 {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Unwrap returns the underlying error.
func (e *ValueError) Unwrap() error { return e.Err }

// encodeValue converts one row value of a column of type t to what SQLite stores. It takes
// the values of the table in etl's package documentation, plus a few lossless extras
// (other integer widths, a string for a numeric or a timestamp).
func encodeValue(t etl.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	case etl.TypeInt64:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case int32:
			return int64(x), nil
		case int16:
			return int64(x), nil
		case int8:
			return int64(x), nil
		case uint32:
			return int64(x), nil
		case uint16:
			return int64(x), nil
		case uint8:
			return int64(x), nil
		case uint64:
			if x > math.MaxInt64 {
				return nil, fmt.Errorf("%w: %d overflows int64", ErrValue, x)
			}
			return int64(x), nil
		}
	case etl.TypeFloat64:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		default:
			return nil, fmt.Errorf("%w: %s column got %T", ErrValue, t, v)
		}
		if math.IsNaN(f) {
			return nil, fmt.Errorf("%w: SQLite cannot store NaN (it would become NULL)", ErrValue)
		}
		return f, nil
	case etl.TypeNumeric:
		var s string
		switch x := v.(type) {
		case etl.Decimal:
			s = string(x)
		case string:
			s = x
		case int64:
			return strconv.FormatInt(x, 10), nil
		case int:
			return strconv.Itoa(x), nil
		default:
			return nil, fmt.Errorf("%w: numeric takes etl.Decimal, got %T", ErrValue, v)
		}
		if !validDecimal(s) {
			return nil, fmt.Errorf("%w: %q is not a decimal number", ErrValue, s)
		}
		return s, nil
	case etl.TypeBool:
		if x, ok := v.(bool); ok {
			return boolInt(x), nil
		}
	case etl.TypeTimestamp, etl.TypeDate:
		var tm time.Time
		switch x := v.(type) {
		case time.Time:
			tm = x
		case string:
			layout := time.RFC3339Nano
			if t == etl.TypeDate {
				layout = DateLayout
			}
			var err error
			if tm, err = time.Parse(layout, x); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrValue, err)
			}
			if n := fractionDigits(x); n > 9 {
				// time.Parse drops the digits past the nanosecond without a word.
				return nil, fmt.Errorf("%w: %d digits of a second are finer than the nanoseconds a timestamp keeps", ErrValue, n)
			}
		default:
			return nil, fmt.Errorf("%w: %s column got %T", ErrValue, t, v)
		}
		if t == etl.TypeDate {
			// A date is its own calendar day, so its own year counts, not its UTC one.
			if y := tm.Year(); y < 0 || y > 9999 {
				return nil, fmt.Errorf("%w: %s is outside years 0000-9999, which the stored text form needs to sort", ErrValue, tm)
			}
			return formatDate(tm), nil
		}
		if y := tm.UTC().Year(); y < 0 || y > 9999 || tm.Year() < 0 || tm.Year() > 9999 {
			return nil, fmt.Errorf("%w: %s is outside years 0000-9999, which the stored text form needs to sort", ErrValue, tm)
		}
		return formatTimestamp(tm), nil
	case etl.TypeBytes:
		switch x := v.(type) {
		case []byte:
			if x == nil { // database/sql scans an empty BLOB as a nil slice
				x = []byte{}
			}
			return x, nil
		case string:
			return []byte(x), nil
		}
	default: // text, JSON and an unset type
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			if !utf8.Valid(x) {
				return nil, fmt.Errorf("%w: bytes for a text column are not UTF-8", ErrValue)
			}
			return string(x), nil
		}
	}
	return nil, fmt.Errorf("%w: %s column got %T", ErrValue, t, v)
}

// fractionDigits returns how many digits of a second an RFC 3339 text gives, trailing
// zeros aside: those after the '.' or ',' that follows its seconds.
func fractionDigits(s string) int {
	const secondsEnd = len("2006-01-02T15:04:05")
	if len(s) <= secondsEnd || (s[secondsEnd] != '.' && s[secondsEnd] != ',') {
		return 0
	}
	end := secondsEnd + 1
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	return len(strings.TrimRight(s[secondsEnd+1:end], "0"))
}

// validDecimal reports whether s is a decimal number as PostgreSQL's numeric accepts it:
// optional sign, digits with an optional point, optional exponent; or NaN, Infinity.
func validDecimal(s string) bool {
	switch s {
	case "NaN", "Infinity", "-Infinity", "+Infinity":
		return true
	}
	return textvalue.FloatSyntax(s)
}

// Decode turns a value read back from a column this package wrote (through database/sql
// or a query) into the etl value of type t: the inverse of the storage encoding. NULL
// (nil) stays nil.
func Decode(t etl.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if tm, ok := v.(time.Time); ok { // a column the user declared DATETIME
		v = formatTimestamp(tm)
	}
	switch t {
	case etl.TypeInt64:
		if x, ok := v.(int64); ok {
			return x, nil
		}
	case etl.TypeFloat64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64: // REAL affinity stores whole numbers as integers on disk, not in results
			return float64(x), nil
		}
	case etl.TypeNumeric:
		switch x := v.(type) {
		case string:
			return etl.Decimal(x), nil
		case int64:
			return etl.Decimal(strconv.FormatInt(x, 10)), nil
		}
	case etl.TypeBool:
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case bool:
			return x, nil
		}
	case etl.TypeTimestamp:
		if x, ok := v.(string); ok {
			return time.Parse(time.RFC3339Nano, x)
		}
	case etl.TypeDate:
		if x, ok := v.(string); ok {
			return time.Parse(DateLayout, x)
		}
	case etl.TypeBytes:
		switch x := v.(type) {
		case []byte:
			if x == nil { // database/sql scans an empty BLOB as a nil slice
				x = []byte{}
			}
			return x, nil
		case string:
			return []byte(x), nil
		}
	default:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	}
	return nil, fmt.Errorf("sqlite: cannot decode %T as %s", v, t)
}
