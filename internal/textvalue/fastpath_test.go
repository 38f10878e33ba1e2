package textvalue

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// timestampByDate is Timestamp as it was written before its arithmetic fast path: every
// value built by time.Date.
func (tp *Parser) timestampByDate(s string, loc *time.Location) (time.Time, bool) {
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
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
		if i == start {
			return time.Time{}, false
		}
		// PostgreSQL's rule for any number of digits: rint(strtod("0.fff") * 1e6) whole
		// microseconds; up to nine digits the nanoseconds are kept exactly.
		f, err := strconv.ParseFloat("0."+s[start:i], 64)
		if err != nil {
			return time.Time{}, false
		}
		if i-start > 9 {
			nsec = int(math.RoundToEven(f*1e6)) * 1000
		} else {
			v, _ := strconv.Atoi(s[start:i] + "000000000"[:9-(i-start)])
			nsec = v
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

// FuzzTimestampMatchesTimeDate holds Timestamp to timestampByDate: the same texts
// accepted, the same instant, the same zone offset and the same wall clock.
func FuzzTimestampMatchesTimeDate(f *testing.F) {
	for _, s := range []string{"2024-05-01 12:30:45+00", "2024-05-01T12:30:45.123456Z", "0001-01-01 00:00:00-15:59:59",
		"9999-12-31 23:59:59.999999999+14", "2000-02-29 01:02:03", "1900-02-29 00:00:00", "2024-03-10 02:30:00",
		"1970-01-01 00:00:00,5-0130", "1970-01-01 00:00:00.0000025000000001+01", "2024-12-31 23:59:59.99999999999", "2024-05-01 24:00:00", "0000-01-01 00:00:00"} {
		f.Add(s)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("", -5*3600)
	}
	locs := []*time.Location{time.UTC, time.FixedZone("", 5*3600+1800), ny}
	f.Fuzz(func(t *testing.T, s string) {
		var p, q Parser
		for _, loc := range locs {
			got, ok := p.Timestamp(s, loc)
			want, wantOK := q.timestampByDate(s, loc)
			if ok != wantOK {
				t.Fatalf("%q in %v: accepted %v, time.Date's version %v", s, loc, ok, wantOK)
			}
			if !ok {
				continue
			}
			_, goff := got.Zone()
			_, woff := want.Zone()
			if !got.Equal(want) || goff != woff || got.Format(time.RFC3339Nano) != want.Format(time.RFC3339Nano) ||
				(got.Location() == time.UTC) != (want.Location() == time.UTC) {
				t.Fatalf("%q in %v: %v (offset %d), time.Date's version %v (offset %d)", s, loc, got, goff, want, woff)
			}
		}
	})
}

// TestTimestampMatchesTimeDate compares the two on valid timestamps across the whole
// range of years, with and without a fraction and an offset.
func TestTimestampMatchesTimeDate(t *testing.T) {
	t.Parallel()
	var p, q Parser
	x := uint64(0x5eed)
	for range 200_000 {
		x = x*6364136223846793005 + 1442695040888963407
		sec := int64(x>>20)%(9999*365*86400) - 62135596800 // from year 1
		ts := time.Unix(sec, int64(x%1e9)).UTC()
		layout := []string{"2006-01-02 15:04:05-07", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.000000-0700", "2006-01-02 15:04:05"}[x>>60%4]
		zone := time.FixedZone("", int(x>>8%(2*15*3600))-15*3600)
		s := ts.In(zone).Format(layout)
		got, ok := p.Timestamp(s, time.UTC)
		want, wantOK := q.timestampByDate(s, time.UTC)
		if ok != wantOK || (ok && (!got.Equal(want) || got.Format(time.RFC3339Nano) != want.Format(time.RFC3339Nano))) {
			t.Fatalf("%q: %v %v, time.Date's version %v %v", s, got, ok, want, wantOK)
		}
	}
}

// FuzzInt64MatchesStrconv holds Int64 to strconv.ParseInt(s, 10, 64).
func FuzzInt64MatchesStrconv(f *testing.F) {
	for _, s := range []string{"0", "-0", "+1", "-", "+", "", "123456789012345678", "1234567890123456789", "9223372036854775807",
		"-9223372036854775808", "9223372036854775808", "1_000", " 1", "0x10", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Int64(s)
		want, err := strconv.ParseInt(s, 10, 64)
		if ok != (err == nil) || (ok && got != want) {
			t.Fatalf("%q: %d %v, strconv %d %v", s, got, ok, want, err)
		}
	})
}

// TestDaysMatchesDaysSinceEpoch compares the table version with the arithmetic one on
// every day of the years around the tables, and on their edges.
func TestDaysMatchesDaysSinceEpoch(t *testing.T) {
	t.Parallel()
	for y := 1; y <= 9999; y++ {
		if y > 10 && y < tableYear0-2 || y > tableYear0+len(yearStart)+2 && y < 9990 {
			continue
		}
		for m := 1; m <= 12; m++ {
			for d := 1; d <= daysIn(m, y); d++ {
				if got, want := days(y, m, d), daysSinceEpoch(y, m, d); got != want {
					t.Fatalf("%04d-%02d-%02d: %d, daysSinceEpoch %d", y, m, d, got, want)
				}
			}
		}
	}
}
