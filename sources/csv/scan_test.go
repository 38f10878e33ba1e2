package csv

import (
	"bufio"
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzScanner holds the scanner to encoding/csv: same records, same field positions,
// same errors, for any input and delimiter.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		"a,b,c\n1,2,3\n",
		"a,\"b,\"\"c\"\"\",d\r\n\r\n\"multi\nline\",x\n",
		"a,b\"c\n\"open,\n",
		"\"x\"y,z\n",
		"x\r\ny\r",
		"\"a\"\"\n\"\n,\n",
		"a;b\tc|d\n",
	} {
		f.Add([]byte(s), byte(','))
	}
	f.Add([]byte("a;b;\"c;d\"\n"), byte(';'))
	f.Add([]byte("a\tb\t\"c\"\n"), byte('\t'))
	f.Fuzz(func(t *testing.T, data []byte, comma byte) {
		if comma == 0 || comma == '"' || comma == '\r' || comma == '\n' || comma >= 0x80 {
			return
		}
		want := stdcsv.NewReader(bytes.NewReader(data))
		want.Comma, want.FieldsPerRecord, want.ReuseRecord = rune(comma), -1, true
		got := newScanner(bufio.NewReaderSize(bytes.NewReader(data), 16), comma)
		for n := 0; ; n++ {
			wrec, werr := want.Read()
			grec, gerr := got.Read()
			if !reflect.DeepEqual(werr, gerr) {
				t.Fatalf("record %d: error %v, encoding/csv says %v", n, gerr, werr)
			}
			if len(wrec) != len(grec) || (len(wrec) > 0 && !reflect.DeepEqual(wrec, grec)) {
				t.Fatalf("record %d: %q, encoding/csv says %q", n, grec, wrec)
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
