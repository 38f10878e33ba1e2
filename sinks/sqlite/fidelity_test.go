package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks"
	"github.com/sluice-etl/sluice/sinks/sqlite"
	"github.com/sluice-etl/sluice/sources/csv"
)

func fidelityDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "f.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// loadCSV loads data, read with cfg, through sink.
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

func texts(t *testing.T, db *sqlite.DB, q string) []string {
	t.Helper()
	rows, err := db.SQL().Query(q)
	require.NoError(t, err)
	defer rows.Close()
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

func lastRun(t *testing.T, db *sqlite.DB) sinks.RunRecord {
	t.Helper()
	runs, err := (&sqlite.State{DB: db}).Runs(context.Background(), "fidelity", 1)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	return runs[0]
}

// A CR LF inside a quoted field is stored byte for byte by every loader.
func TestCRLFInsideQuotesIsKept(t *testing.T) {
	t.Parallel()
	db := fidelityDB(t)
	data := []byte("k,v\r\nk4,\"crlf\r\ninside\"\r\nk5,\"cr\r\r\nlf\n\"\r\n")
	schema := etl.Schema{{Name: "k", NotNull: true}, {Name: "v"}}
	for name, sink := range map[string]etl.Loader{
		"full refresh": &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "kv", Key: []string{"k"}, Create: true}},
		"merge":        &sqlite.Merge{Target: sqlite.Target{DB: db, Table: "kv", Key: []string{"k"}, Create: true}},
	} {
		require.NoError(t, loadCSV(t, sink, data, csv.Config{Schema: schema}, false), name)
		require.Equal(t, []string{"crlf\r\ninside", "cr\r\r\nlf\n"}, texts(t, db, `SELECT v FROM kv ORDER BY k`), name)
	}
}

// Lenient syntax is refused before it reaches the table, naming the line, column and
// value, and the table keeps its rows.
func TestLenientValuesAreRefused(t *testing.T) {
	t.Parallel()
	db := fidelityDB(t)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "d", Type: etl.TypeFloat64}, {Name: "dt", Type: etl.TypeDate}}
	sink := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "v", Create: true}}
	require.NoError(t, loadCSV(t, sink, []byte("id,d,dt\n1,1e-310,0001-01-01\n"), csv.Config{Schema: schema}, false))
	var d float64
	require.NoError(t, db.SQL().QueryRow(`SELECT d FROM v`).Scan(&d))
	require.Equal(t, 1e-310, d, "a subnormal double is kept")
	for _, tc := range []struct{ col, row, msg string }{
		{"d", "2,0x1p-2,2024-01-01", `line 3, column 3 ("d"): invalid value for float64: "0x1p-2"`},
		{"d", "2,1_000.5,2024-01-01", `line 3, column 3 ("d"): invalid value for float64: "1_000.5"`},
		{"d", "2,1e-400,2024-01-01", `line 3, column 3 ("d"): invalid value for float64: "1e-400" is out of range`},
		{"d", "2,1e400,2024-01-01", `line 3, column 3 ("d"): invalid value for float64: "1e400" is out of range`},
		{"dt", "2,1,0000-01-01", `line 3, column 5 ("dt"): invalid value for date: "0000-01-01"`},
	} {
		err := loadCSV(t, sink, []byte("id,d,dt\n\n"+tc.row+"\n"), csv.Config{Schema: schema}, false)
		require.ErrorContains(t, err, "in.csv: "+tc.msg)
		require.Equal(t, []string{"1|0001-01-01"}, texts(t, db, `SELECT id||'|'||dt FROM v`))
	}
}

// A file with no header fails, AllowEmpty or not, and the table keeps its rows.
func TestHeaderlessFileNeverEmptiesTheTable(t *testing.T) {
	t.Parallel()
	db := fidelityDB(t)
	schema := etl.Schema{{Name: "name"}}
	sink := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "n", Create: true}}
	require.NoError(t, loadCSV(t, sink, []byte("name\nAnn\n"), csv.Config{Schema: schema}, false))
	for _, data := range []string{"", "\n", "\r\n\r\n", "\ufeff"} {
		for _, allow := range []bool{false, true} {
			err := loadCSV(t, sink, []byte(data), csv.Config{Schema: schema}, allow)
			require.ErrorIs(t, err, csv.ErrNoHeader, "%q allowEmpty=%v", data, allow)
			require.Equal(t, []string{"Ann"}, texts(t, db, `SELECT name FROM n`))
		}
	}
}

// A timestamp is stored as its UTC time, a date as its own calendar day: the rule
// PostgreSQL's timestamp column follows too.
func TestTimestampRule(t *testing.T) {
	t.Parallel()
	db := fidelityDB(t)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "ts", Type: etl.TypeTimestamp}, {Name: "d", Type: etl.TypeDate}}
	sink := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", Create: true}}
	data := "id,ts,d\n1,2026-02-28 12:00:00+09,2026-02-28\n2,2026-02-28 12:00:00,2026-03-01\n3,2026-02-28T23:30:00.123456-05:00,2026-12-31\n"
	require.NoError(t, loadCSV(t, sink, []byte(data), csv.Config{Schema: schema}, false))
	require.Equal(t, []string{
		"2026-02-28T03:00:00.000000000Z|2026-02-28",
		"2026-02-28T12:00:00.000000000Z|2026-03-01",
		"2026-03-01T04:30:00.123456000Z|2026-12-31",
	}, texts(t, db, `SELECT ts||'|'||d FROM t ORDER BY id`))

	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	require.NoError(t, loadCSV(t, sink, []byte("id,ts,d\n1,2026-02-28 12:00:00,2026-02-28\n"), csv.Config{Schema: schema, Location: tokyo}, false))
	require.Equal(t, []string{"2026-02-28T03:00:00.000000000Z|2026-02-28"}, texts(t, db, `SELECT ts||'|'||d FROM t`))
}

// With a primary key declared on the table but no Key on the sink, a duplicate is the
// unique_key check failing, naming the key and the row, as with PostgreSQL.
func TestDeclaredKeyDuplicateIsTheUniqueKeyFailure(t *testing.T) {
	t.Parallel()
	db := fidelityDB(t)
	_, err := db.SQL().Exec(`CREATE TABLE name_gender (name varchar(32) PRIMARY KEY, gender varchar(8))`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "name", NotNull: true}, {Name: "gender"}}
	for _, tc := range []struct {
		name   string
		checks []checks.Check
		step   string
	}{
		{"with the check", []checks.Check{checks.RowCount{}, checks.UniqueKey("name")}, "check"},
		{"without it", nil, "stage"},
	} {
		sink := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "name_gender", Checks: tc.checks, Create: true}}
		require.NoError(t, loadCSV(t, sink, []byte("name,gender\nAdaleigh,F\n"), csv.Config{Schema: schema}, false))
		err := loadCSV(t, sink, []byte("name,gender\nAnn,F\n\"Bo\nB\",M\nAnn,F\n"), csv.Config{Schema: schema}, false)
		require.Error(t, err, tc.name)
		require.Equal(t, tc.step, etl.Step(err), tc.name)
		require.ErrorContains(t, err, "in.csv: line 5: table name_gender: row 3: duplicate key name=Ann", tc.name)
		var de *sqlite.DuplicateKeyError
		require.True(t, errors.As(err, &de), tc.name)
		require.Equal(t, []string{"name"}, de.Key)
		if tc.step == "check" {
			var ce *checks.Error
			require.True(t, errors.As(err, &ce), tc.name)
			require.Equal(t, "unique_key(name)", ce.Result.Name)
			require.Equal(t, []string{"name=Ann"}, ce.Result.Samples)
		}
		require.Contains(t, lastRun(t, db).Error, "in.csv: line 5", tc.name)
		require.Equal(t, []string{"Adaleigh"}, texts(t, db, `SELECT name FROM name_gender`), tc.name)
	}
}

// The run record and the error agree on the rows rejected, and a cut reject list says how
// many it left out.
func TestRejectCountsAgree(t *testing.T) {
	t.Parallel()
	db := fidelityDB(t)
	schema := etl.Schema{{Name: "name"}, {Name: "gender"}}
	sink := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "g", Create: true}}
	valid := etl.Validate(3, func(r etl.Row) error {
		if r[1] != "F" && r[1] != "M" {
			return etl.Reject{Column: "gender", Err: fmt.Errorf("unknown gender %q", r[1])}
		}
		return nil
	})
	err := loadCSV(t, sink, []byte("name,gender\na,F\nb,X\nc,Y\nd,Z\ne,W\nf,M\n"), csv.Config{Schema: schema}, false, valid)
	require.ErrorContains(t, err, "4 rows rejected, more than the 3 allowed")
	require.Equal(t, int64(4), lastRun(t, db).Stats.RowsRejected)

	var data strings.Builder
	data.WriteString("name,gender\n")
	for i := range 150 {
		fmt.Fprintf(&data, "n%d,F,extra\n", i)
	}
	data.WriteString("ok,M\n")
	require.NoError(t, loadCSV(t, sink, []byte(data.String()), csv.Config{Schema: schema, MaxBadRows: 200}, false))
	rec := lastRun(t, db)
	require.Equal(t, int64(150), rec.Stats.RowsRejected)
	require.Len(t, rec.Rejects, 101)
	require.Equal(t, "... and 50 more rejected rows not listed", rec.Rejects[100])
}

// Each option real exports need, loaded from a file of that shape.
func TestExportShapesLoad(t *testing.T) {
	t.Parallel()
	db := fidelityDB(t)
	schema := etl.Schema{{Name: "name"}, {Name: "note"}, {Name: "amount", Type: etl.TypeNumeric}}
	sink := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "x", Create: true}}
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
		{"dollar quote", csv.Config{Quote: '$', Comma: ';'}, []byte("name;note;amount\n$a;b$;$x$;2\n"), []string{"a;b|x|2"}},
		{"backslash escape", csv.Config{Escape: '\\'}, []byte("name,note,amount\n\"say \\\"hi\\\"\",\"C:\\dir\",2\n"), []string{`say "hi"|C:\dir|2`}},
		{"utf-16", csv.Config{Encoding: unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)},
			utf16le("name,note,amount\r\nZoë,\"日本\r\n語\",3\r\n"), []string{"Zoë|日本\r\n語|3"}},
		{"latin-1", csv.Config{Encoding: charmap.ISO8859_1}, []byte("name,note,amount\nJos\xe9,\xbd,4\n"), []string{"José|½|4"}},
		{"windows-1252", csv.Config{Encoding: charmap.Windows1252}, []byte("name,note,amount\nJos\xe9,\x80,5\n"), []string{"José|€|5"}},
		{"decimal comma", csv.Config{Comma: ';', DecimalComma: true}, []byte("name;note;amount\nA;b;1234,50\n"), []string{"A|b|1234.50"}},
		{"short rows", csv.Config{FillShortRows: true}, []byte("name,note,amount\nA\nB,c,6\n"), []string{"A|NULL|NULL", "B|c|6"}},
	} {
		cfg := tc.cfg
		cfg.Schema = schema
		require.NoError(t, loadCSV(t, sink, tc.data, cfg, false), tc.name)
		require.Equal(t, tc.want, texts(t, db, `SELECT name||'|'||coalesce(note, 'NULL')||'|'||coalesce(amount, 'NULL') FROM x ORDER BY name`), tc.name)
	}
	err := loadCSV(t, sink, utf16le("name,note,amount\nA,b,1\n"), csv.Config{Schema: schema}, false)
	require.ErrorContains(t, err, "UTF-16: set Encoding")
}
