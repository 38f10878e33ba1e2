package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
	"github.com/sluice-etl/sluice/sources/csv"
)

// loadCSV loads data, read with cfg's options and schema, into table with sink.
func loadCSV(t *testing.T, sink etl.Loader, data []byte, cfg csv.Config, allowEmpty bool, tr ...etl.Transformer) error {
	t.Helper()
	cfg.Reader = bytes.NewReader(data)
	if cfg.Name == "" {
		cfg.Name = "in.csv"
	}
	src, err := csv.New(cfg)
	require.NoError(t, err)
	_, err = (&etl.Pipeline{Name: "fidelity", Source: src, Sink: sink, Transforms: tr, AllowEmpty: allowEmpty}).Run(context.Background(), etl.Window{})
	return err
}

// lastRun returns the last run record's status, error, rows_rejected and rejects.
func lastRun(t *testing.T, pool *pgxpool.Pool) (status, msg string, rejected int64, rejects string) {
	t.Helper()
	var e *string
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT status, error, rows_rejected, rejects FROM sluice_runs ORDER BY finished_at DESC LIMIT 1`).Scan(&status, &e, &rejected, &rejects))
	if e != nil {
		msg = *e
	}
	return status, msg, rejected, rejects
}

func texts(t *testing.T, pool *pgxpool.Pool, q string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), q)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var s *string
		require.NoError(t, rows.Scan(&s))
		if s == nil {
			out = append(out, "NULL")
		} else {
			out = append(out, *s)
		}
	}
	require.NoError(t, rows.Err())
	return out
}

// A CR LF inside a quoted field is stored byte for byte by every loader.
func TestCRLFInsideQuotesIsKept(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE kv (k text PRIMARY KEY, v text)`)
	require.NoError(t, err)
	data := []byte("k,v\r\nk4,\"crlf\r\ninside\"\r\nk5,\"cr\r\r\nlf\n\"\r\n")
	schema := etl.Schema{{Name: "k", NotNull: true}, {Name: "v"}}
	target := postgres.Target{Pool: db.Pool, Table: "kv"}
	for name, sink := range map[string]etl.Loader{
		"truncate": &postgres.FullRefresh{Target: target, Strategy: postgres.Truncate},
		"delete":   &postgres.FullRefresh{Target: target, Strategy: postgres.Delete},
		"swap":     &postgres.FullRefresh{Target: target, Strategy: postgres.Swap},
		"merge":    &postgres.Merge{Target: postgres.Target{Pool: db.Pool, Table: "kv", Key: []string{"k"}}},
	} {
		_, err := db.Pool.Exec(ctx, `TRUNCATE kv`)
		require.NoError(t, err)
		require.NoError(t, loadCSV(t, sink, data, csv.Config{Schema: schema}, false), name)
		require.Equal(t, []string{"crlf\r\ninside", "cr\r\r\nlf\n"}, texts(t, db.Pool, `SELECT v FROM kv ORDER BY k`), name)
	}
}

// Values PostgreSQL's own input refuses are refused, naming the file, line, column and
// value, and the table keeps its rows: no float squeezed into real, no integer or
// numeric past its type, no lenient syntax.
func TestOutOfRangeAndLenientValuesAreRefused(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE v (id int PRIMARY KEY, r real, d double precision, s smallint, i integer,
		n numeric(5,2), nr real, dt date, ts timestamp)`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "r", Type: etl.TypeFloat64}, {Name: "d", Type: etl.TypeFloat64},
		{Name: "s", Type: etl.TypeInt64}, {Name: "i", Type: etl.TypeInt64}, {Name: "n", Type: etl.TypeNumeric},
		{Name: "nr", Type: etl.TypeNumeric}, {Name: "dt", Type: etl.TypeDate}, {Name: "ts", Type: etl.TypeTimestamp}}
	header := "id,r,d,s,i,n,nr,dt,ts\n"
	good := "1,1.5,2.5,3,4,999.99,0.25,2024-01-01,2024-01-01 00:00:00\n" +
		"2,1e-40,1e-310,-32768,2147483647,999.994,340282350000000000000000000000000000000,0001-01-01,2024-01-01 00:00:00\n"
	sink := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "v"}}
	require.NoError(t, loadCSV(t, sink, []byte(header+good), csv.Config{Schema: schema}, false))
	require.Equal(t, []string{"1.5|999.99|0.25", "1e-40|999.99|3.4028235e+38"}, texts(t, db.Pool, `SELECT r::text||'|'||n::text||'|'||nr::text FROM v ORDER BY id`))
	before := checksum(t, db.Pool, "v")

	row := func(col, val string) string {
		vals := map[string]string{"id": "3", "r": "1", "d": "1", "s": "1", "i": "1", "n": "1", "nr": "1", "dt": "2024-01-01", "ts": "2024-01-01 00:00:00"}
		vals[col] = val
		out := make([]string, 0, 9)
		for _, c := range schema {
			out = append(out, vals[c.Name])
		}
		// A blank line first, so the failing line is not the row's number + 1.
		return "9,1,1,1,1,1,1,2024-01-01,2024-01-01 00:00:00\n\n" + strings.Join(out, ",") + "\n"
	}
	for _, tc := range []struct{ col, val, msg string }{
		{"r", "3.5e38", `out of range for type real (overflow) (value "3.5e+38")`},
		{"r", "1e-50", `out of range for type real (underflow) (value "1e-50")`},
		{"r", "-3.5e38", `out of range for type real (overflow) (value "-3.5e+38")`},
		// Exactly between two reals as a double: the text's own rounding is unknown.
		{"r", "1.000000059604644775390625", "halfway between two values of type real"},
		{"nr", "350000000000000000000000000000000000000", `is out of range for type real`},
		{"nr", "0.00000000000000000000000000000000000000000000000000001", `is out of range for type real`},
		{"s", "32768", "32768 is out of range for smallint"},
		{"i", "-2147483649", "is out of range for integer"},
		{"n", "1000", "numeric field overflow"},
		{"n", "999.995", "numeric field overflow"},
		{"n", "-999.995", "numeric field overflow"},
		{"d", "1e-400", `invalid value for float64: "1e-400" is out of range`},
		{"d", "0x1p-2", `invalid value for float64: "0x1p-2"`},
		{"d", "1_000.5", `invalid value for float64: "1_000.5"`},
		{"dt", "0000-01-01", `invalid value for date: "0000-01-01"`},
		{"ts", "0000-01-01 00:00:00", `invalid value for timestamp`},
	} {
		err := loadCSV(t, sink, []byte(header+good+row(tc.col, tc.val)), csv.Config{Schema: schema}, false)
		require.ErrorContains(t, err, tc.msg, "%s=%s", tc.col, tc.val)
		require.ErrorContains(t, err, "in.csv: line 6", "%s=%s", tc.col, tc.val)
		require.ErrorContains(t, err, fmt.Sprintf("%q", tc.col), "%s=%s", tc.col, tc.val)
		if tc.col != "r" { // a float64 is named as Go formats it, above
			require.ErrorContains(t, err, tc.val, "%s=%s: the value is named", tc.col, tc.val)
		}
		require.Equal(t, before, checksum(t, db.Pool, "v"), "%s=%s", tc.col, tc.val)
	}
}

// A file with no header is malformed, not empty: it fails, AllowEmpty or not, and the
// table keeps its rows.
func TestHeaderlessFileNeverEmptiesTheTable(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE n (id bigint, name text); INSERT INTO n VALUES (1, 'Ann')`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name"}}
	sink := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "n"}}
	for _, data := range []string{"", "\n", "\r\n\r\n", "\ufeff", " \n"} {
		for _, allow := range []bool{false, true} {
			err := loadCSV(t, sink, []byte(data), csv.Config{Schema: schema}, allow)
			require.ErrorIs(t, err, csv.ErrNoHeader, "%q allowEmpty=%v", data, allow)
			require.Equal(t, []string{"Ann"}, texts(t, db.Pool, `SELECT name FROM n`))
		}
	}
	// A header and no rows is an empty extract: refused unless allowed.
	require.ErrorIs(t, loadCSV(t, sink, []byte("id,name\n"), csv.Config{Schema: schema}, false), etl.ErrEmpty)
	require.NoError(t, loadCSV(t, sink, []byte("id,name\n"), csv.Config{Schema: schema}, true))
	require.Empty(t, texts(t, db.Pool, `SELECT name FROM n`))
}

// A timestamp is an instant: a timestamptz column stores it, a timestamp column stores
// its UTC wall-clock time, and a date its own calendar day.
func TestTimestampRule(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE t (id int, ts timestamp, tz timestamptz, d date)`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "ts", Type: etl.TypeTimestamp},
		{Name: "tz", Type: etl.TypeTimestamp}, {Name: "d", Type: etl.TypeDate}}
	data := "id,ts,tz,d\n" +
		"1,2026-02-28 12:00:00+09,2026-02-28 12:00:00+09,2026-02-28\n" +
		"2,2026-02-28 12:00:00,2026-02-28 12:00:00,2026-03-01\n" +
		"3,2026-02-28T23:30:00.123456-05:00,2026-02-28T23:30:00.123456-05:00,2026-12-31\n"
	sink := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "t"}}
	require.NoError(t, loadCSV(t, sink, []byte(data), csv.Config{Schema: schema}, false))
	require.Equal(t, []string{
		"2026-02-28 03:00:00|2026-02-28 03:00:00|2026-02-28",
		"2026-02-28 12:00:00|2026-02-28 12:00:00|2026-03-01",
		"2026-03-01 04:30:00.123456|2026-03-01 04:30:00.123456|2026-12-31",
	}, texts(t, db.Pool, `SELECT ts::text||'|'||(tz AT TIME ZONE 'UTC')::text||'|'||d::text FROM t ORDER BY id`))

	// The same with the source's Location: a value without an offset is read in it.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	require.NoError(t, loadCSV(t, sink, []byte("id,ts,tz,d\n1,2026-02-28 12:00:00,2026-02-28 12:00:00,2026-02-28\n"),
		csv.Config{Schema: schema, Location: tokyo}, false))
	require.Equal(t, []string{"2026-02-28 03:00:00|2026-02-28 03:00:00|2026-02-28"},
		texts(t, db.Pool, `SELECT ts::text||'|'||(tz AT TIME ZONE 'UTC')::text||'|'||d::text FROM t ORDER BY id`))
}

// Errors PostgreSQL raises during the COPY, and the ones the encoder catches first,
// name the file, the line, the column and the value, in the error and in sluice_runs.
func TestServerErrorsNameTheLine(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TYPE mood AS ENUM ('happy', 'sad');
		CREATE TABLE e (id int PRIMARY KEY, code varchar(3), amount numeric(4,1), doc jsonb, note text,
			m mood, pos int CHECK (pos > 0))`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "code"}, {Name: "amount", Type: etl.TypeNumeric},
		{Name: "doc"}, {Name: "note"}, {Name: "m"}, {Name: "pos", Type: etl.TypeInt64}}
	header := "id,code,amount,doc,note,m,pos\n"
	good := "1,abc,123.4,{},\"two\r\nlines\",happy,1\n2,ab  ,1,[],x,sad,2\n" // "ab  " fits: trailing spaces are dropped
	for _, strategy := range []postgres.Strategy{postgres.Truncate, postgres.Delete} {
		sink := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "e"}, Strategy: strategy}
		require.NoError(t, loadCSV(t, sink, []byte(header+good), csv.Config{Schema: schema}, false))
		before := checksum(t, db.Pool, "e")
		for _, tc := range []struct{ bad, col, msg, value string }{
			{"3,abcd,1,{},x,happy,1", "code", "value too long for type character varying(3)", "abcd"},
			{"3,abc,1000,{},x,happy,1", "amount", "numeric field overflow", "1000"},
			{"3,abc,999.95,{},x,happy,1", "amount", "numeric field overflow", "999.95"},
			{"3,abc,1,{x},x,happy,1", "doc", "invalid input syntax for type json", "{x}"},
			{"3,abc,1,{},a\x00b,happy,1", "note", "NUL byte", "a\x00b"},
			// Raised by the server: located by the row number in its COPY context.
			{"3,abc,1,{},x,glad,1", "m", "invalid input value for enum mood", ""},
			{"3,abc,1,\"{\"\"a\"\": \"\"\\u0000\"\"}\",x,happy,1", "doc", "unsupported Unicode escape sequence", ""},
			{"3,abc,1,{},x,happy,0", "", "violates check constraint", ""},
			{"3,abc,1,{},x,happy,-7", "", "Failing row contains (3, abc, 1.0, {}, x, happy, -7)", ""},
		} {
			data := header + good + "\n" + strings.Repeat("4,a,1,{},x,happy,1\n", 0) + tc.bad + "\n"
			err := loadCSV(t, sink, []byte(data), csv.Config{Schema: schema}, false)
			require.Error(t, err, tc.bad)
			msg := err.Error()
			require.Contains(t, msg, "in.csv: line 6: ", tc.bad)
			require.Contains(t, msg, tc.msg, tc.bad)
			if tc.col != "" {
				require.Contains(t, msg, fmt.Sprintf("column %q", tc.col), tc.bad)
			}
			if tc.value != "" {
				require.Contains(t, msg, fmt.Sprintf("%q", tc.value), tc.bad)
			}
			var ve *postgres.ValueError
			require.True(t, errors.As(err, &ve), tc.bad)
			require.Equal(t, "in.csv", ve.Source)
			require.Equal(t, int64(6), ve.Line)
			require.Equal(t, int64(3), ve.Row)
			status, recorded, _, _ := lastRun(t, db.Pool)
			require.Equal(t, "failed", status)
			require.Contains(t, recorded, "in.csv: line 6: ", "sluice_runs names the line too")
			require.Contains(t, recorded, tc.msg)
			require.Equal(t, before, checksum(t, db.Pool, "e"), tc.bad)
		}
	}

	// A value past 64 bytes is cut in the error.
	sink := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "e"}}
	long := strings.Repeat("é", 100)
	err = loadCSV(t, sink, []byte(header+"3,"+long+",1,{},x,happy,1\n"), csv.Config{Schema: schema}, false)
	require.ErrorContains(t, err, `"`+strings.Repeat("é", 32)+`..."`)
	require.NotContains(t, err.Error(), strings.Repeat("é", 33))
}

// The run record and the error agree on the rows rejected, and a cut reject list says how
// many it left out.
func TestRejectCountsAgree(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE g (name text, gender text)`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "name"}, {Name: "gender"}}
	sink := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "g"}}
	valid := etl.Validate(3, func(r etl.Row) error {
		if r[1] != "F" && r[1] != "M" {
			return etl.Reject{Column: "gender", Err: fmt.Errorf("unknown gender %q", r[1])}
		}
		return nil
	})
	err = loadCSV(t, sink, []byte("name,gender\na,F\nb,X\nc,Y\nd,Z\ne,W\nf,M\n"), csv.Config{Schema: schema}, false, valid)
	require.ErrorContains(t, err, "4 rows rejected, more than the 3 allowed")
	_, _, rejected, _ := lastRun(t, db.Pool)
	require.Equal(t, int64(4), rejected)

	var data strings.Builder
	data.WriteString("name,gender\n")
	for i := range 150 {
		fmt.Fprintf(&data, "n%d,F,extra\n", i)
	}
	data.WriteString("ok,M\n")
	require.NoError(t, loadCSV(t, sink, []byte(data.String()), csv.Config{Schema: schema, MaxBadRows: 200}, false))
	_, _, rejected, rejects := lastRun(t, db.Pool)
	require.Equal(t, int64(150), rejected)
	require.Contains(t, rejects, "and 50 more rejected rows not listed")
}

// Each option real exports need, loaded from a file of that shape.
func TestExportShapesLoad(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE x (name text, note text, amount numeric)`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "name"}, {Name: "note"}, {Name: "amount", Type: etl.TypeNumeric}}
	sink := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "x"}}
	utf16le := func(s string) []byte {
		b := []byte{0xff, 0xfe}
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	for _, tc := range []struct {
		name string
		cfg  csv.Config
		data []byte
		want []string
	}{
		{"single quote", csv.Config{Quote: '\''}, []byte("name,note,amount\n'O''Brien, Pat',\"as is\",1\n"), []string{`O'Brien, Pat|"as is"|1`}},
		{"backslash escape", csv.Config{Escape: '\\'}, []byte("name,note,amount\n\"say \\\"hi\\\"\",\"C:\\dir\",2\n"), []string{`say "hi"|C:\dir|2`}},
		{"utf-16", csv.Config{Encoding: unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)},
			utf16le("name,note,amount\r\nZoë,\"日本\r\n語\",3\r\n"), []string{"Zoë|日本\r\n語|3"}},
		{"latin-1", csv.Config{Encoding: charmap.ISO8859_1}, []byte("name,note,amount\nJos\xe9,\xbd,4\n"), []string{"José|½|4"}},
		{"windows-1252", csv.Config{Encoding: charmap.Windows1252}, []byte("name,note,amount\nJos\xe9,\x80,5\n"), []string{"José|€|5"}},
		{"decimal comma", csv.Config{Comma: ';', DecimalComma: true}, []byte("name;note;amount\nA;b;1234,50\n"), []string{"A|b|1234.50"}},
		{"short rows", csv.Config{FillShortRows: true}, []byte("name,note,amount\nA\nB,c,6\n"), []string{"A|NULL|NULL", "B|c|6"}},
	} {
		require.NoError(t, loadCSV(t, sink, tc.data, csv.Config{Schema: schema, Quote: tc.cfg.Quote, Escape: tc.cfg.Escape,
			Encoding: tc.cfg.Encoding, Comma: tc.cfg.Comma, DecimalComma: tc.cfg.DecimalComma, FillShortRows: tc.cfg.FillShortRows}, false), tc.name)
		require.Equal(t, tc.want, texts(t, db.Pool, `SELECT name||'|'||coalesce(note, 'NULL')||'|'||coalesce(amount::text, 'NULL') FROM x ORDER BY name`), tc.name)
	}
	err = loadCSV(t, sink, utf16le("name,note,amount\nA,b,1\n"), csv.Config{Schema: schema}, false)
	require.ErrorContains(t, err, "UTF-16: set Encoding")
	_ = checks.RowCount{}
}

// A fraction of seconds is rounded to microseconds as PostgreSQL's own input rounds it,
// however many digits it has: PostgreSQL reads it as a double and rounds half to even,
// which for ten digits or more is not what exact decimal rounding gives. A decimal comma
// before the fraction is refused, as PostgreSQL refuses it.
func TestFractionsOfSecondsRoundAsPostgreSQLDoes(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE f (id int, tz timestamptz)`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "tz", Type: etl.TypeTimestamp}}
	inputs := []string{
		"2024-01-01 00:00:00.0000005000000000000000000001",
		"2024-01-01 00:00:00.0000025000000000000000001",
		"2024-01-01 00:00:00.00000149999999999999999999",
		"2024-01-01 00:00:00.0000035",
		"2024-01-01 00:00:00.1234565",
		"2024-01-01 00:00:00.123456500",
		"2024-01-01 00:00:00.1234565000001",
		"2024-12-31 23:59:59.99999999999",
		"2024-01-01 00:00:00.5",
	}
	data := "id,tz\n"
	for i, in := range inputs {
		data += fmt.Sprintf("%d,%s+00\n", i, in)
	}
	sink := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "f"}}
	require.NoError(t, loadCSV(t, sink, []byte(data), csv.Config{Schema: schema}, false))
	got := texts(t, db.Pool, `SELECT (tz AT TIME ZONE 'UTC')::text FROM f ORDER BY id`)
	for i, in := range inputs {
		var want string
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT (($1::text)::timestamptz AT TIME ZONE 'UTC')::text`, in+"+00").Scan(&want))
		require.Equal(t, want, got[i], in)
	}

	err = loadCSV(t, sink, []byte("id,tz\n1,\"2024-01-01 00:00:00,5+00\"\n"), csv.Config{Schema: schema}, false)
	require.ErrorContains(t, err, "2024-01-01 00:00:00,5+00")
	_, perr := db.Pool.Exec(ctx, `SELECT '2024-01-01 00:00:00,5+00'::timestamptz`)
	require.Error(t, perr, "PostgreSQL refuses a decimal comma in the seconds")
}
