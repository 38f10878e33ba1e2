package csv_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/csv"
)

// read runs a Source over cfg and returns the rows read (cloned), the run and the error.
func read(t *testing.T, cfg csv.Config) ([]etl.Row, *etl.Run, error) {
	t.Helper()
	src, err := csv.New(cfg)
	require.NoError(t, err)
	run := etl.NewRun("test", etl.Window{})
	s, err := src.Extract(context.Background(), run)
	if err != nil {
		return nil, run, err
	}
	rows, err := etl.Collect(s)
	return rows, run, err
}

// readString reads text with schema, and with cfg's other fields.
func readString(t *testing.T, text string, schema etl.Schema, cfg csv.Config) ([]etl.Row, *etl.Run, error) {
	t.Helper()
	cfg.Reader, cfg.Schema = strings.NewReader(text), schema
	if cfg.Name == "" {
		cfg.Name = "in.csv"
	}
	return read(t, cfg)
}

var textSchema = etl.Schema{{Name: "name"}, {Name: "gender"}}

func TestFormatQuirks(t *testing.T) {
	t.Parallel()
	want := []etl.Row{{"Adaleigh", "F"}, {"O'Brien, \"Pat\"", "Unisex"}, {"two\nlines", "M"}}
	body := "name,gender\r\nAdaleigh,F\r\n\"O'Brien, \"\"Pat\"\"\",Unisex\r\n\"two\nlines\",M\r\n"
	cases := map[string]string{
		"crlf":           body,
		"bom":            "\ufeff" + body,
		"trailing blank": body + "\r\n",
		"lf":             strings.ReplaceAll(body, "\r\n", "\n"),
		"no final eol":   strings.TrimSuffix(body, "\r\n"),
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rows, run, err := readString(t, text, textSchema, csv.Config{})
			require.NoError(t, err)
			require.Equal(t, want, rows)
			require.Zero(t, run.Stats().RowsRejected)
		})
	}
}

func TestTypedValues(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{
		{Name: "i", Type: etl.TypeInt64}, {Name: "f", Type: etl.TypeFloat64},
		{Name: "n", Type: etl.TypeNumeric}, {Name: "b", Type: etl.TypeBool},
		{Name: "ts", Type: etl.TypeTimestamp}, {Name: "d", Type: etl.TypeDate},
		{Name: "by", Type: etl.TypeBytes}, {Name: "j", Type: etl.TypeJSON},
		{Name: "t", Type: etl.TypeText},
	}
	text := "t,j,by,d,ts,b,n,f,i\n" + // header order differs from the schema's
		`hi,"{""a"":1}",\x0aff,2024-02-29,2024-06-01 12:30:00.5+02,yes,-12.50,1.5,-42` + "\n" +
		",,,,,,,,\n"
	rows, _, err := readString(t, text, schema, csv.Config{})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	ts := time.Date(2024, 6, 1, 10, 30, 0, 500_000_000, time.UTC)
	r := rows[0]
	require.Equal(t, int64(-42), r[0])
	require.Equal(t, 1.5, r[1])
	require.Equal(t, etl.Decimal("-12.50"), r[2])
	require.Equal(t, true, r[3])
	require.True(t, ts.Equal(r[4].(time.Time)), "got %v", r[4])
	_, off := r[4].(time.Time).Zone()
	require.Equal(t, 2*3600, off)
	require.Equal(t, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), r[5])
	require.Equal(t, []byte{0x0a, 0xff}, r[6])
	require.Equal(t, `{"a":1}`, r[7])
	require.Equal(t, "hi", r[8])
	// Empty fields are NULL, except text, which stays "".
	require.Equal(t, etl.Row{nil, nil, nil, nil, nil, nil, nil, nil, ""}, rows[1])
}

func TestNulls(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name"}}
	cases := []struct {
		name string
		cfg  csv.Config
		text string
		want []etl.Row
	}{
		{"empty text kept", csv.Config{}, "id,name\n,\n", []etl.Row{{nil, ""}}},
		{"empty text null", csv.Config{NullText: true}, "id,name\n,\n", []etl.Row{{nil, nil}}},
		{"backslash N", csv.Config{NullString: `\N`, NullText: true}, "id,name\n\\N,\\N\n1,\n", []etl.Row{{nil, nil}, {int64(1), ""}}},
		{"backslash N text kept", csv.Config{NullString: `\N`}, "id,name\n\\N,\\N\n", []etl.Row{{nil, `\N`}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, _, err := readString(t, tc.text, schema, tc.cfg)
			require.NoError(t, err)
			require.Equal(t, tc.want, rows)
		})
	}
}

func TestHeaderMapping(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name"}}
	cases := []struct {
		name    string
		cfg     csv.Config
		text    string
		want    []etl.Row
		wantErr error
		msg     string
	}{
		{name: "exact", text: "name,id\nx,1\n", want: []etl.Row{{int64(1), "x"}}},
		{name: "spaces trimmed", text: " id , name \n1,x\n", want: []etl.Row{{int64(1), "x"}}},
		{name: "case differs", text: "ID,Name\n1,x\n", wantErr: csv.ErrExtraColumn,
			msg: `in.csv: line 1, column 1 ("ID"): column not in the schema (it differs from the schema's "id" only in case: set CaseInsensitive)`},
		{name: "case differs, extra ignored", cfg: csv.Config{IgnoreExtra: true}, text: "id,NAME\n1,x\n", wantErr: csv.ErrMissingColumn,
			msg: `in.csv: line 1 ("name"): missing column (the header has "NAME", which differs only in case: set CaseInsensitive)`},
		{name: "case insensitive", cfg: csv.Config{CaseInsensitive: true}, text: "ID,Name\n1,x\n", want: []etl.Row{{int64(1), "x"}}},
		{name: "extra column", text: "id,name,age\n1,x,3\n", wantErr: csv.ErrExtraColumn, msg: `in.csv: line 1, column 9 ("age")`},
		{name: "extra ignored", cfg: csv.Config{IgnoreExtra: true}, text: "id,age,name\n1,3,x\n", want: []etl.Row{{int64(1), "x"}}},
		{name: "missing", text: "id\n1\n", wantErr: csv.ErrMissingColumn, msg: `in.csv: line 1 ("name"): missing column`},
		{name: "duplicate", cfg: csv.Config{CaseInsensitive: true}, text: "id,name,NAME\n1,x,y\n", wantErr: csv.ErrDuplicateColumn, msg: `in.csv: line 1, column 9 ("NAME")`},
		{name: "no header", cfg: csv.Config{NoHeader: true}, text: "1,x\n2,y\n", want: []etl.Row{{int64(1), "x"}, {int64(2), "y"}}},
		{name: "no header extra ignored", cfg: csv.Config{NoHeader: true, IgnoreExtra: true}, text: "1,x,z\n", want: []etl.Row{{int64(1), "x"}}},
		{name: "no header short", cfg: csv.Config{NoHeader: true, IgnoreExtra: true}, text: "1\n", wantErr: csv.ErrFieldCount, msg: "in.csv: line 1, column 1: wrong number of fields: 1 fields, the schema has 2"},
		// A file without a header is malformed, not empty: it fails whatever the run allows.
		{name: "empty input", text: "", wantErr: csv.ErrNoHeader, msg: "in.csv: line 1: header missing"},
		{name: "blank lines only", text: "\r\n\n\n", wantErr: csv.ErrNoHeader, msg: "in.csv: line 1: header missing"},
		{name: "blank header", text: " , \n1,x\n", wantErr: csv.ErrNoHeader, msg: "in.csv: line 1: header missing"},
		{name: "bom only", text: "\ufeff", wantErr: csv.ErrNoHeader, msg: "in.csv: line 1: header missing"},
		{name: "no header, empty", cfg: csv.Config{NoHeader: true}, text: "", want: nil},
		{name: "header only", text: "id,name\r\n", want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, _, err := readString(t, tc.text, schema, tc.cfg)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorContains(t, err, tc.msg)
				var pe *csv.ParseError
				require.ErrorAs(t, err, &pe)
				require.Equal(t, "in.csv", pe.File)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, rows)
		})
	}
}

// TestBadData covers every kind of bad row: the error names the file, the line and the
// column, and matches its sentinel.
func TestBadData(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64, NotNull: true}, {Name: "name"}, {Name: "amount", Type: etl.TypeNumeric}}
	head := "id,name,amount\n1,a,1.00\n"
	cases := []struct {
		name    string
		text    string
		wantErr error
		pe      csv.ParseError
		msg     string
	}{
		{"too few fields", head + "2,b\n", csv.ErrFieldCount,
			csv.ParseError{Line: 3, Column: 3},
			"in.csv: line 3, column 3: wrong number of fields: 2 fields, the header has 3"},
		{"too many fields", head + "2,b,3.00,4\n", csv.ErrFieldCount,
			csv.ParseError{Line: 3, Column: 10},
			"in.csv: line 3, column 10: wrong number of fields: 4 fields, the header has 3"},
		{"unterminated quote", head + "2,\"b,3.00\n3,c,4.00\n", csv.ErrQuote,
			csv.ParseError{Line: 3, Column: 3},
			"in.csv: line 3, column 3: quoted field never closed: extraneous or missing \" in quoted-field"},
		{"unterminated quote in a later field", head + "2,b,\"3.00\n3,c,4.00\n", csv.ErrQuote,
			csv.ParseError{Line: 3, Column: 5},
			"in.csv: line 3, column 5: quoted field never closed"},
		{"text after a closing quote", head + "2,\"b\"x,3.00\n3,c,4.00\n", csv.ErrQuote,
			csv.ParseError{Line: 3, Column: 5},
			"in.csv: line 3, column 5: extraneous or missing \" in quoted-field"},
		{"bare quote", head + "2,b\"x,3.00\n", csv.ErrBareQuote,
			csv.ParseError{Line: 3, Column: 4},
			"in.csv: line 3, column 4: bare \" in non-quoted-field"},
		{"invalid utf-8", head + "2,b\xff,3.00\n", csv.ErrInvalidUTF8,
			csv.ParseError{Line: 3, Column: 3, Field: "name"},
			`in.csv: line 3, column 3 ("name"): invalid UTF-8`},
		{"wrong type", head + "2,b,1.2.3\n", csv.ErrInvalidValue,
			csv.ParseError{Line: 3, Column: 5, Field: "amount"},
			`in.csv: line 3, column 5 ("amount"): invalid value for numeric: "1.2.3"`},
		{"wrong type after multi-line field", head + "2,\"b\nc\",x\n", csv.ErrInvalidValue,
			csv.ParseError{Line: 4, Column: 4, Field: "amount"},
			`in.csv: line 4, column 4 ("amount"): invalid value for numeric: "x"`},
		{"null in not null", head + ",b,3.00\n", csv.ErrNull,
			csv.ParseError{Line: 3, Column: 1, Field: "id"},
			`in.csv: line 3, column 1 ("id"): NULL in a NOT NULL column`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, run, err := readString(t, tc.text, schema, csv.Config{})
			require.ErrorIs(t, err, tc.wantErr)
			require.ErrorContains(t, err, tc.msg)
			var pe *csv.ParseError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "in.csv", pe.File)
			require.Equal(t, tc.pe.Line, pe.Line, "line")
			if tc.pe.Column > 0 {
				require.Equal(t, tc.pe.Column, pe.Column, "column")
			}
			require.Equal(t, tc.pe.Field, pe.Field)
			require.Len(t, rows, 1, "the good row before the bad one is yielded")
			require.Zero(t, run.Stats().RowsRejected)
		})
	}
}

func TestMaxBadRows(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name"}}
	text := "id,name\n1,a\nx,b\n3,c\n4\n5,\"e\"x\n6,f\n"
	t.Run("within the limit", func(t *testing.T) {
		t.Parallel()
		rows, run, err := readString(t, text, schema, csv.Config{MaxBadRows: 3})
		require.NoError(t, err)
		require.Equal(t, []etl.Row{{int64(1), "a"}, {int64(3), "c"}, {int64(6), "f"}}, rows)
		st := run.Stats()
		require.EqualValues(t, 3, st.RowsRejected)
		rej := run.Rejects()
		require.Len(t, rej, 3)
		require.Equal(t, etl.Reject{Source: "in.csv", Line: 3, Column: "id", Err: rej[0].Err}, rej[0])
		require.ErrorIs(t, rej[0], csv.ErrInvalidValue)
		require.Equal(t, `in.csv:3: column "id": invalid value for int64: "x"`, rej[0].Error())
		require.EqualValues(t, 5, rej[1].Line)
		require.ErrorIs(t, rej[1], csv.ErrFieldCount)
		require.EqualValues(t, 6, rej[2].Line)
		require.ErrorIs(t, rej[2], csv.ErrQuote)
	})
	t.Run("over the limit", func(t *testing.T) {
		t.Parallel()
		rows, run, err := readString(t, text, schema, csv.Config{MaxBadRows: 1})
		require.ErrorIs(t, err, csv.ErrTooManyBadRows)
		require.ErrorIs(t, err, csv.ErrFieldCount)
		require.ErrorContains(t, err, "too many bad rows (more than 1): in.csv: line 5, column 1")
		require.Len(t, rows, 2)
		require.EqualValues(t, 1, run.Stats().RowsRejected)
	})
	t.Run("an unterminated quote fails whatever the limit", func(t *testing.T) {
		t.Parallel()
		rows, run, err := readString(t, "id,name\n1,a\n2,\"b\n3,c\n4,d\n", schema, csv.Config{MaxBadRows: 10})
		require.ErrorIs(t, err, csv.ErrQuote)
		require.ErrorContains(t, err, "in.csv: line 3, column 3: quoted field never closed")
		require.Len(t, rows, 1)
		require.Zero(t, run.Stats().RowsRejected)
	})
	t.Run("default fails on the first", func(t *testing.T) {
		t.Parallel()
		_, _, err := readString(t, text, schema, csv.Config{})
		require.NotErrorIs(t, err, csv.ErrTooManyBadRows)
		require.ErrorContains(t, err, `in.csv: line 3, column 1 ("id")`)
	})
}

func TestLocalFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := "id,name\n1,a\n2,b\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(plain))
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plain.csv"), []byte(plain), 0o600))
	// Named without .gz: gzip is detected by its magic bytes.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "packed.csv"), gz.Bytes(), 0o600))
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name"}}
	want := []etl.Row{{int64(1), "a"}, {int64(2), "b"}}

	for _, name := range []string{"plain.csv", "packed.csv"} {
		p := filepath.Join(dir, name)
		rows, _, err := read(t, csv.Config{Path: p, Schema: schema})
		require.NoError(t, err, name)
		require.Equal(t, want, rows, name)
		rows, _, err = read(t, csv.Config{Path: "file://" + filepath.ToSlash(p), Schema: schema})
		require.NoError(t, err, name)
		require.Equal(t, want, rows, name)
	}

	src, err := csv.New(csv.Config{Path: filepath.Join(dir, "plain.csv"), Schema: schema})
	require.NoError(t, err)
	require.Equal(t, "file:///"+strings.TrimPrefix(filepath.ToSlash(filepath.Join(dir, "plain.csv")), "/"), src.Datasets()[0].String())

	missing, err := csv.New(csv.Config{Path: filepath.Join(dir, "nope.csv"), Schema: schema})
	require.NoError(t, err)
	_, err = missing.Extract(context.Background(), etl.NewRun("t", etl.Window{}))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "nope.csv")

	// A truncated gzip file is an error naming the file, not a short read.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cut.csv.gz"), gz.Bytes()[:gz.Len()-6], 0o600))
	_, _, err = read(t, csv.Config{Path: filepath.Join(dir, "cut.csv.gz"), Schema: schema})
	var pe *csv.ParseError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, pe.File, "cut.csv.gz")
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "a"}}
	cases := map[string]csv.Config{
		"no schema":     {Path: "x.csv"},
		"no input":      {Schema: schema},
		"both inputs":   {Schema: schema, Path: "x.csv", Reader: strings.NewReader("")},
		"bad type":      {Schema: etl.Schema{{Name: "a", Type: 99}}, Path: "x.csv"},
		"negative max":  {Schema: schema, Path: "x.csv", MaxBadRows: -1},
		"quote comma":   {Schema: schema, Path: "x.csv", Comma: '"'},
		"no bucket":     {Schema: schema, Path: "s3:///key"},
		"no http host":  {Schema: schema, Path: "https:///x.csv"},
		"dup column":    {Schema: etl.Schema{{Name: "a"}, {Name: "a"}}, Path: "x.csv"},
		"remote file:/": {Schema: schema, Path: "file://host/x.csv"},
	}
	for name, cfg := range cases {
		_, err := csv.New(cfg)
		require.Error(t, err, name)
	}
}

// A URL that New rejects is named in the error without its password or query.
func TestConfigErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "a"}}
	for _, path := range []string{
		"https://u:s3cret@host/%zz.csv?sig=t0ken",
		"https://s3cret@/x.csv?sig=t0ken",
		"https://u:pa#s3cret@/x.csv",
		"s3:///key?X-Amz-Signature=t0ken",
		"file://u:s3cret@host/x.csv",
	} {
		_, err := csv.New(csv.Config{Schema: schema, Path: path})
		require.Error(t, err, path)
		require.NotContains(t, err.Error(), "s3cret", path)
		require.NotContains(t, err.Error(), "t0ken", path)
	}
}

func TestLineage(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "a", Type: etl.TypeText}}
	cases := map[string]string{
		"https://user:pw@example.com/data/x.csv?token=secret": "https://example.com/data/x.csv",
		"s3://bucket/exports/x.csv":                           "s3://bucket/exports/x.csv",
		"s3://bucket/exports/":                                "s3://bucket/exports/",
	}
	for path, want := range cases {
		src, err := csv.New(csv.Config{Path: path, Schema: schema})
		require.NoError(t, err)
		ds := src.Datasets()
		require.Len(t, ds, 1)
		require.Equal(t, want, ds[0].String())
		require.Equal(t, schema, ds[0].Schema)
	}
	src, err := csv.New(csv.Config{Reader: strings.NewReader(""), Name: "stdin", Schema: schema})
	require.NoError(t, err)
	require.Equal(t, "stdin", src.Datasets()[0].String())
}

// TestRowReuse checks that the stream reuses its Row, and that a cloned row keeps its
// values after the stream moves on.
func TestRowReuse(t *testing.T) {
	t.Parallel()
	// Enough rows to fill several value slabs; the collected clones must survive both
	// the stream moving on and a collection.
	const n = 5000
	rows, _, err := readString(t, benchText(n), benchSchema, csv.Config{})
	require.NoError(t, err)
	require.Len(t, rows, n)
	runtime.GC()
	want := make([]etl.Row, 0, n)
	for i := range n {
		want = append(want, benchRow(i+1))
	}
	require.Equal(t, want, rows)

	src, err := csv.New(csv.Config{Reader: strings.NewReader(benchText(3)), Schema: benchSchema})
	require.NoError(t, err)
	s, err := src.Extract(context.Background(), nil)
	require.NoError(t, err)
	var first etl.Row
	for row, err := range s.Rows {
		require.NoError(t, err)
		if first == nil {
			first = row
		} else {
			require.Same(t, &first[0], &row[0], "the Row slice is reused")
		}
	}
}

func TestReaderIsSingleUse(t *testing.T) {
	t.Parallel()
	src, err := csv.New(csv.Config{Reader: strings.NewReader("a\nx\n"), Schema: etl.Schema{{Name: "a"}}})
	require.NoError(t, err)
	for i := range 2 {
		s, err := src.Extract(context.Background(), nil)
		require.NoError(t, err)
		rows, err := etl.Collect(s)
		if i == 0 {
			require.NoError(t, err)
			require.Len(t, rows, 1)
		} else {
			require.ErrorContains(t, err, "single-use")
		}
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := csv.New(csv.Config{Reader: strings.NewReader(benchText(10_000)), Schema: benchSchema})
	require.NoError(t, err)
	s, err := src.Extract(ctx, nil)
	require.NoError(t, err)
	n := 0
	for _, err := range s.Rows {
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
			break
		}
		n++
		if n == 10 {
			cancel()
		}
	}
	require.Less(t, n, 10+1024+1, "stops within one check interval of the cancel")
}

func TestEarlyStopClosesInput(t *testing.T) {
	t.Parallel()
	rc := &closeRecorder{Reader: strings.NewReader("a\nx\ny\n")}
	src, err := csv.New(csv.Config{Reader: rc, Schema: etl.Schema{{Name: "a"}}})
	require.NoError(t, err)
	s, err := src.Extract(context.Background(), nil)
	require.NoError(t, err)
	for range s.Rows {
		break
	}
	require.True(t, rc.closed)
}

type closeRecorder struct {
	*strings.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestErrorsAreParseErrors(t *testing.T) {
	t.Parallel()
	// A read error mid-stream names the file and the line being read.
	r := &failingReader{data: []byte("a\nx\ny\n"), err: errors.New("disk on fire")}
	_, _, err := read(t, csv.Config{Reader: r, Name: "f.csv", Schema: etl.Schema{{Name: "a"}}})
	var pe *csv.ParseError
	require.ErrorAs(t, err, &pe)
	require.ErrorContains(t, err, "f.csv: line 4: disk on fire")
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// endless yields head once, then body forever, counting the bytes read.
type endless struct {
	head, body string
	n          int
}

func (e *endless) Read(p []byte) (int, error) {
	var n int
	if e.head != "" {
		n = copy(p, e.head)
		e.head = e.head[n:]
	} else {
		for n < len(p) {
			n += copy(p[n:], e.body)
		}
	}
	e.n += n
	return n, nil
}

// A quote left open, or a line without end, fails once the record passes
// MaxRecordBytes, instead of reading the rest of the input into memory: here the input
// never ends, so the test could not finish without the bound.
func TestMaxRecordBytes(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	for _, c := range []struct {
		name, head, body, want string
	}{
		{"open quote", "name,gender\nA,F\n\"B,M\n", "C,F\n", `in.csv: line 3: record too long: over 1048576 bytes since the quote at line 3, column 1 (is it closed?)`},
		{"endless line", "name,gender\nA,F\n", "xxxxxxxx", `in.csv: line 3: record too long: over 1048576 bytes`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := &endless{head: c.head, body: c.body}
			rows, _, err := read(t, csv.Config{Reader: in, Name: "in.csv", Schema: textSchema, MaxRecordBytes: limit, MaxBadRows: 10})
			require.ErrorIs(t, err, csv.ErrRecordTooLong)
			require.EqualError(t, err, c.want)
			require.Equal(t, []etl.Row{{"A", "F"}}, rows)
			require.Less(t, in.n, limit+(1<<20), "read about MaxRecordBytes and a buffer, no more")
		})
	}

	// The default is generous, and a negative bound lifts it.
	long := strings.Repeat("y", 3<<20)
	for _, max := range []int{0, -1} {
		rows, _, err := readString(t, "name,gender\n\""+long+"\",F\n", textSchema, csv.Config{MaxRecordBytes: max})
		require.NoError(t, err)
		require.Equal(t, []etl.Row{{long, "F"}}, rows)
	}
	_, _, err := readString(t, "name,gender\n\""+long+"\",F\n", textSchema, csv.Config{MaxRecordBytes: 1 << 20})
	require.ErrorIs(t, err, csv.ErrRecordTooLong)
}

// Credentials in an s3:// URL are refused, the AWS chain being the way to give them, and
// a presigned query is never printed: not in errors, logs or lineage.
func TestURLSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "a"}}
	for path, want := range map[string]error{
		"s3://AKIAEXAMPLE:s3cret@bucket/key.csv":                                 csv.ErrCredentials,
		"s3://AKIAEXAMPLE@bucket/key.csv":                                        csv.ErrCredentials,
		"s3://bucket/key.csv?X-Amz-Signature=t0ken&X-Amz-Credential=AKIAEXAMPLE": csv.ErrSignedS3URL,
		"S3://bucket/key.csv?x-amz-security-token=t0ken":                         csv.ErrSignedS3URL,
	} {
		_, err := csv.New(csv.Config{Schema: schema, Path: path})
		require.ErrorIs(t, err, want, path)
		for _, secret := range []string{"s3cret", "t0ken", "AKIAEXAMPLE"} {
			require.NotContains(t, err.Error(), secret, path)
		}
	}
	// An S3 key may hold "?" of its own.
	src, err := csv.New(csv.Config{Schema: schema, Path: "s3://bucket/odd?name.csv"})
	require.NoError(t, err)
	require.Equal(t, "s3://bucket/odd?name.csv", src.Datasets()[0].String())

	// A presigned https URL: the signature reaches the server, and nothing printed.
	var logs bytes.Buffer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("X-Amz-Signature") != "t0ken" {
			t.Errorf("the signature did not reach the server: %s", r.URL)
		}
		http.Error(w, "denied", http.StatusForbidden)
	}))
	defer srv.Close()
	u := srv.URL + "/bucket/k.csv?X-Amz-Credential=AKIAEXAMPLE%2F20260101&X-Amz-Security-Token=t0ken&X-Amz-Signature=t0ken"
	src, err = csv.New(csv.Config{Schema: schema, Path: u, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	_, _, err = read(t, csv.Config{Schema: schema, Path: u, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.ErrorContains(t, err, "403")
	for _, text := range []string{err.Error(), logs.String(), src.Datasets()[0].String()} {
		require.NotContains(t, text, "t0ken")
		require.NotContains(t, text, "AKIAEXAMPLE")
	}
}
