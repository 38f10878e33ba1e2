package httpjson

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

// decoded is what decodePage read: the rows (cloned), the bad records and the page info.
type decoded struct {
	rows []etl.Row
	bad  []*fieldError
	info pageInfo
}

// decodePage reads body with the columns cols, records at recordsPath ("" for a bare
// array), the next link at nextPath, and NDJSON when ndjson is set. It reads through a
// one-byte reader when tiny is set, so that every token straddles a refill.
func decodePage(t testing.TB, cols []column, recordsPath, nextPath string, ndjson, tiny bool, body string) (decoded, error) {
	t.Helper()
	dec, err := newRecordDecoder(cols)
	require.NoError(t, err)
	p := &pageDecoder{ndjson: ndjson}
	if recordsPath != "" {
		tr := newTree()
		n, err := tr.add(recordsPath)
		require.NoError(t, err)
		n.what = pageRecords
		if nextPath != "" {
			n, err := tr.add(nextPath)
			require.NoError(t, err)
			n.what = pageNext
		}
		p.shape, p.seen = tr, make([]bool, tr.nodes)
	}
	var src = strings.NewReader(body)
	r := newReader(src, 1<<20)
	if tiny {
		r = newReader(iotest.OneByteReader(src), 1<<20)
	}
	var out decoded
	p.decode = func(int) (*fieldError, error) { return dec.decode(r) }
	p.emit = func(_ int, fe *fieldError) error {
		if fe != nil {
			out.bad = append(out.bad, fe)
			return nil
		}
		out.rows = append(out.rows, dec.row.Clone())
		return nil
	}
	out.info, err = p.read(r)
	return out, err
}

func TestValues(t *testing.T) {
	t.Parallel()
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return v
	}
	tests := []struct {
		name  string
		typ   etl.Type
		json  string // the field's JSON value
		want  any
		isErr error // the field's error, instead of want
	}{
		{"int", etl.TypeInt64, `42`, int64(42), nil},
		{"negative int", etl.TypeInt64, `-9223372036854775808`, int64(-9223372036854775808), nil},
		{"int from string", etl.TypeInt64, `"+17"`, int64(17), nil},
		{"int out of range", etl.TypeInt64, `9223372036854775808`, nil, ErrInvalidValue},
		{"int with a fraction", etl.TypeInt64, `1.5`, nil, ErrInvalidValue},
		{"int with a zero fraction", etl.TypeInt64, `1.0`, nil, ErrInvalidValue},
		{"int with an exponent", etl.TypeInt64, `1e3`, nil, ErrInvalidValue},
		{"int from bool", etl.TypeInt64, `true`, nil, ErrInvalidValue},
		{"int from object", etl.TypeInt64, `{"a":1}`, nil, ErrInvalidValue},
		{"int from bad string", etl.TypeInt64, `"12a"`, nil, ErrInvalidValue},
		{"float", etl.TypeFloat64, `0.1`, 0.1, nil},
		{"float exponent", etl.TypeFloat64, `-2.5E-3`, -0.0025, nil},
		{"float overflow", etl.TypeFloat64, `1e400`, nil, ErrInvalidValue},
		{"float underflow", etl.TypeFloat64, `1e-400`, nil, ErrInvalidValue},
		{"float zero", etl.TypeFloat64, `0e-400`, 0.0, nil},
		{"float NaN from string", etl.TypeFloat64, `"NaN"`, nil, nil}, // checked below
		{"numeric keeps digits", etl.TypeNumeric, `12345678901234567890.000000000000000001`, etl.Decimal("12345678901234567890.000000000000000001"), nil},
		{"numeric exponent", etl.TypeNumeric, `1.5e3`, etl.Decimal("1500"), nil},
		{"numeric exponent scale", etl.TypeNumeric, `1.50e1`, etl.Decimal("15.0"), nil},
		{"numeric small exponent", etl.TypeNumeric, `-2.50E-2`, etl.Decimal("-0.0250"), nil},
		{"numeric zero exponent", etl.TypeNumeric, `0e5`, etl.Decimal("0"), nil},
		{"numeric huge exponent", etl.TypeNumeric, `1e100000`, nil, ErrInvalidValue},
		{"numeric from string", etl.TypeNumeric, `"12.50"`, etl.Decimal("12.50"), nil},
		{"numeric string exponent refused", etl.TypeNumeric, `"1e3"`, nil, ErrInvalidValue},
		{"bool", etl.TypeBool, `false`, false, nil},
		{"bool from string", etl.TypeBool, `"yes"`, true, nil},
		{"bool from 1", etl.TypeBool, `1`, true, nil},
		{"bool from 2", etl.TypeBool, `2`, nil, ErrInvalidValue},
		{"timestamp", etl.TypeTimestamp, `"2026-02-28T12:00:00+09:00"`, ts("2026-02-28T03:00:00Z"), nil},
		{"timestamp pg form", etl.TypeTimestamp, `"2026-02-28 12:00:00.5"`, ts("2026-02-28T12:00:00.5Z"), nil},
		{"timestamp bad", etl.TypeTimestamp, `"2026-02-30T12:00:00Z"`, nil, ErrInvalidValue},
		{"timestamp number", etl.TypeTimestamp, `1767225600`, nil, ErrInvalidValue},
		{"date", etl.TypeDate, `"2024-02-29"`, ts("2024-02-29T00:00:00Z"), nil},
		{"date bad", etl.TypeDate, `"2023-02-29"`, nil, ErrInvalidValue},
		{"text", etl.TypeText, `"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t"`, "café 😀 \"q\" \\ / \b\f\n\r\t", nil},
		{"text from number keeps its digits", etl.TypeText, `12345678901234567890`, "12345678901234567890", nil},
		{"text from bool", etl.TypeText, `true`, "true", nil},
		{"text from array", etl.TypeText, `[1]`, nil, ErrInvalidValue},
		{"text lone surrogate", etl.TypeText, `"a\ud800b"`, nil, ErrInvalidUTF8},
		{"text reversed surrogates", etl.TypeText, `"\udc00\ud800"`, nil, ErrInvalidUTF8},
		{"text invalid utf8", etl.TypeText, "\"a\xffb\"", nil, ErrInvalidUTF8},
		{"bytes hex", etl.TypeBytes, `"\\x00ff"`, []byte{0, 0xff}, nil},
		{"json object kept as written", etl.TypeJSON, `{ "a" : [1, 2.50e0] }`, `{ "a" : [1, 2.50e0] }`, nil},
		{"json string", etl.TypeJSON, `"x"`, `"x"`, nil},
		{"json null is NULL", etl.TypeJSON, `null`, nil, nil},
		{"null", etl.TypeInt64, `null`, nil, nil},
	}
	for _, tt := range tests {
		for _, tiny := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				cols := []column{{name: "v", path: "v", typ: tt.typ}}
				got, err := decodePage(t, cols, "", "", false, tiny, `[{"v":`+tt.json+`}]`)
				require.NoError(t, err)
				if tt.isErr != nil {
					require.Len(t, got.bad, 1)
					require.ErrorIs(t, got.bad[0].err, tt.isErr)
					require.Equal(t, "v", got.bad[0].path)
					return
				}
				require.Empty(t, got.bad)
				require.Len(t, got.rows, 1)
				if tt.name == "float NaN from string" {
					f, ok := got.rows[0][0].(float64)
					require.True(t, ok && f != f, "want NaN, got %v", got.rows[0][0])
					return
				}
				if want, ok := tt.want.(time.Time); ok {
					require.True(t, want.Equal(got.rows[0][0].(time.Time)), "got %v", got.rows[0][0])
					return
				}
				require.Equal(t, tt.want, got.rows[0][0])
			})
		}
	}
}

func TestRecords(t *testing.T) {
	t.Parallel()
	cols := []column{
		{name: "id", path: "id", typ: etl.TypeInt64, notNull: true},
		{name: "user_id", path: "user.id", typ: etl.TypeText},
		{name: "city", path: "user.address.city", typ: etl.TypeText},
	}
	body := `{"meta":{"skip":[1,{"x":"}"}]},"data":[
		{"id":1,"user":{"id":"u1","address":{"city":"Oslo"}},"extra":{"deep":[[]]}},
		{"id":2,"user":null},
		{"id":3},
		{"id":4,"user":{"id":7,"address":null}},
		{"id":5,"user":5},
		{"id":6,"id":7},
		{"user":{"id":"u"}},
		{"id":null},
		[1,2],
		{"id":8,"user":{"id":"a"},"user":{"id":"b"}}
	],"links":{"next":"/p?page=2"}}`
	for _, tiny := range []bool{false, true} {
		got, err := decodePage(t, cols, "data", "links.next", false, tiny, body)
		require.NoError(t, err)
		require.Equal(t, []etl.Row{
			{int64(1), "u1", "Oslo"},
			{int64(2), nil, nil},
			{int64(3), nil, nil},
			{int64(4), "7", nil},
		}, got.rows)
		require.Equal(t, pageInfo{records: 10, next: "/p?page=2", found: true}, got.info)
		require.Len(t, got.bad, 6)
		require.ErrorIs(t, got.bad[0].err, ErrNotObject) // user is 5
		require.Equal(t, "user", got.bad[0].path)
		require.ErrorIs(t, got.bad[1].err, ErrDuplicateField)
		require.Equal(t, "id", got.bad[1].path)
		require.ErrorIs(t, got.bad[2].err, ErrNull) // missing
		require.ErrorIs(t, got.bad[3].err, ErrNull) // null
		require.ErrorIs(t, got.bad[4].err, ErrNotObject)
		require.Equal(t, -1, got.bad[4].col)
		require.ErrorIs(t, got.bad[5].err, ErrDuplicateField)
	}
}

func TestPageShapes(t *testing.T) {
	t.Parallel()
	cols := []column{{name: "id", path: "id", typ: etl.TypeInt64}}
	tests := []struct {
		name, records, body string
		rows                int
		err                 error
	}{
		{"bare array", "", ` [ {"id":1} , {"id":2} ] `, 2, nil},
		{"empty array", "", `[]`, 0, nil},
		{"nested path", "result.items", `{"result":{"count":1,"items":[{"id":1}]}}`, 1, nil},
		{"null records", "data", `{"data":null}`, 0, nil},
		{"missing records", "data", `{"error":"quota"}`, 0, ErrNoRecords},
		{"records not an array", "data", `{"data":{"id":1}}`, 0, ErrNoRecords},
		{"object when an array is wanted", "", `{"data":[]}`, 0, ErrNoRecords},
		{"empty body", "", ``, 0, ErrNoRecords},
		{"records twice", "data", `{"data":[],"data":[]}`, 0, ErrSyntax},
		{"trailing garbage", "", `[{"id":1}] x`, 1, ErrSyntax},
		{"two documents", "", `[] []`, 0, ErrSyntax},
		{"truncated", "", `[{"id":1},{"id":`, 1, ErrSyntax},
		{"trailing comma", "", `[{"id":1},]`, 1, ErrSyntax},
		{"single quotes", "", `[{'id':1}]`, 0, ErrSyntax},
		{"leading zero", "", `[{"id":01}]`, 0, ErrSyntax},
		{"bare control char", "", "[{\"id\":\"a\tb\"}]", 0, ErrSyntax},
		{"bad escape", "", `[{"x":"\q"}]`, 0, ErrSyntax},
		{"bad literal", "", `[{"x":tru}]`, 0, ErrSyntax},
		{"unclosed string", "", `[{"x":"abc`, 0, ErrSyntax},
	}
	for _, tt := range tests {
		for _, tiny := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				got, err := decodePage(t, cols, tt.records, "", false, tiny, tt.body)
				if tt.err != nil {
					require.ErrorIs(t, err, tt.err)
				} else {
					require.NoError(t, err)
				}
				require.Len(t, got.rows, tt.rows)
			})
		}
	}
}

func TestNDJSON(t *testing.T) {
	t.Parallel()
	cols := []column{{name: "id", path: "id", typ: etl.TypeInt64}, {name: "n", path: "n", typ: etl.TypeText}}
	body := "{\"id\":1,\"n\":\"a\"}\r\n" +
		"\n" +
		"  {\"id\":2}  \n" +
		"{\"id\":3,\"n\":\"unclosed}\n" + // line 4: not JSON, rejected, reading goes on
		"{\"id\":\n4}\n" + // a record may not span lines: line 5 bad, line 6 bad
		"{\"id\":\"x\"}\n" + // line 7: a bad value
		"{\"id\":7} {\"id\":8}\n" + // line 8: two records on a line
		"{\"id\":9}" // no final newline
	for _, tiny := range []bool{false, true} {
		got, err := decodePage(t, cols, "", "", true, tiny, body)
		require.NoError(t, err)
		require.Equal(t, []etl.Row{{int64(1), "a"}, {int64(2), nil}, {int64(9), nil}}, got.rows)
		require.Len(t, got.bad, 5)
		for i, b := range got.bad {
			if i == 3 {
				require.ErrorIs(t, b.err, ErrInvalidValue)
				continue
			}
			require.ErrorIs(t, b.err, ErrSyntax, "bad record %d", i)
		}
	}
}

func TestLongValues(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200000) // 400 kB, past the read buffer
	cols := []column{{name: "s", path: "s"}, {name: "j", path: "j", typ: etl.TypeJSON}}
	body := `[{"s":"` + long + `","j":["` + long + `"]},{"s":"\u00e9` + long + `"}]`
	got, err := decodePage(t, cols, "", "", false, false, body)
	require.NoError(t, err)
	require.Equal(t, []etl.Row{{long, `["` + long + `"]`}, {"é" + long, nil}}, got.rows)

	// Past MaxValueBytes, the page fails.
	dec, err := newRecordDecoder(cols)
	require.NoError(t, err)
	r := newReader(strings.NewReader(body), 100000)
	p := &pageDecoder{decode: func(int) (*fieldError, error) { return dec.decode(r) }, emit: func(int, *fieldError) error { return nil }}
	_, err = p.read(r)
	require.ErrorIs(t, err, ErrValueTooLong)
}

func TestPlainDecimal(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0":          "0",
		"-0.0":       "-0.0",
		"1E0":        "1",
		"1e+2":       "100",
		"12.34e1":    "123.4",
		"12.34e-1":   "1.234",
		"12.34e-2":   "0.1234",
		"12.34e-4":   "0.001234",
		"-0.5e1":     "-5",
		"0.05e1":     "0.5",
		"100e-2":     "1.00",
		"5e-1":       "0.5",
		"-1.2300e10": "-12300000000",
	} {
		got, ok := plainDecimal([]byte(in))
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
}

func TestParseLinks(t *testing.T) {
	t.Parallel()
	h := map[string][]string{"Link": {
		`<https://api.example.com/x?page=1>; rel="prev first", <https://api.example.com/x?page=3&a=b,c>; title="a, \"b\""; rel=next`,
	}}
	require.Equal(t, "https://api.example.com/x?page=3&a=b,c", nextLink(h))
	require.Equal(t, "", nextLink(map[string][]string{"Link": {`<https://x>; rel="last"`}}))
	require.Equal(t, "/p2", nextLink(map[string][]string{"Link": {`garbage, </p2>; REL="Next"`}}))
}

func TestReaderInputError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	cols := []column{{name: "id", path: "id", typ: etl.TypeInt64}}
	dec, err := newRecordDecoder(cols)
	require.NoError(t, err)
	r := newReader(iotest.TimeoutReader(strings.NewReader(`[{"id":1},{"id":2}]`)), 1<<20)
	r.src = &failAfter{s: `[{"id":1},{"id":`, err: boom}
	n := 0
	p := &pageDecoder{
		decode: func(int) (*fieldError, error) { return dec.decode(r) },
		emit:   func(int, *fieldError) error { n++; return nil },
	}
	_, err = p.read(r)
	var re *readError
	require.ErrorAs(t, err, &re)
	require.ErrorIs(t, err, boom)
	require.Equal(t, 1, n)
}

type failAfter struct {
	s   string
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.s == "" {
		return 0, f.err
	}
	n := copy(p, f.s)
	f.s = f.s[n:]
	return n, nil
}
