package postgres

import (
	"cmp"
	"strings"
)

// compareDecimal compares two decimal numbers in text form, as PostgreSQL's numeric
// output writes them ("-12.50"), without parsing them into big numbers. Anything else
// compares as text: only values the server produced reach it.
func compareDecimal(a, b string) int {
	an, ai, af, aok := splitDecimal(a)
	bn, bi, bf, bok := splitDecimal(b)
	if !aok || !bok {
		return strings.Compare(a, b)
	}
	if an != bn {
		if an {
			return -1
		}
		return 1
	}
	c := cmp.Compare(len(ai), len(bi))
	if c == 0 {
		c = strings.Compare(ai, bi)
	}
	if c == 0 {
		// Trailing zeros are trimmed, so digit-wise order is numeric order.
		c = strings.Compare(af, bf)
	}
	if an {
		return -c
	}
	return c
}

// splitDecimal splits [-]digits[.digits] into its sign and its integer and fraction
// digits without leading or trailing zeros. Zero is never negative.
func splitDecimal(s string) (neg bool, intPart, frac string, ok bool) {
	if rest, found := strings.CutPrefix(s, "-"); found {
		neg, s = true, rest
	}
	intPart, frac, _ = strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return false, "", "", false
	}
	for _, part := range [2]string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false, "", "", false
			}
		}
	}
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if intPart == "" && frac == "" {
		neg = false
	}
	return neg, intPart, frac, true
}
