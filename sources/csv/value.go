package csv

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/etl"
)

// ParseValue converts one CSV field to the Go value that a column of type t carries in
// an [etl.Row] (see the value table in package etl). It never returns NULL: deciding
// which fields mean NULL is the caller's business. Timestamps without a zone are read as
// UTC. An error matches [ErrInvalidValue] or [ErrInvalidUTF8].
func ParseValue(t etl.Type, s string) (any, error) {
	var tp timeParser
	return tp.value(t, s, time.UTC)
}

// timeParser caches the zone of the last offset it saw, so that a file whose timestamps
// all carry "+02" does not allocate a *time.Location per value.
type timeParser struct {
	offset int
	loc    *time.Location
}

func (tp *timeParser) value(t etl.Type, s string, loc *time.Location) (any, error) {
	switch t {
	case etl.TypeText, 0:
		if !utf8.ValidString(s) {
			return nil, ErrInvalidUTF8
		}
		return s, nil
	case etl.TypeInt64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, invalid(t, s)
		}
		return n, nil
	case etl.TypeFloat64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, invalid(t, s)
		}
		return f, nil
	case etl.TypeNumeric:
		d, ok := parseDecimal(s)
		if !ok {
			return nil, invalid(t, s)
		}
		return d, nil
	case etl.TypeBool:
		b, ok := parseBool(s)
		if !ok {
			return nil, invalid(t, s)
		}
		return b, nil
	case etl.TypeTimestamp:
		ts, ok := tp.parseTimestamp(s, loc)
		if !ok {
			return nil, invalid(t, s)
		}
		return ts, nil
	case etl.TypeDate:
		d, ok := parseDate(s)
		if !ok {
			return nil, invalid(t, s)
		}
		return d, nil
	case etl.TypeBytes:
		if len(s) >= 2 && s[0] == '\\' && (s[1] == 'x' || s[1] == 'X') {
			b, err := hex.DecodeString(s[2:])
			if err != nil {
				return nil, invalid(t, s)
			}
			return b, nil
		}
		return []byte(s), nil
	case etl.TypeJSON:
		if !utf8.ValidString(s) {
			return nil, ErrInvalidUTF8
		}
		if !json.Valid([]byte(s)) {
			return nil, invalid(t, s)
		}
		return s, nil
	}
	return nil, fmt.Errorf("%w: unknown column type %s", ErrInvalidValue, t)
}

// invalid builds the error for a field that does not parse, quoting at most 64 bytes of
// it so that a runaway field does not flood the log.
func invalid(t etl.Type, s string) error {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Errorf("%w for %s: %q", ErrInvalidValue, t, s)
}

// parseDecimal accepts [+-]digits[.digits], [+-].digits and [+-]digits., the forms that
// every sink's numeric type reads. The text is kept as is, except for a leading '+'.
// Exponents, NaN and Infinity are refused: Redshift's DECIMAL takes none of them.
func parseDecimal(s string) (etl.Decimal, bool) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits, dot := 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return "", false
		}
	}
	if digits == 0 {
		return "", false
	}
	if s[0] == '+' {
		s = s[1:]
	}
	return etl.Decimal(s), true
}

// parseBool accepts t/f, true/false, 1/0 and yes/no, in any case.
func parseBool(s string) (bool, bool) {
	switch len(s) {
	case 1:
		switch s[0] {
		case 't', 'T', '1':
			return true, true
		case 'f', 'F', '0':
			return false, true
		}
	case 2:
		if strings.EqualFold(s, "no") {
			return false, true
		}
	case 3:
		if strings.EqualFold(s, "yes") {
			return true, true
		}
	case 4:
		if strings.EqualFold(s, "true") {
			return true, true
		}
	case 5:
		if strings.EqualFold(s, "false") {
			return false, true
		}
	}
	return false, false
}

// digits parses s[i:i+n] as an unsigned decimal number.
func digits(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// parseYMD reads "2006-01-02" at the start of s and checks that the day exists.
func parseYMD(s string) (y, m, d int, ok bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := digits(s, 0, 4)
	m, ok2 := digits(s, 5, 2)
	d, ok3 := digits(s, 8, 2)
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(m, y) {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseDate reads "2006-01-02" as midnight UTC.
func parseDate(s string) (time.Time, bool) {
	if len(s) != 10 {
		return time.Time{}, false
	}
	y, m, d, ok := parseYMD(s)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

// parseTimestamp reads RFC 3339 ("2006-01-02T15:04:05.999999999Z07:00") and the
// PostgreSQL text form ("2006-01-02 15:04:05.999999+07", "+0700" or "+07:00"), with the
// fraction and the zone optional. A timestamp without a zone is read in loc. It is
// written by hand because time.Parse costs several times more, and a bulk load parses two
// timestamps per row.
func (tp *timeParser) parseTimestamp(s string, loc *time.Location) (time.Time, bool) {
	if len(s) < 19 {
		return time.Time{}, false
	}
	y, mo, d, ok := parseYMD(s)
	if !ok || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	h, ok1 := digits(s, 11, 2)
	mi, ok2 := digits(s, 14, 2)
	sec, ok3 := digits(s, 17, 2)
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		start := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if i-start < 9 {
				nsec = nsec*10 + int(s[i]-'0')
			}
		}
		n := i - start
		if n == 0 {
			return time.Time{}, false
		}
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	zone := s[i:]
	switch {
	case zone == "":
	case zone == "Z" || zone == "z":
		loc = time.UTC
	case zone[0] == '+' || zone[0] == '-':
		off, ok := parseOffset(zone)
		if !ok {
			return time.Time{}, false
		}
		loc = tp.zone(off)
	default:
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, nsec, loc), true
}

// parseOffset reads "+07", "+0700", "+07:00" or "+07:00:00" as seconds east of UTC.
func parseOffset(z string) (int, bool) {
	sign := 1
	if z[0] == '-' {
		sign = -1
	}
	z = z[1:]
	var hh, mm, ss int
	var ok bool
	switch len(z) {
	case 2:
		hh, ok = digits(z, 0, 2)
	case 4:
		var ok1 bool
		hh, ok1 = digits(z, 0, 2)
		mm, ok = digits(z, 2, 2)
		ok = ok && ok1
	case 5, 8:
		var ok1, ok3 bool
		hh, ok1 = digits(z, 0, 2)
		mm, ok = digits(z, 3, 2)
		ok3 = z[2] == ':'
		if len(z) == 8 {
			var ok4 bool
			ss, ok4 = digits(z, 6, 2)
			ok3 = ok3 && ok4 && z[5] == ':'
		}
		ok = ok && ok1 && ok3
	}
	if !ok || hh > 15 || mm > 59 || ss > 59 {
		return 0, false
	}
	return sign * (hh*3600 + mm*60 + ss), true
}

func (tp *timeParser) zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if tp.loc == nil || tp.offset != off {
		tp.offset, tp.loc = off, time.FixedZone("", off)
	}
	return tp.loc
}
