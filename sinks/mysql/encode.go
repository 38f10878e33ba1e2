package mysql

import (
	"encoding/hex"
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

// The text format of the bulk path: LOAD DATA ... CHARACTER SET utf8mb4 FIELDS
// TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n', with no ENCLOSED BY.
// Within a field, a backslash, tab, newline, carriage return and NUL byte are written
// as \\, \t, \n, \r and \0, and a NULL as \N, so every value reads back byte for byte.
// Binary columns travel as hexadecimal and are decoded by UNHEX in the statement's SET
// clause, so no character set conversion can touch them.

// colKind is how a column's values travel.
type colKind uint8

const (
	kindText   colKind = iota // escaped text
	kindBinary                // hexadecimal, SET col = UNHEX(@var)
	kindBit                   // a decimal integer, SET col = CAST(@var AS UNSIGNED)
)

// colPlan is how one stream column is written for its target column.
type colPlan struct {
	name   string // the target column's name
	stream etl.Column
	col    column
	kind   colKind
}

// loadPlan maps a stream's columns to the target's and encodes its rows.
type loadPlan struct {
	table string // for errors
	cols  []colPlan
}

// ErrUnsupportedType is wrapped by the error of a load into a column whose type the bulk
// path cannot write (spatial types).
var ErrUnsupportedType = errors.New("column type not supported by the MySQL sink")

func planLoad(p *prepared, schema etl.Schema) (*loadPlan, error) {
	plan := &loadPlan{table: p.name()}
	seen := map[string]string{}
	for _, sc := range schema {
		c, ok := p.column(sc.Name)
		if !ok {
			return nil, fmt.Errorf("table %s has no column %q for the stream's column of that name", p.name(), sc.Name)
		}
		if other, dup := seen[c.Name]; dup {
			return nil, fmt.Errorf("table %s: the stream's columns %q and %q both name column %q (MySQL column names ignore case)",
				p.name(), other, sc.Name, c.Name)
		}
		seen[c.Name] = sc.Name
		if c.Generated {
			return nil, fmt.Errorf("table %s: column %q is generated and cannot be loaded; leave it out of the stream", p.name(), c.Name)
		}
		cp := colPlan{name: c.Name, stream: sc, col: c}
		switch c.DataType {
		case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
			cp.kind = kindBinary
		case "bit":
			cp.kind = kindBit
		case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
			"geometrycollection", "geomcollection":
			return nil, fmt.Errorf("table %s, column %q (%s): %w", p.name(), c.Name, c.Type, ErrUnsupportedType)
		}
		plan.cols = append(plan.cols, cp)
	}
	return plan, nil
}

// columnsClause returns the LOAD DATA column list and SET clause for the plan.
func (lp *loadPlan) columnsClause() string {
	list := make([]string, len(lp.cols))
	var set []string
	for i, c := range lp.cols {
		switch c.kind {
		case kindText:
			list[i] = quoteIdent(c.name)
		case kindBinary, kindBit:
			v := "@sluice_" + strconv.Itoa(i+1)
			list[i] = v
			expr := "UNHEX(" + v + ")"
			if c.kind == kindBit {
				expr = "CAST(" + v + " AS UNSIGNED)"
			}
			set = append(set, quoteIdent(c.name)+" = "+expr)
		}
	}
	s := "(" + joinComma(list) + ")"
	if len(set) > 0 {
		s += " SET " + joinComma(set)
	}
	return s
}

func joinComma(parts []string) string {
	n := 0
	for _, p := range parts {
		n += len(p) + 2
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, p...)
	}
	return string(b)
}

// ValueError is a value the bulk path cannot write into its column without changing it.
// It names the table, the row (1-based, in stream order), the line of the input it came
// from when the stream knows it, the column and the value.
type ValueError struct {
	// Table is the table being loaded, as database.table.
	Table string
	// Row is the row's number in the stream, from 1.
	Row int64
	// Source and Line say where the row came from, when the stream says so (see
	// [etl.Stream.Position]): the input's name and the line its record starts on.
	Source string
	Line   int64
	// Column is the target column.
	Column string
	// Value is the offending value as text, cut to a readable length.
	Value string
	// Err says why it cannot be written.
	Err error
}

// Error implements the error interface.
func (e *ValueError) Error() string {
	loc := ""
	if e.Source != "" {
		loc = fmt.Sprintf("%s: line %d: ", e.Source, e.Line)
	}
	return fmt.Sprintf("%stable %s, row %d, column %q: value %s: %v", loc, e.Table, e.Row, e.Column, e.Value, e.Err)
}

// Unwrap returns the reason.
func (e *ValueError) Unwrap() error { return e.Err }

// maxShown bounds the text of a value in an error.
const maxShown = 80

func shown(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		if len(x) > maxShown/2 {
			return "0x" + hex.EncodeToString(x[:maxShown/2]) + "..."
		}
		return "0x" + hex.EncodeToString(x)
	case time.Time:
		s = x.Format(time.RFC3339Nano)
	default:
		s = fmt.Sprint(v)
	}
	if len(s) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strconv.Quote(s)
}

// appendRow appends row n (1-based) as one line.
func (lp *loadPlan) appendRow(b []byte, row etl.Row, n int64) ([]byte, error) {
	if len(row) != len(lp.cols) {
		return b, fmt.Errorf("table %s, row %d: %d values for %d columns", lp.table, n, len(row), len(lp.cols))
	}
	for i := range lp.cols {
		if i > 0 {
			b = append(b, '\t')
		}
		var err error
		if b, err = lp.cols[i].appendValue(b, row[i]); err != nil {
			return b, &ValueError{Table: lp.table, Row: n, Column: lp.cols[i].name, Value: shown(row[i]), Err: err}
		}
	}
	return append(b, '\n'), nil
}

func (c *colPlan) appendValue(b []byte, v any) ([]byte, error) {
	if v == nil {
		if !c.col.Nullable && c.col.DataType != "" {
			// LOAD DATA stores the type's zero with a warning, and an INSERT stores the
			// current time into a TIMESTAMP NOT NULL, or a new number into an
			// AUTO_INCREMENT column, without a word: none of them is the NULL sent.
			return b, fmt.Errorf("NULL cannot be loaded into a NOT NULL column")
		}
		return append(b, `\N`...), nil
	}
	switch c.kind {
	case kindBinary:
		switch x := v.(type) {
		case []byte:
			if err := c.fitsBytes(len(x)); err != nil {
				return b, err
			}
			return hex.AppendEncode(b, x), nil
		case string:
			if err := c.fitsBytes(len(x)); err != nil {
				return b, err
			}
			return hex.AppendEncode(b, []byte(x)), nil
		}
		return b, fmt.Errorf("a %T cannot be loaded into binary column type %s", v, c.col.Type)
	case kindBit:
		switch x := v.(type) {
		case bool:
			if x {
				return append(b, '1'), nil
			}
			return append(b, '0'), nil
		case int64:
			if x < 0 {
				return b, fmt.Errorf("a negative number cannot be loaded into %s", c.col.Type)
			}
			return strconv.AppendInt(b, x, 10), nil
		case uint64:
			return strconv.AppendUint(b, x, 10), nil
		case int:
			if x < 0 {
				return b, fmt.Errorf("a negative number cannot be loaded into %s", c.col.Type)
			}
			return strconv.AppendInt(b, int64(x), 10), nil
		}
		return b, fmt.Errorf("a %T cannot be loaded into bit column type %s", v, c.col.Type)
	}
	switch x := v.(type) {
	case string:
		if err := c.checkText(x); err != nil {
			return b, err
		}
		return appendEscaped(b, x), nil
	case etl.Decimal:
		if err := c.checkText(string(x)); err != nil {
			return b, err
		}
		return appendEscaped(b, string(x)), nil
	case int64:
		if err := c.fitsInt(x); err != nil {
			return b, err
		}
		return strconv.AppendInt(b, x, 10), nil
	case int:
		if err := c.fitsInt(int64(x)); err != nil {
			return b, err
		}
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		if err := c.fitsInt(int64(x)); err != nil {
			return b, err
		}
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float64:
		return c.appendFloat(b, x, 64)
	case float32:
		return c.appendFloat(b, float64(x), 32)
	case bool:
		if x {
			return append(b, '1'), nil
		}
		return append(b, '0'), nil
	case time.Time:
		return c.appendTime(b, x)
	case []byte:
		if err := c.fitsText(x); err != nil {
			return b, err
		}
		return appendEscaped(b, x), nil
	}
	return b, fmt.Errorf("values of type %T are not supported", v)
}

// The checks below refuse what the server would refuse anyway, or change: the server's
// own refusal names the row and the column but not the value, so the load names it
// first. What they leave alone, the server's warnings still catch.

// checkText refuses a text the server would change silently in the column, or refuse
// without naming the value (see the checks below).
func (c *colPlan) checkText(x string) error {
	if c.scaled() {
		if err := fitsScale(x, c.col.Scale); err != nil {
			return err
		}
	}
	switch c.col.DataType {
	case "float", "double":
		// A number too small for the type, which the server stores as 0 without a word.
		bits := 64
		if c.col.DataType == "float" {
			bits = 32
		}
		t := strings.Trim(x, " \t\n\r\v\f")
		if f, err := strconv.ParseFloat(t, bits); err == nil && f == 0 && textvalue.NonZeroMantissa(t) {
			return fmt.Errorf("too small for column type %s, which would store 0", c.col.Type)
		}
	case "datetime", "timestamp", "time":
		if err := fitsFraction(x, max(c.col.Precision, 0), c.col.Type); err != nil {
			return err
		}
	}
	if err := c.fitsText(x); err != nil {
		return err
	}
	if (c.stream.Type == etl.TypeJSON || c.col.DataType == "json") && !json.Valid([]byte(x)) {
		// MariaDB refuses it through the JSON column's CHECK, whose warning names no row.
		return errors.New("not a valid JSON document")
	}
	return nil
}

// fitsFraction refuses a time text with more sub-second digits than fsp (trailing zeros
// aside), which MariaDB cuts and MySQL rounds without a word: "00:00:00.5" into a
// DATETIME stores 00:00:00, and so does the compact "20260101000000.5". The fraction is
// the digits after the last '.' that follows the time's last ':', once a trailing zone
// offset ("+02:00") is set aside; in the compact form, which has no ':', after a '.' that
// only digits precede.
func fitsFraction(s string, fsp int, typ string) error {
	s = strings.Trim(s, " \t\n\r\v\f")
	if n := len(s); n >= 6 && (s[n-6] == '+' || s[n-6] == '-') && s[n-3] == ':' && isDigits(s[n-5:n-3]) && isDigits(s[n-2:]) {
		s = s[:n-6]
	}
	colon := strings.LastIndexByte(s, ':')
	dot := strings.LastIndexByte(s, '.')
	switch {
	case dot < 0:
		return nil
	case colon < 0:
		if !isDigits(s[:dot]) {
			return nil // a date with '.' between its parts
		}
	case dot < colon:
		return nil
	}
	frac := s[dot+1:]
	end := 0
	for end < len(frac) && frac[end] >= '0' && frac[end] <= '9' {
		end++
	}
	if digits := len(strings.TrimRight(frac[:end], "0")); digits > fsp {
		return fmt.Errorf("the column %s keeps %d fractional digits of a second; the value has %d", typ, fsp, digits)
	}
	return nil
}

// fitsText refuses a text longer than a CHAR, VARCHAR or TEXT column holds: CHAR and
// VARCHAR count characters, the TEXT types bytes (checked for the UTF-8 character sets,
// where the text's bytes are the stored ones). A CHAR drops trailing spaces without a
// word, as it does for INSERT, so they do not count. Invalid UTF-8 is left to the server,
// which refuses it.
func fitsText[T string | []byte](c *colPlan, s T) error {
	switch c.col.DataType {
	case "char", "varchar":
		limit := c.col.MaxChars
		if limit <= 0 || int64(len(s)) <= limit {
			return nil // no character takes less than a byte
		}
		t := string(s)
		if c.col.DataType == "char" {
			t = strings.TrimRight(t, " ")
		}
		if !utf8.ValidString(t) {
			return nil
		}
		if n := utf8.RuneCountInString(t); int64(n) > limit {
			return fmt.Errorf("%d characters do not fit column type %s", n, c.col.Type)
		}
	case "tinytext", "text", "mediumtext", "longtext":
		if c.col.MaxBytes > 0 && int64(len(s)) > c.col.MaxBytes && strings.HasPrefix(c.col.Charset, "utf8") {
			return fmt.Errorf("%d bytes do not fit column type %s, which holds %d", len(s), c.col.Type, c.col.MaxBytes)
		}
	}
	return nil
}

func (c *colPlan) fitsText(s any) error {
	switch x := s.(type) {
	case string:
		return fitsText(c, x)
	case []byte:
		return fitsText(c, x)
	}
	return nil
}

// fitsBytes refuses bytes longer than a BINARY, VARBINARY or BLOB column holds.
func (c *colPlan) fitsBytes(n int) error {
	if c.col.MaxBytes > 0 && int64(n) > c.col.MaxBytes {
		return fmt.Errorf("%d bytes do not fit column type %s, which holds %d", n, c.col.Type, c.col.MaxBytes)
	}
	return nil
}

// intRange returns the range of an integer column type, or ok false for other types.
func intRange(dataType, columnType string) (lo, hi int64, ok bool) {
	switch dataType {
	case "tinyint":
		lo, hi = math.MinInt8, math.MaxInt8
	case "smallint":
		lo, hi = math.MinInt16, math.MaxInt16
	case "mediumint":
		lo, hi = -1<<23, 1<<23-1
	case "int":
		lo, hi = math.MinInt32, math.MaxInt32
	case "bigint":
		lo, hi = math.MinInt64, math.MaxInt64
	default:
		return 0, 0, false
	}
	if strings.Contains(columnType, "unsigned") {
		if dataType == "bigint" {
			return 0, math.MaxInt64, true // an int64 cannot pass the top
		}
		return 0, 2*hi + 1, true
	}
	return lo, hi, true
}

// fitsInt refuses an integer outside an integer column's range.
func (c *colPlan) fitsInt(x int64) error {
	if lo, hi, ok := intRange(c.col.DataType, c.col.Type); ok && (x < lo || x > hi) {
		return fmt.Errorf("out of the range of column type %s", c.col.Type)
	}
	return nil
}

func (c *colPlan) appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, errors.New("MySQL stores no NaN or infinity")
	}
	// The shortest text that reads back as the same float, as the driver binds it.
	start := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, bits)
	if c.col.DataType == "float" && f != 0 && float32(f) == 0 {
		return b[:start], fmt.Errorf("too small for column type %s, which would store 0", c.col.Type)
	}
	if c.scaled() {
		if err := fitsScale(string(b[start:]), c.col.Scale); err != nil {
			return b[:start], err
		}
	}
	return b, nil
}

// appendTime writes a time by the timestamp rule of package sinks: into DATETIME and
// TIMESTAMP as its UTC wall-clock time (the session's time zone is UTC, so a TIMESTAMP
// stores the instant), with exactly the column's fractional digits; a date value
// (etl.TypeDate), into any column, by its own year, month and day. A time the column cannot hold exactly (sub-second
// digits beyond its precision, a time of day in a DATE) is refused rather than rounded.
func (c *colPlan) appendTime(b []byte, t time.Time) ([]byte, error) {
	if c.stream.Type == etl.TypeDate {
		// A date value is its own calendar day wherever it goes, never shifted by a zone:
		// its wall clock is read as UTC, which the conversions below leave as it is.
		y, mo, d := t.Date()
		h, mi, s := t.Clock()
		t = time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
	}
	switch c.col.DataType {
	case "date":
		if c.stream.Type != etl.TypeDate {
			t = t.UTC()
			if h, m, s := t.Clock(); h != 0 || m != 0 || s != 0 || t.Nanosecond() != 0 {
				return b, errors.New("a timestamp with a time of day cannot be loaded into a DATE column without losing it")
			}
		}
		y, mo, d := t.Date()
		if y < 0 || y > 9999 {
			return b, errors.New("year out of MySQL's range")
		}
		return appendDate(b, y, int(mo), d), nil
	case "datetime", "timestamp":
		t = t.UTC()
		fsp := max(c.col.Precision, 0)
		unit := 1
		for range 9 - fsp {
			unit *= 10
		}
		ns := t.Nanosecond()
		if ns%unit != 0 {
			return b, fmt.Errorf("the column %s keeps %d fractional digits of a second; the value has more", c.col.Type, fsp)
		}
		y, mo, d := t.Date()
		if y < 0 || y > 9999 {
			return b, errors.New("year out of MySQL's range")
		}
		b = appendDate(b, y, int(mo), d)
		h, mi, s := t.Clock()
		b = append(b, ' ', byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
			byte('0'+s/10), byte('0'+s%10))
		if fsp > 0 {
			b = append(b, '.')
			frac := ns / unit
			digits := make([]byte, fsp)
			for i := fsp - 1; i >= 0; i-- {
				digits[i] = byte('0' + frac%10)
				frac /= 10
			}
			b = append(b, digits...)
		}
		return b, nil
	case "time", "year":
		return b, fmt.Errorf("a timestamp cannot be loaded into a %s column", strings.ToUpper(c.col.DataType))
	}
	// Into a text column, the text the driver would bind for the same time in UTC.
	t = t.UTC()
	y := t.Year()
	if y < 1 || y > 9999 {
		return b, errors.New("year out of MySQL's range")
	}
	h, mi, s := t.Clock()
	ns := t.Nanosecond()
	b = appendDate(b, y, int(t.Month()), t.Day())
	if h == 0 && mi == 0 && s == 0 && ns == 0 {
		return b, nil
	}
	b = append(b, ' ', byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10))
	if ns == 0 {
		return b, nil
	}
	frac := []byte(fmt.Sprintf(".%09d", ns))
	for frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	return append(b, frac...), nil
}

func appendDate(b []byte, y, m, d int) []byte {
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
}

// scaled reports a numeric column with a fixed count of digits after the point: a
// DECIMAL, an integer (none), or a FLOAT or DOUBLE declared with one, as in DOUBLE(10,2).
// The server rounds a number with more digits to that scale, with only a note for a
// DECIMAL and without a word for the others ('1.5' into an INT stores 2), so the load
// refuses such a number instead (see fitsScale).
func (c *colPlan) scaled() bool {
	if c.col.Scale < 0 {
		return false
	}
	switch c.col.DataType {
	case "decimal", "tinyint", "smallint", "mediumint", "int", "bigint", "float", "double":
		return true
	}
	return false
}

// fitsScale refuses a decimal text with more digits after the point than scale: MySQL
// would round it to the column's scale. It reads the text as the server does, around
// spaces and with an exponent: "1500e-2" needs no digit after the point, " 1.5" one.
// Other malformations are left to the server, which refuses them.
func fitsScale(s string, scale int) error {
	if scale < 0 {
		return nil
	}
	s = strings.Trim(s, " \t\n\r\v\f")
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	// need is how many digits after the point the last nonzero digit sits at: negative
	// for one before the point (-2 for the 1 of 100).
	need, nonzero := int64(0), false
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	for j := i - 1; j >= start; j-- {
		if s[j] != '0' {
			need, nonzero = -int64(i-1-j), true
			break
		}
	}
	if i < len(s) && s[i] == '.' {
		i++
		for k := int64(1); i < len(s) && s[i] >= '0' && s[i] <= '9'; k, i = k+1, i+1 {
			if s[i] != '0' {
				need, nonzero = k, true
			}
		}
	}
	if !nonzero {
		return nil
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		exp, err := strconv.ParseInt(s[i+1:], 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) && s[i+1] == '-':
			// A number too small to tell from zero, which the server would round to it.
			return fmt.Errorf("the exponent %s is too small for the column's scale of %d; MySQL would round it to zero", s[i+1:], scale)
		case err != nil:
			return nil // an exponent too large, or no number: the server refuses it
		}
		exp = max(min(exp, 1<<40), -1<<40) // beyond the widest scale either way, and no overflow
		need -= exp
	}
	if need > int64(scale) {
		return fmt.Errorf("%d digits after the point do not fit the column's scale of %d; MySQL would round it", need, scale)
	}
	return nil
}

// escapes maps each byte LOAD DATA reads specially to its escape letter.
var escapes = [256]byte{'\\': '\\', '\t': 't', '\n': 'n', '\r': 'r', 0: '0'}

// appendEscaped appends s with LOAD DATA's escapes.
func appendEscaped[T string | []byte](b []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		if e := escapes[s[i]]; e != 0 {
			b = append(b, s[start:i]...)
			b = append(b, '\\', e)
			start = i + 1
		}
	}
	return append(b, s[start:]...)
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
