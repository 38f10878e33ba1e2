package httpjson

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/textvalue"
)

// A JSON value becomes a column's value exactly or not at all. Strings are read by
// internal/textvalue's rules, as sources/csv reads its fields, so a timestamp, a date, a numeric or a boolean in a string means
// the same here as in a CSV field. Numbers are read from their text, never through
// float64, so a 19-digit ID keeps its digits.

// invalid builds the error for a value that does not convert, quoting at most 64 bytes
// of it so that a runaway value does not flood the log.
func invalid(t etl.Type, s string, why string) error {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	if why != "" {
		return fmt.Errorf("%w for %s: %q (%s)", ErrInvalidValue, t, s, why)
	}
	return fmt.Errorf("%w for %s: %q", ErrInvalidValue, t, s)
}

// errSurrogate is the cause for a string that escapes half of a UTF-16 surrogate pair:
// it names no character, so no text column can hold it.
var errSurrogate = fmt.Errorf("%w: an escaped UTF-16 surrogate without its pair", ErrInvalidUTF8)

// fromString converts a JSON string's decoded bytes.
func fromString(t etl.Type, b []byte, surrogate bool) (any, error) {
	if surrogate {
		return nil, errSurrogate
	}
	if t == etl.TypeText {
		if !utf8.Valid(b) {
			return nil, ErrInvalidUTF8
		}
		return string(b), nil
	}
	return textvalue.Parse(t, string(b))
}

// fromNumber converts a JSON number's text, which follows the JSON grammar.
func fromNumber(t etl.Type, lit []byte) (any, error) {
	switch t {
	case etl.TypeText:
		return string(lit), nil
	case etl.TypeInt64:
		if isInteger(lit) {
			n, err := strconv.ParseInt(string(lit), 10, 64)
			if err == nil {
				return n, nil
			}
			return nil, invalid(t, string(lit), "out of range")
		}
		return nil, invalid(t, string(lit), "not an integer")
	case etl.TypeFloat64:
		f, err := strconv.ParseFloat(string(lit), 64)
		if err != nil || (f == 0 && !zeroMantissa(lit)) {
			// PostgreSQL refuses a value that overflows, or underflows to zero, rather
			// than storing Inf or 0.
			return nil, invalid(t, string(lit), "out of range")
		}
		return f, nil
	case etl.TypeNumeric:
		d, ok := plainDecimal(lit)
		if !ok {
			return nil, invalid(t, string(lit), fmt.Sprintf("more than %d digits written out", maxDecimalDigits))
		}
		return etl.Decimal(d), nil
	case etl.TypeBool:
		switch string(lit) {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
		return nil, invalid(t, string(lit), "")
	case etl.TypeTimestamp, etl.TypeDate:
		return nil, invalid(t, string(lit), "a number; timestamps and dates are read from strings")
	}
	return nil, invalid(t, string(lit), "a number")
}

// fromBool converts true or false.
func fromBool(t etl.Type, v bool) (any, error) {
	switch t {
	case etl.TypeBool:
		return v, nil
	case etl.TypeText:
		return strconv.FormatBool(v), nil
	}
	return nil, invalid(t, strconv.FormatBool(v), "a boolean")
}

// isInteger reports a number without a fraction or an exponent.
func isInteger(lit []byte) bool {
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// zeroMantissa reports a number whose digits before the exponent are all zero.
func zeroMantissa(lit []byte) bool {
	for _, c := range lit {
		switch {
		case c == 'e' || c == 'E':
			return true
		case c >= '1' && c <= '9':
			return false
		}
	}
	return true
}

// maxDecimalDigits bounds the digits of a numeric written out from an exponent, so that
// 1e1000000 fails instead of allocating a megabyte. PostgreSQL's numeric holds more, but
// no column a sink creates does.
const maxDecimalDigits = 1000

// plainDecimal writes a JSON number as a decimal without an exponent, exactly:
// "1.5e3" is "1500", "2.50E-2" is "0.0250". It keeps the scale PostgreSQL's numeric input
// gives the same text (fraction digits minus the exponent, at least 0). A number without
// an exponent is returned as written. ok is false when the result would have more than
// maxDecimalDigits digits.
func plainDecimal(lit []byte) (string, bool) {
	e := -1
	for i, c := range lit {
		if c == 'e' || c == 'E' {
			e = i
			break
		}
	}
	if e < 0 {
		return string(lit), len(lit) <= maxDecimalDigits+2
	}
	mant, expText := lit[:e], string(lit[e+1:])
	exp, err := strconv.Atoi(strings.TrimPrefix(expText, "+"))
	if err != nil || exp > maxDecimalDigits || exp < -maxDecimalDigits {
		// An exponent that does not fit an int is out of range for any column too.
		return "", false
	}
	neg := false
	if mant[0] == '-' {
		neg, mant = true, mant[1:]
	}
	intPart, frac := mant, []byte(nil)
	if dot := strings.IndexByte(string(mant), '.'); dot >= 0 {
		intPart, frac = mant[:dot], mant[dot+1:]
	}
	digits := string(intPart) + string(frac)
	point := len(intPart) + exp // digits before the point
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case point <= 0:
		if len(digits)-point > maxDecimalDigits {
			return "", false
		}
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -point))
		b.WriteString(digits)
	case point >= len(digits):
		if point > maxDecimalDigits {
			return "", false
		}
		whole := strings.TrimLeft(digits, "0") + strings.Repeat("0", point-len(digits))
		if strings.Trim(whole, "0") == "" {
			whole = "0"
		}
		b.WriteString(whole)
	default:
		whole := strings.TrimLeft(digits[:point], "0")
		if whole == "" {
			whole = "0"
		}
		b.WriteString(whole)
		b.WriteByte('.')
		b.WriteString(digits[point:])
	}
	return b.String(), true
}

// notObjectError says that a field's path runs through a value that is not an object.
func notObjectError(k kind) error {
	return fmt.Errorf("%w: %s", ErrNotObject, k)
}

// wrongKind is the error for an object or array bound for a scalar column.
func wrongKind(t etl.Type, k kind) error {
	return fmt.Errorf("%w for %s: %s (read it into a json column)", ErrInvalidValue, t, k)
}
