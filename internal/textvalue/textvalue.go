package textvalue

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/etl"
)

// Parse converts text to the Go value that a column of type t carries in an [etl.Row]
// (see the value table in package etl). It never returns NULL: deciding which texts mean
// NULL is the caller's business. Timestamps without a zone are read as UTC. An error
// matches [ErrInvalidValue] or [ErrInvalidUTF8].
func Parse(t etl.Type, s string) (any, error) {
	var p Parser
	return p.Value(t, s, time.UTC)
}

// Parser reads values as [Parse] does. It caches the zone of the last offset it saw, so
// that a file whose timestamps all carry "+02" does not allocate a *time.Location per
// value. The zero value is ready to use; a Parser is not safe for concurrent use.
type Parser struct {
	offset int
	loc    *time.Location
}

// Value is [Parse], with timestamps that carry no zone read in loc.
func (tp *Parser) Value(t etl.Type, s string, loc *time.Location) (any, error) {
	switch t {
	case etl.TypeText, 0:
		if !utf8.ValidString(s) {
			return nil, ErrInvalidUTF8
		}
		return s, nil
	case etl.TypeInt64:
		n, ok := Int64(s)
		if !ok {
			return nil, Invalid(t, s)
		}
		return n, nil
	case etl.TypeFloat64:
		f, err := Float(s)
		if err != nil {
			return nil, err
		}
		return f, nil
	case etl.TypeNumeric:
		d, ok := Decimal(s)
		if !ok {
			return nil, Invalid(t, s)
		}
		return d, nil
	case etl.TypeBool:
		b, ok := Bool(s)
		if !ok {
			return nil, Invalid(t, s)
		}
		return b, nil
	case etl.TypeTimestamp:
		ts, ok := tp.Timestamp(s, loc)
		if !ok {
			return nil, Invalid(t, s)
		}
		return ts, nil
	case etl.TypeDate:
		d, ok := Date(s)
		if !ok {
			return nil, Invalid(t, s)
		}
		return d, nil
	case etl.TypeBytes:
		b, ok := Bytea(s)
		if !ok {
			return nil, Invalid(t, s)
		}
		return b, nil
	case etl.TypeJSON:
		if !utf8.ValidString(s) {
			return nil, ErrInvalidUTF8
		}
		if !json.Valid([]byte(s)) {
			return nil, Invalid(t, s)
		}
		return s, nil
	}
	return nil, fmt.Errorf("%w: unknown column type %s", ErrInvalidValue, t)
}

// Int64 reads a base-10 integer with an optional sign, as strconv.ParseInt(s, 10, 64)
// reads it, and reports false for anything else, a value out of range included. Numbers
// of up to 18 digits, which cannot overflow, skip strconv's general path.
func Int64(s string) (int64, bool) {
	d := s
	if len(d) > 0 && (d[0] == '-' || d[0] == '+') {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 18 {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	var n int64
	for i := 0; i < len(d); i++ {
		c := d[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int64(c)
	}
	if s[0] == '-' {
		n = -n
	}
	return n, true
}

// Invalid builds the error for a field that does not parse, quoting at most 64 bytes of
// it so that a runaway field does not flood the log.
func Invalid(t etl.Type, s string) error {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Errorf("%w for %s: %q", ErrInvalidValue, t, s)
}

// Float reads the forms of a double that PostgreSQL's float8 input documents:
// [+-]digits[.digits][e[+-]digits] (or [+-].digits...), NaN, and [+-]Infinity or inf, in
// any case. It refuses what strconv would take beyond that: hexadecimal floats (which
// PostgreSQL reads only where the C library happens to) and digit separators ("1_000").
// A value beyond a double's range is refused as PostgreSQL refuses it: a magnitude that
// overflows, and a non-zero value so small that it would round to zero.
func Float(s string) (float64, error) {
	if !FloatSyntax(s) {
		switch {
		case strings.EqualFold(s, "nan"):
			return math.NaN(), nil
		case isInfinity(s):
			if s[0] == '-' {
				return math.Inf(-1), nil
			}
			return math.Inf(1), nil
		}
		return 0, Invalid(etl.TypeFloat64, s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || (f == 0 && NonZeroMantissa(s)) {
		return 0, outOfRange(etl.TypeFloat64, s)
	}
	return f, nil
}

// FloatSyntax reports whether s is [+-]digits[.digits][e[+-]digits] or
// [+-][digits].digits[e[+-]digits]: the numeric forms PostgreSQL's float input takes.
func FloatSyntax(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// NonZeroMantissa reports whether the digits before any exponent of a float's text hold
// one other than zero: a value that parses to zero then underflowed.
func NonZeroMantissa(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 'e' || c == 'E':
			return false
		case c >= '1' && c <= '9':
			return true
		}
	}
	return false
}

func isInfinity(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return strings.EqualFold(s, "infinity") || strings.EqualFold(s, "inf")
}

// outOfRange builds the error for a number beyond its type's range.
func outOfRange(t etl.Type, s string) error {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Errorf("%w for %s: %q is out of range", ErrInvalidValue, t, s)
}

// DecimalComma turns a number written with a decimal comma into one with a point. A
// point in it is refused: it may be a thousands separator.
func DecimalComma(s string) (string, bool) {
	if strings.IndexByte(s, '.') >= 0 {
		return s, false
	}
	return strings.Replace(s, ",", ".", 1), true
}

// Bytea reads PostgreSQL's bytea text input: "\x" followed by hex digits in pairs,
// or the escape format, where "\\" is a backslash, "\ooo" an octal byte and every other
// byte stands for itself. A backslash followed by anything else is refused, as
// PostgreSQL refuses it, rather than stored as written.
func Bytea(s string) ([]byte, bool) {
	if len(s) >= 2 && s[0] == '\\' && (s[1] == 'x' || s[1] == 'X') {
		b, err := hex.DecodeString(s[2:])
		return b, err == nil
	}
	if strings.IndexByte(s, '\\') < 0 {
		return []byte(s), true
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '\\':
			out = append(out, '\\')
			i++
		case i+3 < len(s) && octal(s[i+1]) && s[i+1] <= '3' && octal(s[i+2]) && octal(s[i+3]):
			out = append(out, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
		default:
			return nil, false
		}
	}
	return out, true
}

func octal(c byte) bool { return c >= '0' && c <= '7' }

// Decimal accepts [+-]digits[.digits], [+-].digits and [+-]digits., the forms that
// every sink's numeric type reads. The text is kept as is, except for a leading '+'.
// Exponents, NaN and Infinity are refused: Redshift's DECIMAL takes none of them.
func Decimal(s string) (etl.Decimal, bool) {
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

// Bool accepts t/f, true/false, 1/0 and yes/no, in any case.
func Bool(s string) (bool, bool) {
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

// two parses the two digits at s[i:i+2], which the caller has checked exist; it returns
// -1 for anything else, so that one range check refuses both.
func two(s string, i int) int {
	a, b := s[i]-'0', s[i+1]-'0'
	if a > 9 || b > 9 {
		return -1
	}
	return int(a)*10 + int(b)
}

// Lanes of dateTime's words: '0' where a digit goes, the separator elsewhere, and what
// added to the word minus them sets a lane's high bit exactly when the lane is wrong
// (above 9 for a digit, not 0 for a separator).
const (
	ymdWant   = 0x2d30302d30303030 // "0000-00-" read little-endian
	ymdAdd    = 0x7f76767f76767676
	clockWant = 0x30303a30303a3030 // "00:00:00"
	clockAdd  = 0x76767f76767f7676
)

// dateTime reads "2006-01-02 15:04:05" (or with T or t between) at the start of s, which
// has at least 19 bytes, with the checks of parseYMD and of the clock's ranges. It reads
// the date's first eight bytes and the clock as two words, each checked at once: lane by
// lane, the byte minus what the lane wants (by XOR, which is a subtraction for '0' to '9'
// and 0 only for the separator itself) must be at most 9, or 0 for a separator. A lane
// whose difference is 0x80 or more fails on its own high bit, and only such a lane can
// carry into the next, so the carries never hide a wrong lane.
// FuzzTimestampMatchesTimeDate holds it to parseYMD and two.
func dateTime(s string) (y, mo, d, clock int, ok bool) {
	_ = s[18]
	a := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	c := uint64(s[11]) | uint64(s[12])<<8 | uint64(s[13])<<16 | uint64(s[14])<<24 |
		uint64(s[15])<<32 | uint64(s[16])<<40 | uint64(s[17])<<48 | uint64(s[18])<<56
	a ^= ymdWant
	c ^= clockWant
	d0, d1 := s[8]-'0', s[9]-'0'
	if ((a+ymdAdd)|a|(c+clockAdd)|c)&highs != 0 || d0 > 9 || d1 > 9 ||
		(s[10] != ' ' && s[10] != 'T' && s[10] != 't') {
		return
	}
	y = int(a&0xff)*1000 + int(a>>8&0xff)*100 + int(a>>16&0xff)*10 + int(a>>24&0xff)
	mo = int(a>>40&0xff)*10 + int(a>>48&0xff)
	d = int(d0)*10 + int(d1)
	h, mi, sec := int(c&0xff)*10+int(c>>8&0xff), int(c>>24&0xff)*10+int(c>>32&0xff), int(c>>48&0xff)*10+int(c>>56&0xff)
	// Year 0 does not exist: PostgreSQL refuses it, where Go would read 1 BC.
	if y == 0 || mo < 1 || mo > 12 || d < 1 || (d > 28 && d > daysIn(mo, y)) || h > 23 || mi > 59 || sec > 59 {
		return
	}
	return y, mo, d, h*3600 + mi*60 + sec, true
}

// highs is the high bit of each byte of a word.
const highs = 0x8080808080808080

// parseYMD reads "2006-01-02" at the start of s and checks that the day exists.
func parseYMD(s string) (y, m, d int, ok bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	hi, lo := two(s, 0), two(s, 2)
	y, m, d = hi*100+lo, two(s, 5), two(s, 8)
	// Year 0 does not exist: PostgreSQL refuses it, where Go would read 1 BC.
	if hi < 0 || lo < 0 || y == 0 || m < 1 || m > 12 || d < 1 || d > daysIn(m, y) {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// daysSinceEpoch returns the days from 1970-01-01 to a proleptic Gregorian date
// (H. Hinnant's days_from_civil).
func daysSinceEpoch(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= 0 here: years run from 1
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// yearStart holds daysSinceEpoch of January 1 of each year from tableYear0 on, and one
// more, so that a year's length is the difference of two entries.
var yearStart = func() (t [257]int32) {
	for i := range t {
		t[i] = int32(daysSinceEpoch(tableYear0+i, 1, 1))
	}
	return t
}()

const tableYear0 = 1900

// monthStart is the day of the year, from 0, on which each month starts in a common year.
var monthStart = [13]int32{0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334}

// days is daysSinceEpoch, from tables for the years 1900 to 2155.
// TestDaysMatchesDaysSinceEpoch holds the two to the same value.
func days(y, m, d int) int64 {
	i := uint(y - tableYear0)
	if i >= uint(len(yearStart)-1) {
		return daysSinceEpoch(y, m, d)
	}
	n := yearStart[i] + monthStart[m] + int32(d) - 1
	if m > 2 && yearStart[i+1]-yearStart[i] == 366 {
		n++
	}
	return int64(n)
}

// daysIn returns how many days month m of year y has.
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

// Date reads "2006-01-02" as midnight UTC.
func Date(s string) (time.Time, bool) {
	if len(s) != 10 {
		return time.Time{}, false
	}
	y, m, d, ok := parseYMD(s)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

// Timestamp reads RFC 3339 ("2006-01-02T15:04:05.999999999Z07:00") and the
// PostgreSQL text form ("2006-01-02 15:04:05.999999+07", "+0700" or "+07:00"), with the
// fraction and the zone optional. A timestamp without a zone is read in loc. It is
// written by hand because time.Parse costs several times more, and a bulk load parses two
// timestamps per row.
func (tp *Parser) Timestamp(s string, loc *time.Location) (time.Time, bool) {
	if len(s) < 19 {
		return time.Time{}, false
	}
	y, mo, d, clock, ok := dateTime(s)
	if !ok {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if i < len(s) && s[i] == '.' { // PostgreSQL refuses ISO 8601's decimal comma here
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
		if n > 9 {
			// Nanoseconds cannot hold the value, and rounding it to them first could round
			// it twice. PostgreSQL reads the fraction as a double and rounds it to whole
			// microseconds, half to even (rint(strtod("0.fff") * 1e6)); so does this, and
			// the nanoseconds are then whole microseconds, which every sink keeps as they are.
			f, err := strconv.ParseFloat("0."+s[start:i], 64)
			if err != nil {
				return time.Time{}, false
			}
			nsec = int(math.RoundToEven(f*1e6)) * 1000
		} else {
			for ; n < 9; n++ {
				nsec *= 10
			}
		}
	}
	zone := s[i:]
	off := 0
	switch {
	case zone == "":
		if loc != time.UTC {
			// A zone with rules: the offset depends on the wall time.
			return time.Date(y, time.Month(mo), d, clock/3600, clock/60%60, clock%60, nsec, loc), true
		}
	case zone == "Z" || zone == "z":
		loc = time.UTC
	case len(zone) == 3 && (zone[0] == '+' || zone[0] == '-'):
		// "+07", the form PostgreSQL prints for whole hours.
		hh := two(zone, 1)
		if hh < 0 || hh > 15 {
			return time.Time{}, false
		}
		if off = hh * 3600; zone[0] == '-' {
			off = -off
		}
		loc = tp.zone(off)
	case zone[0] == '+' || zone[0] == '-':
		if off, ok = parseOffset(zone); !ok {
			return time.Time{}, false
		}
		loc = tp.zone(off)
	default:
		return time.Time{}, false
	}
	// The offset is known, so the instant is plain arithmetic; time.Date would find the
	// same one at several times the cost. TestTimestampMatchesTimeDate holds the two to
	// the same value.
	unix := days(y, mo, d)*86400 + int64(clock-off)
	return time.Unix(unix, int64(nsec)).In(loc), true
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

func (tp *Parser) zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if tp.loc == nil || tp.offset != off {
		tp.offset, tp.loc = off, time.FixedZone("", off)
	}
	return tp.loc
}
