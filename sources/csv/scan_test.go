package csv

import (
	"bufio"
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// FuzzScanner holds the scanner to encoding/csv: same records, same field positions, same
// errors, for any input, delimiter and quote character, except that a CR LF inside a
// quoted field is kept where encoding/csv reads LF. With an escape character, which
// encoding/csv lacks, the records are held to escapedRecords, a plain reference reader.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		"a,b,c\n1,2,3\n",
		"a,\"b,\"\"c\"\"\",d\r\n\r\n\"multi\nline\",x\n",
		"k,v\r\nk4,\"crlf\r\ninside\"\r\n",
		"a,b\"c\n\"open,\n",
		"\"x\"y,z\n",
		"x\r\ny\r",
		"\"a\"\"\n\"\n,\n",
		"a;b\tc|d\n",
		"\"a\r\r\n\"\r\n",
	} {
		f.Add([]byte(s), byte(','), byte('"'), byte('"'))
	}
	f.Add([]byte("a;b;\"c;d\"\n"), byte(';'), byte('"'), byte('"'))
	f.Add([]byte("a\tb\t\"c\"\n"), byte('\t'), byte('"'), byte('"'))
	f.Add([]byte("'it''s',\"x\"\n'a\r\nb',c\n"), byte(','), byte('\''), byte('\''))
	f.Add([]byte("$a,b$,c\n"), byte(','), byte('$'), byte('$'))
	f.Add([]byte("\"say \\\"hi\\\"\",\"back\\\\slash\",\"C:\\dir\"\n\"\\\"\r\n\",x\n"), byte(','), byte('"'), byte('\\'))
	f.Add([]byte("\"a\"\"b\",c\n"), byte(','), byte('"'), byte('\\'))
	f.Fuzz(func(t *testing.T, data []byte, comma, quote, escape byte) {
		if !validDelims(comma, quote, escape) {
			return
		}
		if escape != quote {
			fuzzEscape(t, data, comma, quote, escape)
			return
		}
		// encoding/csv knows only '"': swap it with the quote character everywhere, read,
		// and swap back.
		swap := func(c byte) byte {
			switch c {
			case quote:
				return '"'
			case '"':
				return quote
			}
			return c
		}
		swapped := make([]byte, len(data))
		for i, c := range data {
			swapped[i] = swap(c)
		}
		unswap := func(s string) string {
			b := []byte(s)
			for i, c := range b {
				b[i] = swap(c)
			}
			return string(b)
		}
		want := stdcsv.NewReader(bytes.NewReader(swapped))
		want.Comma, want.FieldsPerRecord, want.ReuseRecord = rune(swap(comma)), -1, true
		got := newScanner(bufio.NewReaderSize(bytes.NewReader(data), 16), comma)
		got.quote, got.escape = quote, quote
		starts := lineStarts(data)
		for n := 0; ; n++ {
			wrec, werr := want.Read()
			grec, gerr := got.Read()
			if !reflect.DeepEqual(werr, gerr) {
				t.Fatalf("record %d: error %v, encoding/csv says %v", n, gerr, werr)
			}
			if len(wrec) != len(grec) {
				t.Fatalf("record %d: %q, encoding/csv says %q", n, grec, wrec)
			}
			for i := range wrec {
				if unswap(wrec[i]) != strings.ReplaceAll(grec[i], "\r\n", "\n") {
					t.Fatalf("record %d field %d: %q, encoding/csv says %q", n, i, grec[i], unswap(wrec[i]))
				}
				if werr == nil && strings.Count(grec[i], "\r\n") != strings.Count(fieldText(data, starts, got, i), "\r\n") {
					t.Fatalf("record %d field %d: %q lost a CR LF of %q", n, i, grec[i], fieldText(data, starts, got, i))
				}
			}
			if werr == nil {
				for i := range wrec {
					wl, wc := want.FieldPos(i)
					gl, gc := got.FieldPos(i)
					if wl != gl || wc != gc {
						t.Fatalf("record %d field %d at %d:%d, encoding/csv says %d:%d", n, i, gl, gc, wl, wc)
					}
				}
			}
			var pe *stdcsv.ParseError
			if werr == io.EOF || (werr != nil && !errors.As(werr, &pe)) {
				return
			}
		}
	})
}

func validDelims(comma, quote, escape byte) bool {
	bad := func(c byte) bool { return c == 0 || c == '\r' || c == '\n' || c >= 0x80 }
	return !bad(comma) && !bad(quote) && !bad(escape) && comma != quote && comma != escape
}

// lineStarts returns the offset in data where each line starts.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// fieldText returns the raw text of field i of the scanner's last record, from its start
// to the next field's start (or, for the last field, to its closing quote), for counting
// its CR LFs.
func fieldText(data []byte, starts []int, s *scanner, i int) string {
	off := func(line, col int) int {
		return min(starts[min(line-1, len(starts)-1)]+col-1, len(data))
	}
	l, c := s.FieldPos(i)
	start := off(l, c)
	var end int
	if i+1 < len(s.pos) {
		l, c := s.FieldPos(i + 1)
		end = off(l, c)
	} else if j := bytes.IndexByte(data[start:], s.quote); j == 0 {
		// A quoted last field runs to its closing quote and the line break after it.
		k := start + 1
		for k < len(data) {
			if data[k] == s.quote {
				if k+1 < len(data) && data[k+1] == s.quote {
					k += 2
					continue
				}
				break
			}
			k++
		}
		end = k
	} else {
		return ""
	}
	return string(data[start:end])
}

// fuzzEscape holds the scanner with an escape character to escapedRecords: the same
// records up to the first error, and an error where the reference has one.
func fuzzEscape(t *testing.T, data []byte, comma, quote, escape byte) {
	want, wantErr := escapedRecords(data, comma, quote, escape)
	got := newScanner(bufio.NewReaderSize(bytes.NewReader(data), 16), comma)
	got.quote, got.escape = quote, escape
	for n := 0; ; n++ {
		rec, err := got.Read()
		if err == io.EOF {
			if n != len(want) || wantErr {
				t.Fatalf("%d records, the reference reads %d (error %v)", n, len(want), wantErr)
			}
			return
		}
		if err != nil {
			if n != len(want) || !wantErr {
				t.Fatalf("record %d: error %v; the reference reads %d records (error %v)", n, err, len(want), wantErr)
			}
			return
		}
		if n >= len(want) || !reflect.DeepEqual(rec, want[n]) {
			var w []string
			if n < len(want) {
				w = want[n]
			}
			t.Fatalf("record %d: %q, the reference reads %q", n, rec, w)
		}
	}
}

// escapedRecords is a plain reader of CSV with an escape character, written for clarity:
// byte by byte, records end at LF (a CR before it dropped) outside quotes, blank lines are
// skipped, a quote opens a field only at its start, and inside quotes the escape
// character escapes a quote or itself and is kept before anything else. It returns the
// records before the first error, and whether there was one.
func escapedRecords(data []byte, comma, quote, escape byte) ([][]string, bool) {
	var recs [][]string
	if n := len(data); n > 0 && data[n-1] == '\r' {
		data = data[:n-1] // a CR before the end, as encoding/csv drops it
	}
	i := 0
	for i < len(data) {
		if data[i] == '\n' || (data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n') {
			i += 1 + int(data[i]&1) // '\r' is odd: skip CR LF; '\n' is even: skip LF
			continue
		}
		var rec []string
		for {
			var f []byte
			if i < len(data) && data[i] == quote {
				i++
				closed := false
				for i < len(data) {
					c := data[i]
					if c == escape && i+1 < len(data) && (data[i+1] == quote || data[i+1] == escape) {
						f = append(f, data[i+1])
						i += 2
						continue
					}
					if c == quote {
						closed = true
						i++
						break
					}
					f = append(f, c)
					i++
				}
				if !closed {
					return recs, true
				}
				switch {
				case i == len(data):
				case data[i] == comma:
				case data[i] == '\n':
				case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
				default:
					return recs, true
				}
			} else {
				for i < len(data) && data[i] != comma && data[i] != '\n' {
					if data[i] == quote {
						return recs, true
					}
					f = append(f, data[i])
					i++
				}
				if i < len(data) && data[i] == '\n' && len(f) > 0 && f[len(f)-1] == '\r' {
					f = f[:len(f)-1]
				}
			}
			rec = append(rec, string(f))
			if i < len(data) && data[i] == comma {
				i++
				continue
			}
			if i < len(data) && data[i] == '\r' {
				i++
			}
			if i < len(data) {
				i++ // the LF
			}
			break
		}
		recs = append(recs, rec)
	}
	return recs, false
}
