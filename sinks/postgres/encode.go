package postgres

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
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

// A fieldEncoder appends one non-NULL value in PostgreSQL's binary format for one column
// type. It never allocates for the values sources produce.
type fieldEncoder func(buf []byte, v any) ([]byte, error)

// encoders maps a type's binary receive function (pg_type.typreceive) to its encoder, so
// domains, enums and extension types that reuse a built-in wire format work too.
var encoders = map[string]fieldEncoder{
	"int8recv":         encodeInt8,
	"int4recv":         encodeInt4,
	"int2recv":         encodeInt2,
	"float8recv":       encodeFloat8,
	"float4recv":       encodeFloat4,
	"numeric_recv":     encodeNumeric,
	"boolrecv":         encodeBool,
	"timestamptz_recv": encodeTimestamptz,
	"timestamp_recv":   encodeTimestamp,
	"date_recv":        encodeDate,
	"bytearecv":        encodeBytea,
	"textrecv":         encodeText,
	"varcharrecv":      encodeText,
	"bpcharrecv":       encodeText,
	"namerecv":         encodeText,
	"enum_recv":        encodeText,
	"citextrecv":       encodeText,
	"json_recv":        encodeJSON,
	"jsonb_recv":       encodeJSONB,
	"uuid_recv":        encodeUUID,
}

// errType is wrapped by every error about a value of the wrong Go type for its column.
func errType(v any, want string) error {
	return fmt.Errorf("cannot store a %T in a %s column", v, want)
}

func encodeInt8(buf []byte, v any) ([]byte, error) {
	n, err := toInt(v, math.MinInt64, math.MaxInt64, "bigint")
	if err != nil {
		return buf, err
	}
	return binary.BigEndian.AppendUint64(buf, uint64(n)), nil
}

func encodeInt4(buf []byte, v any) ([]byte, error) {
	n, err := toInt(v, math.MinInt32, math.MaxInt32, "integer")
	if err != nil {
		return buf, err
	}
	return binary.BigEndian.AppendUint32(buf, uint32(int32(n))), nil
}

func encodeInt2(buf []byte, v any) ([]byte, error) {
	n, err := toInt(v, math.MinInt16, math.MaxInt16, "smallint")
	if err != nil {
		return buf, err
	}
	return binary.BigEndian.AppendUint16(buf, uint16(int16(n))), nil
}

func toInt(v any, lo, hi int64, typ string) (int64, error) {
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case int16:
		n = int64(x)
	case int8:
		n = int64(x)
	case uint32:
		n = int64(x)
	case uint16:
		n = int64(x)
	case uint8:
		n = int64(x)
	case string:
		p, err := strconv.ParseInt(trimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid %s %q", typ, x)
		}
		n = p
	case etl.Decimal:
		p, err := strconv.ParseInt(trimSpace(string(x)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid %s %q", typ, string(x))
		}
		n = p
	default:
		return 0, errType(v, typ)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range for %s", n, typ)
	}
	return n, nil
}

func encodeFloat8(buf []byte, v any) ([]byte, error) {
	f, err := toFloat(v, 64, "double precision")
	if err != nil {
		return buf, err
	}
	return binary.BigEndian.AppendUint64(buf, math.Float64bits(f)), nil
}

// encodeFloat4 stores a value in a real column as PostgreSQL's own input and casts do:
// a finite value beyond real's range, or a non-zero one so small that it would round to
// zero, is refused, not stored as Infinity or 0. Text is read straight to single
// precision, so it is rounded once, as float4in rounds it.
func encodeFloat4(buf []byte, v any) ([]byte, error) {
	f, err := toFloat(v, 32, "real")
	if err != nil {
		return buf, err
	}
	f32 := float32(f)
	switch {
	case math.IsInf(float64(f32), 0) && !math.IsInf(f, 0):
		return buf, errors.New("value out of range for type real (overflow)")
	case f32 == 0 && f != 0:
		return buf, errors.New("value out of range for type real (underflow)")
	case halfwayReal(f, f32):
		// The double lies exactly between two reals. The text it came from, which
		// PostgreSQL would round once, may have been on either side; rounding the double
		// again could pick the other real.
		return buf, errors.New("value lies exactly halfway between two values of type real, so rounding it again may differ from PostgreSQL's rounding of its text; load the column as numeric or text to round it once")
	}
	return binary.BigEndian.AppendUint32(buf, math.Float32bits(f32)), nil
}

// halfwayReal reports whether f, a double whose nearest real is f32, lies exactly halfway
// between f32 and its neighbour.
func halfwayReal(f float64, f32 float32) bool {
	g := float64(f32)
	if g == f || math.IsInf(g, 0) || math.IsNaN(f) {
		return false
	}
	toward := float32(math.Inf(1))
	if f < g {
		toward = float32(math.Inf(-1))
	}
	next := float64(math.Nextafter32(f32, toward))
	return f == (g+next)/2 // exact: both are reals, so their sum fits a double
}

func toFloat(v any, bits int, typ string) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int:
		return float64(x), nil
	case string:
		return parseFloat(x, bits, typ)
	case etl.Decimal:
		return parseFloat(string(x), bits, typ)
	}
	return 0, errType(v, typ)
}

// parseFloat reads text as PostgreSQL's float4in and float8in do, in their documented
// forms: surrounding whitespace, a decimal number with an optional exponent, NaN, and
// [+-]Infinity or inf, in any case. Hexadecimal floats and digit separators, which
// strconv takes, are refused; so is a value that overflows, or a non-zero one that
// rounds to zero, as PostgreSQL refuses them.
func parseFloat(s string, bits int, typ string) (float64, error) {
	t := trimSpace(s)
	if !textvalue.FloatSyntax(t) {
		u := strings.TrimLeft(t, "+-")
		switch {
		case strings.EqualFold(u, "nan") && len(u) == len(t):
			return math.NaN(), nil
		case strings.EqualFold(u, "infinity") || strings.EqualFold(u, "inf"):
			if len(t)-len(u) > 1 {
				break
			}
			if t[0] == '-' {
				return math.Inf(-1), nil
			}
			return math.Inf(1), nil
		}
		return 0, fmt.Errorf("invalid input syntax for type %s: %q", typ, s)
	}
	f, err := strconv.ParseFloat(t, bits)
	if err != nil || (f == 0 && textvalue.NonZeroMantissa(t)) {
		return 0, fmt.Errorf("%q is out of range for type %s", s, typ)
	}
	return f, nil
}

func encodeNumeric(buf []byte, v any) ([]byte, error) {
	var s string
	switch x := v.(type) {
	case etl.Decimal:
		s = string(x)
	case string:
		s = x
	case int64:
		var tmp [20]byte
		return appendNumericChecked(buf, string(strconv.AppendInt(tmp[:0], x, 10)))
	case int:
		var tmp [20]byte
		return appendNumericChecked(buf, string(strconv.AppendInt(tmp[:0], int64(x), 10)))
	case float64:
		// The shortest text that reads back as the same float64: what a person sees.
		var tmp [32]byte
		switch {
		case math.IsNaN(x):
			return appendNumericSpecial(buf, numericNaN), nil
		case math.IsInf(x, 1):
			return appendNumericSpecial(buf, numericPInf), nil
		case math.IsInf(x, -1):
			return appendNumericSpecial(buf, numericNInf), nil
		}
		return appendNumericChecked(buf, string(strconv.AppendFloat(tmp[:0], x, 'f', -1, 64)))
	default:
		return buf, errType(v, "numeric")
	}
	return appendNumericChecked(buf, s)
}

func appendNumericChecked(buf []byte, s string) ([]byte, error) {
	out, err := appendNumeric(buf, s)
	if err != nil {
		return buf, fmt.Errorf("%w: %q", err, s)
	}
	return out, nil
}

func encodeBool(buf []byte, v any) ([]byte, error) {
	var b bool
	switch x := v.(type) {
	case bool:
		b = x
	case string:
		p, ok := parseBool(x)
		if !ok {
			return buf, fmt.Errorf("invalid boolean %q", x)
		}
		b = p
	default:
		return buf, errType(v, "boolean")
	}
	if b {
		return append(buf, 1), nil
	}
	return append(buf, 0), nil
}

// parseBool accepts what PostgreSQL's boolean input accepts.
func parseBool(s string) (bool, bool) {
	switch trimSpace(s) {
	case "t", "true", "y", "yes", "on", "1", "T", "TRUE", "True", "Y", "YES", "Yes", "ON", "On":
		return true, true
	case "f", "false", "n", "no", "off", "0", "F", "FALSE", "False", "N", "NO", "No", "OFF", "Off":
		return false, true
	}
	return false, false
}

// pgEpoch is PostgreSQL's timestamp epoch, 2000-01-01 00:00:00 UTC, in Unix seconds.
const pgEpochUnix = 946684800

// micros returns t as microseconds since PostgreSQL's epoch, rounding a sub-microsecond
// remainder as PostgreSQL's text input does: it reads the fraction as a double and
// rounds fraction*1e6 half to even (rint), so 00:00:00.0000005 is 00:00:00 and
// 00:00:00.0000015 is 00:00:00.000002. The same arithmetic here gives the same
// microsecond for every fraction of up to nine digits.
func micros(t time.Time) int64 {
	ns := t.Nanosecond()
	us := int64(ns / 1000)
	if ns%1000 != 0 {
		us = int64(math.RoundToEven(float64(ns) / 1e9 * 1e6))
	}
	return (t.Unix()-pgEpochUnix)*1_000_000 + us
}

func encodeTimestamptz(buf []byte, v any) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return buf, errType(v, "timestamptz")
	}
	return binary.BigEndian.AppendUint64(buf, uint64(micros(t))), nil
}

// encodeTimestamp stores t in a timestamp without time zone as its UTC wall-clock time,
// the rule every sink follows (see package sinks): 2026-02-28 12:00:00+09 is stored as
// 2026-02-28 03:00:00, and a value read without an offset (so as UTC) as written. The
// binary form of both timestamp types is microseconds since 2000-01-01 00:00:00, so this
// is the instant's own count.
func encodeTimestamp(buf []byte, v any) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return buf, errType(v, "timestamp")
	}
	return binary.BigEndian.AppendUint64(buf, uint64(micros(t))), nil
}

// encodeDate stores the calendar date of t in t's own location, never shifted by its zone
// into another day: PostgreSQL's date input reads '2026-03-01 00:00:00+09' as 2026-03-01
// too (TestDateIsTheWallClockDateOfItsZone).
func encodeDate(buf []byte, v any) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return buf, errType(v, "date")
	}
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	days := (d.Unix() - pgEpochUnix) / 86400
	if days < math.MinInt32 || days > math.MaxInt32 {
		return buf, fmt.Errorf("date %s is out of range", t.Format(time.DateOnly))
	}
	return binary.BigEndian.AppendUint32(buf, uint32(int32(days))), nil
}

func encodeBytea(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return append(buf, x...), nil
	case string:
		return append(buf, x...), nil
	}
	return buf, errType(v, "bytea")
}

// errNUL is the error for text holding a NUL byte, which PostgreSQL's text types cannot
// store. It is caught here, where the value is at hand for the error, rather than left to
// the server, whose error names neither.
var errNUL = errors.New("text holds a NUL byte (0x00), which PostgreSQL cannot store")

// encodeText sends text as is; the server checks that it is valid in its encoding, so
// a bad value fails the COPY with the server's message. Numbers and booleans are
// formatted, for a text column fed by a typed source.
func encodeText(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			return buf, errNUL
		}
		return append(buf, x...), nil
	case []byte:
		if bytes.IndexByte(x, 0) >= 0 {
			return buf, errNUL
		}
		return append(buf, x...), nil
	case etl.Decimal:
		return append(buf, x...), nil
	case json.RawMessage:
		if bytes.IndexByte(x, 0) >= 0 {
			return buf, errNUL
		}
		return append(buf, x...), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case float64:
		return strconv.AppendFloat(buf, x, 'g', -1, 64), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case time.Time:
		return x.AppendFormat(buf, time.RFC3339Nano), nil
	}
	return buf, errType(v, "text")
}

// encodeJSON sends JSON text, refusing text that is not JSON here, where the value is at
// hand for the error.
func encodeJSON(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		if !json.Valid([]byte(x)) {
			return buf, errors.New("invalid input syntax for type json")
		}
	case []byte:
		if !json.Valid(x) {
			return buf, errors.New("invalid input syntax for type json")
		}
	case json.RawMessage:
		if !json.Valid(x) {
			return buf, errors.New("invalid input syntax for type json")
		}
	}
	return encodeText(buf, v) // numbers and booleans are JSON as formatted
}

// encodeJSONB prefixes the JSON text with jsonb's binary format version, 1.
func encodeJSONB(buf []byte, v any) ([]byte, error) {
	switch v.(type) {
	case string, []byte, json.RawMessage:
	default:
		return buf, errType(v, "jsonb")
	}
	out, err := encodeJSON(append(buf, 1), v)
	if err != nil {
		return buf, err
	}
	return out, nil
}

// withTypmod adds the checks a column's type modifier asks for to enc: the length of a
// varchar(n) or char(n), the precision of a numeric(p,s). PostgreSQL's receive functions
// apply them too; checking here names the value in the error, which the server's error
// does not.
func withTypmod(enc fieldEncoder, c targetColumn) fieldEncoder {
	if c.Typmod < 4 { // VARHDRSZ: no modifier
		return enc
	}
	switch c.Receive {
	case "varcharrecv", "bpcharrecv":
		n := int(c.Typmod - 4)
		typ := "character varying"
		if c.Receive == "bpcharrecv" {
			typ = "character"
		}
		return func(buf []byte, v any) ([]byte, error) {
			at := len(buf)
			out, err := enc(buf, v)
			if err != nil || len(out)-at <= n {
				return out, err
			}
			if err := checkLength(out[at:], n, typ); err != nil {
				return buf, err
			}
			return out, nil
		}
	case "numeric_recv":
		precision, scale := numericTypmod(c.Typmod)
		return func(buf []byte, v any) ([]byte, error) {
			at := len(buf)
			out, err := enc(buf, v)
			if err != nil {
				return out, err
			}
			if err := checkNumericTypmod(out[at:], precision, scale); err != nil {
				return buf, err
			}
			return out, nil
		}
	}
	return enc
}

// numericTypmod returns the precision and scale of numeric's type modifier, which is at
// least 4 (VARHDRSZ). The scale may be negative, or above the precision.
func numericTypmod(typmod int32) (precision, scale int) {
	t := typmod - 4
	return int(t >> 16 & 0xffff), int((t&0x7ff)^1024) - 1024
}

// checkLength refuses text of more than n characters, as varchar(n) and char(n) input
// does; spaces past the limit are allowed, since PostgreSQL drops them.
func checkLength(b []byte, n int, typ string) error {
	i, chars := 0, 0
	for i < len(b) && chars < n {
		_, size := utf8.DecodeRune(b[i:])
		i += size
		chars++
	}
	for ; i < len(b); i++ {
		if b[i] != ' ' {
			return fmt.Errorf("value too long for type %s(%d)", typ, n)
		}
	}
	return nil
}

// checkNumericTypmod refuses a binary numeric that numeric(precision, scale) cannot hold
// once rounded to scale, as PostgreSQL's apply_typmod does: numeric field overflow.
func checkNumericTypmod(b []byte, precision, scale int) error {
	ndigits := int(int16(binary.BigEndian.Uint16(b)))
	weight := int(int16(binary.BigEndian.Uint16(b[2:])))
	sign := binary.BigEndian.Uint16(b[4:])
	maxDigits := precision - scale
	if dscale := int(binary.BigEndian.Uint16(b[6:])); ndigits > 0 && binary.BigEndian.Uint16(b[8:]) != 0 && (sign == numericPos || sign == numericNeg) && dscale <= scale {
		// No digit lies past the scale, so nothing rounds: the value fits when its first
		// digit's place is below maxDigits. FuzzNumericTypmodShortcut holds this to the
		// digit-by-digit check below.
		top := 4*weight + 3
		for g := binary.BigEndian.Uint16(b[8:]); g < 1000; g *= 10 {
			top--
		}
		if top >= maxDigits {
			return fmt.Errorf("numeric field overflow: a field with precision %d, scale %d must round to an absolute value less than 10^%d",
				precision, scale, maxDigits)
		}
		return nil
	}
	overflow := func() error {
		return fmt.Errorf("numeric field overflow: a field with precision %d, scale %d must round to an absolute value less than 10^%d",
			precision, scale, maxDigits)
	}
	switch sign {
	case numericNaN:
		return nil
	case numericPInf, numericNInf:
		return fmt.Errorf("numeric field overflow: a field with precision %d, scale %d cannot hold an infinite value", precision, scale)
	}
	// Decimal digit k (0-based, four per base-10000 digit) has place value 10^(4*weight+3-k).
	digit := func(k int) int {
		if k < 0 || k >= 4*ndigits {
			return 0
		}
		d := int(binary.BigEndian.Uint16(b[8+2*(k/4):]))
		return d / int(pow10[3-k%4]) % 10
	}
	first := -1
	for k := 0; k < 4*ndigits; k++ {
		if digit(k) != 0 {
			first = k
			break
		}
	}
	cut := 4*weight + 4 + scale // the first digit rounding drops
	if first < 0 || first >= cut {
		return nil // rounds to zero or to one unit of the scale, which always fits
	}
	top := 4*weight + 3 - first // the place of the first digit
	if digit(cut) >= 5 {
		carry := true
		for k := first; k < cut; k++ {
			if digit(k) != 9 {
				carry = false
				break
			}
		}
		if carry {
			top++
		}
	}
	if top >= maxDigits {
		return overflow()
	}
	return nil
}

func encodeUUID(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case [16]byte:
		return append(buf, x[:]...), nil
	case string:
		return appendUUID(buf, x)
	case []byte:
		if len(x) == 16 {
			return append(buf, x...), nil
		}
		return appendUUID(buf, string(x))
	}
	return buf, errType(v, "uuid")
}

func appendUUID(buf []byte, s string) ([]byte, error) {
	s = trimSpace(s)
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	var out [16]byte
	j := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '-' && j%2 == 0 && j > 0 {
			continue
		}
		h := unhex(s[i])
		if h < 0 || j >= 32 {
			return buf, fmt.Errorf("invalid uuid %q", s)
		}
		out[j/2] |= byte(h) << (4 * (1 - j%2))
		j++
	}
	if j != 32 || !utf8.ValidString(s) {
		return buf, fmt.Errorf("invalid uuid %q", s)
	}
	return append(buf, out[:]...), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
