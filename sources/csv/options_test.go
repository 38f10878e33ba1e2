package csv_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/csv"
)

// A line break inside a quoted field is kept byte for byte, CR LF included, as
// PostgreSQL's CSV COPY and Python's csv module keep it; the line breaks that end records
// are not data.
func TestLineBreaksInsideQuotesKeepTheirBytes(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "k"}, {Name: "v"}}
	for _, tc := range []struct {
		name, text string
		want       []etl.Row
	}{
		{"crlf", "k,v\r\nk4,\"crlf\r\ninside\"\r\n", []etl.Row{{"k4", "crlf\r\ninside"}}},
		{"lf", "k,v\nk4,\"lf\ninside\"\n", []etl.Row{{"k4", "lf\ninside"}}},
		{"mixed", "k,v\r\na,\"1\r\n2\n3\r\r\n\"\r\nb,\"\r\n\"\n", []etl.Row{{"a", "1\r\n2\n3\r\r\n"}, {"b", "\r\n"}}},
		{"cr alone", "k,v\na,\"x\ry\"\n", []etl.Row{{"a", "x\ry"}}},
		{"long", "k,v\r\na,\"" + string(bytes.Repeat([]byte("0123456789\r\n"), 50000)) + "\"\r\n",
			[]etl.Row{{"a", string(bytes.Repeat([]byte("0123456789\r\n"), 50000))}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, _, err := readString(t, tc.text, schema, csv.Config{})
			require.NoError(t, err)
			require.Equal(t, tc.want, rows)
		})
	}
}

// Each option real exports need, read from a file of that shape.
func TestExportOptions(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "name"}, {Name: "note"}}
	utf16le := func(s string) []byte {
		b := []byte{0xff, 0xfe}
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	utf16be := func(s string) []byte {
		b := []byte{0xfe, 0xff}
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u>>8), byte(u))
		}
		return b
	}
	for _, tc := range []struct {
		name string
		cfg  csv.Config
		data []byte
		want []etl.Row
	}{
		{"single quote", csv.Config{Quote: '\''}, []byte("name,note\n'O''Brien, Pat',\"as is\"\n"),
			[]etl.Row{{"O'Brien, Pat", `"as is"`}}},
		{"dollar quote", csv.Config{Quote: '$', Comma: ';'}, []byte("name;note\n$a;b$;$x\r\ny$\n"),
			[]etl.Row{{"a;b", "x\r\ny"}}},
		{"backslash escape", csv.Config{Escape: '\\'}, []byte("name,note\n\"say \\\"hi\\\"\",\"C:\\dir\\\\file\"\nplain\\,\"\\\\\"\n"),
			[]etl.Row{{`say "hi"`, `C:\dir\file`}, {`plain\`, `\`}}},
		{"utf-16le bom", csv.Config{Encoding: unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)},
			utf16le("name,note\r\nZoë,\"日本\r\n語 😀\"\r\n"), []etl.Row{{"Zoë", "日本\r\n語 😀"}}},
		{"utf-16be bom", csv.Config{Encoding: unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)},
			utf16be("name,note\nZoë,ok\n"), []etl.Row{{"Zoë", "ok"}}},
		{"latin-1", csv.Config{Encoding: charmap.ISO8859_1}, []byte("name,note\nJos\xe9,\x80 stays U+0080\n"),
			[]etl.Row{{"José", "\u0080 stays U+0080"}}},
		{"windows-1252", csv.Config{Encoding: charmap.Windows1252}, []byte("name,note\nJos\xe9,\x80 5\n"),
			[]etl.Row{{"José", "€ 5"}}},
		{"fill short rows", csv.Config{FillShortRows: true}, []byte("name,note\nAnn\nBo,x\n"),
			[]etl.Row{{"Ann", nil}, {"Bo", "x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Reader, tc.cfg.Schema, tc.cfg.Name = bytes.NewReader(tc.data), schema, "in.csv"
			rows, _, err := read(t, tc.cfg)
			require.NoError(t, err)
			require.Equal(t, tc.want, rows)
		})
	}

	num := etl.Schema{{Name: "n", Type: etl.TypeNumeric}, {Name: "f", Type: etl.TypeFloat64}}
	rows, _, err := readString(t, "n;f\n\"1234,56\";-0,5\n-,5;1e3\n", num, csv.Config{Comma: ';', DecimalComma: true})
	require.NoError(t, err)
	require.Equal(t, []etl.Row{{etl.Decimal("1234.56"), -0.5}, {etl.Decimal("-.5"), 1000.0}}, rows)

	for _, tc := range []struct {
		name string
		cfg  csv.Config
		data []byte
		err  error
		msg  string
	}{
		{"utf-16 without Encoding", csv.Config{}, utf16le("name,note\nA,b\n"), csv.ErrUTF16, "in.csv: line 1: UTF-16: set Encoding"},
		{"utf-16be without Encoding", csv.Config{}, utf16be("name,note\nA,b\n"), csv.ErrUTF16, "UTF-16: set Encoding"},
		{"byte windows-1252 lacks", csv.Config{Encoding: charmap.Windows1252}, []byte("name,note\nA,b\x81\n"),
			csv.ErrEncoding, `in.csv: line 2, column 3 ("note"): bytes not valid in the encoding (decoded as U+FFFD) Windows 1252`},
		{"broken surrogate", csv.Config{Encoding: unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)},
			append(utf16le("name,note\nA,"), 0x00, 0xd8, '\n', 0), csv.ErrEncoding, `line 2, column 3 ("note")`},
		{"doubled quote with an escape", csv.Config{Escape: '\\'}, []byte("name,note\n\"a\"\"b\",c\nx,y\n"), csv.ErrQuote, "in.csv: line 2, column 3: extraneous or missing \" in quoted-field"},
		{"decimal comma refuses a point", csv.Config{Comma: ';', DecimalComma: true}, []byte("name;note\nx;1.234,5\n"), nil, ""},
		{"short row, NOT NULL", csv.Config{FillShortRows: true}, []byte("name,note\nAnn\n"), nil, ""},
		{"long row still refused", csv.Config{FillShortRows: true}, []byte("name,note\nA,b,c\n"), csv.ErrFieldCount, "in.csv: line 2, column 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sch := schema
			switch tc.name {
			case "decimal comma refuses a point":
				sch = etl.Schema{{Name: "name"}, {Name: "note", Type: etl.TypeNumeric}}
				tc.err, tc.msg = csv.ErrInvalidValue, `in.csv: line 2, column 3 ("note"): invalid value for numeric: "1.234,5"`
			case "short row, NOT NULL":
				sch = etl.Schema{{Name: "name"}, {Name: "note", NotNull: true}}
				tc.err, tc.msg = csv.ErrNull, `in.csv: line 2 ("note"): NULL in a NOT NULL column (the record has 1 fields and ends before it)`
			}
			tc.cfg.Reader, tc.cfg.Schema, tc.cfg.Name = bytes.NewReader(tc.data), sch, "in.csv"
			_, _, err := read(t, tc.cfg)
			require.ErrorIs(t, err, tc.err)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "a"}}
	for _, tc := range []struct {
		cfg csv.Config
		msg string
	}{
		{csv.Config{Quote: ','}, "invalid delimiter"},
		{csv.Config{Comma: ';', Quote: ';'}, "invalid delimiter"},
		{csv.Config{Quote: '\n'}, "invalid quote"},
		{csv.Config{Quote: 'é'}, "invalid quote"},
		{csv.Config{Escape: ','}, "invalid escape"},
		{csv.Config{DecimalComma: true}, "DecimalComma needs a delimiter other than ','"},
	} {
		tc.cfg.Schema, tc.cfg.Path = schema, "x.csv"
		_, err := csv.New(tc.cfg)
		require.ErrorContains(t, err, tc.msg)
	}
}

// The stream says where each row came from: the input and the line its record starts
// on, across records over several lines, blank lines and rejected rows.
func TestRowsCarryTheirPosition(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "note"}}
	src, err := csv.New(csv.Config{Reader: strings.NewReader("id,note\n1,a\n2,\"b\r\nc\"\n\nx,bad\n3,d\n"), Name: "in.csv",
		Schema: schema, MaxBadRows: 1})
	require.NoError(t, err)
	s, err := src.Extract(context.Background(), etl.NewRun("p", etl.Window{}))
	require.NoError(t, err)
	var got []etl.Position
	for _, err := range s.Rows {
		require.NoError(t, err)
		got = append(got, s.Position())
	}
	require.Equal(t, []etl.Position{{Source: "in.csv", Line: 2}, {Source: "in.csv", Line: 3}, {Source: "in.csv", Line: 7}}, got)
}
