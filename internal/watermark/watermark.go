// Package watermark compares cursor values, the values an incremental source keeps the
// highest of as its run's new watermark: timestamps, int64s, decimals (etl.Decimal, by
// numeric value, from their text) and text (by bytes). Sources that read values of one
// column compare them here, so that a watermark moves the same way whichever source
// computed it.
package watermark

import (
	"cmp"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// Compare compares two cursor values of one type: -1, 0 or 1. ok is false when they
// cannot be compared: their types differ, the type is not a cursor's, or a decimal's text
// does not parse. Text compares by bytes; a source whose server orders text by a
// collation must not ask.
func Compare(a, b any) (c int, ok bool) {
	switch a := a.(type) {
	case time.Time:
		if b, ok := b.(time.Time); ok {
			return a.Compare(b), true
		}
	case int64:
		if b, ok := b.(int64); ok {
			return cmp.Compare(a, b), true
		}
	case etl.Decimal:
		if b, ok := b.(etl.Decimal); ok {
			return CompareDecimal(string(a), string(b))
		}
	case string:
		if b, ok := b.(string); ok {
			return strings.Compare(a, b), true
		}
	}
	return 0, false
}

// Greater reports whether a is above b; values that cannot be compared (see [Compare])
// are not.
func Greater(a, b any) bool {
	c, ok := Compare(a, b)
	return ok && c > 0
}

// CompareDecimal compares two decimals by value from their text, in the forms sources
// produce ([+-]digits[.digits], [+-].digits, [+-]digits.), without parsing them into big
// numbers: -1, 0 or 1. ok is false when either does not parse.
func CompareDecimal(a, b string) (c int, ok bool) {
	x, ok1 := parseDecimal(a)
	y, ok2 := parseDecimal(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	if x.neg != y.neg {
		if x.neg {
			return -1, true
		}
		return 1, true
	}
	c = cmp.Compare(len(x.whole), len(y.whole))
	if c == 0 {
		c = strings.Compare(x.whole, y.whole)
	}
	if c == 0 {
		c = strings.Compare(x.frac, y.frac) // no trailing zeros: lexical order is numeric
	}
	if x.neg {
		c = -c
	}
	return c, true
}

// IsDecimal reports whether s is a decimal in a form [CompareDecimal] reads.
func IsDecimal(s string) bool {
	_, ok := parseDecimal(s)
	return ok
}

type decimal struct {
	neg         bool
	whole, frac string // without leading, and trailing, zeros
}

// parseDecimal splits a decimal's text into its sign, its integer digits without leading
// zeros and its fraction without trailing zeros. Zero is never negative.
func parseDecimal(s string) (dec decimal, ok bool) {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		dec.neg = s[0] == '-'
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return dec, false
	}
	for _, part := range [2]string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return dec, false
			}
		}
	}
	dec.whole = strings.TrimLeft(whole, "0")
	dec.frac = strings.TrimRight(frac, "0")
	if dec.whole == "" && dec.frac == "" {
		dec.neg = false // -0 is 0
	}
	return dec, true
}
