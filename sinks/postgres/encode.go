package postgres

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/etl"
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
	"json_recv":        encodeText,
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
	f, err := toFloat(v, "double precision")
	if err != nil {
		return buf, err
	}
	return binary.BigEndian.AppendUint64(buf, math.Float64bits(f)), nil
}

func encodeFloat4(buf []byte, v any) ([]byte, error) {
	f, err := toFloat(v, "real")
	if err != nil {
		return buf, err
	}
	return binary.BigEndian.AppendUint32(buf, math.Float32bits(float32(f))), nil
}

func toFloat(v any, typ string) (float64, error) {
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
		return parseFloat(x, typ)
	case etl.Decimal:
		return parseFloat(string(x), typ)
	}
	return 0, errType(v, typ)
}

func parseFloat(s, typ string) (float64, error) {
	f, err := strconv.ParseFloat(trimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q", typ, s)
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
// remainder to the nearest microsecond as PostgreSQL's text input does.
func micros(t time.Time) int64 {
	if t.Nanosecond()%1000 != 0 {
		t = t.Round(time.Microsecond)
	}
	return (t.Unix()-pgEpochUnix)*1_000_000 + int64(t.Nanosecond()/1000)
}

func encodeTimestamptz(buf []byte, v any) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return buf, errType(v, "timestamptz")
	}
	return binary.BigEndian.AppendUint64(buf, uint64(micros(t))), nil
}

// encodeTimestamp stores the wall-clock reading of t, dropping its zone, as pgx does for
// timestamp without time zone.
func encodeTimestamp(buf []byte, v any) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return buf, errType(v, "timestamp")
	}
	wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	return binary.BigEndian.AppendUint64(buf, uint64(micros(wall))), nil
}

// encodeDate stores the calendar date of t in t's own location.
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

// encodeText sends text as is; the server checks that it is valid in its encoding (and
// rejects NUL bytes), so a bad value fails the COPY with the server's message. Numbers and
// booleans are formatted, for a text column fed by a typed source.
func encodeText(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return append(buf, x...), nil
	case []byte:
		return append(buf, x...), nil
	case etl.Decimal:
		return append(buf, x...), nil
	case json.RawMessage:
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

// encodeJSONB prefixes the JSON text with jsonb's binary format version, 1.
func encodeJSONB(buf []byte, v any) ([]byte, error) {
	switch v.(type) {
	case string, []byte, json.RawMessage:
	default:
		return buf, errType(v, "jsonb")
	}
	return encodeText(append(buf, 1), v)
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
