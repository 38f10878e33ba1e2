package postgres

import (
	"encoding/binary"
	"errors"
	"strings"
)

// PostgreSQL's binary numeric: int16 ndigits, int16 weight, uint16 sign, uint16 dscale,
// then ndigits base-10000 digits as int16, most significant first. The value is
// sum(digit[i] * 10000^(weight-i)); dscale is the number of decimal digits shown after the
// point.
const (
	numericPos    = 0x0000
	numericNeg    = 0x4000
	numericNaN    = 0xC000
	numericPInf   = 0xD000
	numericNInf   = 0xF000
	numericMaxDSc = 0x3FFF // NUMERIC_DSCALE_MAX
	numericMaxW   = 32767  // the weight is an int16
	numericMinW   = -32768
)

var errNumericSyntax = errors.New("invalid numeric syntax")
var errNumericRange = errors.New("numeric value out of range")

var pow10 = [4]int16{1, 10, 100, 1000}

// appendNumeric appends the binary numeric form of the decimal text s to buf. It accepts
// what PostgreSQL's numeric input accepts in base 10: optional surrounding whitespace, a
// sign, digits with an optional point, an optional exponent, and NaN / Infinity / inf. It
// never allocates and uses no math/big: the digits are regrouped by four straight from the
// text.
func appendNumeric(buf []byte, s string) ([]byte, error) {
	if out, ok := appendPlainNumeric(buf, s); ok {
		return out, nil
	}
	return appendNumericText(buf, s)
}

// appendPlainNumeric is appendNumeric's fast path for the form bulk exports write: an
// optional sign, 1 to 16 integer digits without a leading zero, and up to 8 fraction
// digits after a point, such as "-12345.67". It reports false, having appended nothing,
// for anything else, which appendNumericText then reads. FuzzPlainNumeric holds the two
// to the same bytes.
func appendPlainNumeric(buf []byte, s string) ([]byte, bool) {
	out, _, _, ok := plainNumeric(buf, s)
	return out, ok
}

// plainNumeric is appendPlainNumeric, which also returns how many digits the integer
// part has (none of them a leading zero) and how many the fraction has: the value fits
// numeric(p, s) without rounding when frac <= s and intDigits <= p-s.
func plainNumeric(buf []byte, s string) (out []byte, intDigits, frac int, ok bool) {
	i := 0
	sign := uint16(numericPos)
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		if s[0] == '-' {
			sign = numericNeg
		}
		i = 1
	}
	start := i
	var ip uint64 // the integer part
	for ; i < len(s) && s[i]-'0' < 10; i++ {
		ip = ip*10 + uint64(s[i]-'0')
	}
	intDigits = i - start
	if intDigits == 0 || intDigits > 16 || s[start] == '0' {
		return buf, 0, 0, false
	}
	var fp uint64 // the fraction, scaled to 8 digits
	if i < len(s) {
		if s[i] != '.' {
			return buf, 0, 0, false
		}
		for i++; i < len(s) && s[i]-'0' < 10; i++ {
			fp = fp*10 + uint64(s[i]-'0')
			frac++
		}
		if i < len(s) || frac > 8 {
			return buf, 0, 0, false
		}
		for k := frac; k < 8; k++ {
			fp *= 10
		}
	}
	// Base-10000 digits, most significant first: up to four of the integer part, two of
	// the fraction. Trailing zero digits are dropped, as appendNumericText drops them.
	var d [6]uint16
	ni := (intDigits + 3) / 4
	for k := ni - 1; k >= 0; k-- {
		d[k] = uint16(ip % 10000)
		ip /= 10000
	}
	d[ni], d[ni+1] = uint16(fp/10000), uint16(fp%10000)
	n := ni + 2
	for d[n-1] == 0 {
		n--
	}
	buf = appendNumericHeader(buf, n, int16(ni-1), sign, uint16(frac))
	for _, g := range d[:n] {
		buf = binary.BigEndian.AppendUint16(buf, g)
	}
	return buf, intDigits, frac, true
}

// appendNumericText is appendNumeric for every form PostgreSQL's numeric input takes.
func appendNumericText(buf []byte, s string) ([]byte, error) {
	s = trimSpace(s)
	if s == "" {
		return buf, errNumericSyntax
	}
	sign := uint16(numericPos)
	body := s
	switch body[0] {
	case '-':
		sign = numericNeg
		body = body[1:]
	case '+':
		body = body[1:]
	}
	if body != "" && (body[0] < '0' || body[0] > '9') && body[0] != '.' {
		switch {
		case body == s && strings.EqualFold(body, "nan"):
			return appendNumericSpecial(buf, numericNaN), nil
		case strings.EqualFold(body, "infinity") || strings.EqualFold(body, "inf"):
			if sign == numericNeg {
				return appendNumericSpecial(buf, numericNInf), nil
			}
			return appendNumericSpecial(buf, numericPInf), nil
		}
		return buf, errNumericSyntax
	}

	// Mantissa: digits [0, end) of body, with the point (if any) at index point.
	point, end, ndig := -1, 0, 0
	for ; end < len(body); end++ {
		c := body[end]
		if c >= '0' && c <= '9' {
			ndig++
			continue
		}
		if c == '.' && point < 0 {
			point = end
			continue
		}
		break
	}
	if ndig == 0 {
		return buf, errNumericSyntax
	}
	intDigits, fracDigits := ndig, 0
	if point >= 0 {
		intDigits = point
		fracDigits = ndig - point
	}
	exp := 0
	if end < len(body) {
		if body[end] != 'e' && body[end] != 'E' {
			return buf, errNumericSyntax
		}
		e := body[end+1:]
		// PostgreSQL reads the exponent with strtol, which skips leading whitespace.
		for e != "" && isSpace(e[0]) {
			e = e[1:]
		}
		neg := false
		if e != "" && (e[0] == '+' || e[0] == '-') {
			neg = e[0] == '-'
			e = e[1:]
		}
		if e == "" {
			return buf, errNumericSyntax
		}
		for i := 0; i < len(e); i++ {
			c := e[i]
			if c < '0' || c > '9' {
				return buf, errNumericSyntax
			}
			if exp > 1<<30/10 {
				return buf, errNumericRange
			}
			exp = exp*10 + int(c-'0')
		}
		if neg {
			exp = -exp
		}
		body = body[:end]
	}
	mant := body[:end]

	dscale := fracDigits - exp
	if dscale < 0 {
		dscale = 0
	}
	if dscale > numericMaxDSc {
		return buf, errNumericRange
	}

	// Find the first and last non-zero digits and the decimal weight of the first one.
	digitAt := func(i int) byte { // i-th digit, skipping the point
		if point >= 0 && i >= point {
			return mant[i+1]
		}
		return mant[i]
	}
	first, last := -1, -1
	for i := 0; i < ndig; i++ {
		if digitAt(i) != '0' {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 { // zero: PostgreSQL stores it unsigned, keeping the scale
		return appendNumericHeader(buf, 0, 0, numericPos, uint16(dscale)), nil
	}
	// Decimal weight of digit i is intDigits-1-i+exp.
	dwFirst := intDigits - 1 - first + exp
	dwLast := intDigits - 1 - last + exp
	wFirst, wLast := floorDiv4(dwFirst), floorDiv4(dwLast)
	if wFirst > numericMaxW || wLast < numericMinW || wFirst < numericMinW {
		return buf, errNumericRange
	}
	nd := wFirst - wLast + 1
	buf = appendNumericHeader(buf, nd, int16(wFirst), sign, uint16(dscale))

	var acc int16
	group := wFirst
	for i := first; i <= last; i++ {
		dw := intDigits - 1 - i + exp
		g := floorDiv4(dw)
		for g < group { // flush finished groups, including all-zero ones
			buf = binary.BigEndian.AppendUint16(buf, uint16(acc))
			acc = 0
			group--
		}
		acc += int16(digitAt(i)-'0') * pow10[dw-4*g]
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(acc))
	return buf, nil
}

func appendNumericHeader(buf []byte, ndigits int, weight int16, sign, dscale uint16) []byte {
	buf = binary.BigEndian.AppendUint16(buf, uint16(ndigits))
	buf = binary.BigEndian.AppendUint16(buf, uint16(weight))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	return binary.BigEndian.AppendUint16(buf, dscale)
}

func appendNumericSpecial(buf []byte, sign uint16) []byte {
	return appendNumericHeader(buf, 0, 0, sign, 0)
}

func floorDiv4(x int) int {
	if x >= 0 {
		return x / 4
	}
	return -((-x + 3) / 4)
}

// trimSpace trims the bytes C's isspace accepts, as PostgreSQL's input functions do.
func trimSpace(s string) string {
	for s != "" && isSpace(s[0]) {
		s = s[1:]
	}
	for s != "" && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
