package postgres_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sources/postgres"
)

func exec(t testing.TB, db *pgtest.DB, sql string, args ...any) {
	t.Helper()
	_, err := db.Pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

func newSource(t testing.TB, db *pgtest.DB, cfg postgres.Config) *postgres.Source {
	t.Helper()
	src, err := postgres.New(db.Pool, cfg)
	require.NoError(t, err)
	return src
}

// read extracts and collects a whole stream.
func read(t testing.TB, src etl.Extractor, run *etl.Run) (etl.Schema, []etl.Row, error) {
	t.Helper()
	s, err := src.Extract(context.Background(), run)
	if err != nil {
		return nil, nil, err
	}
	var rows []etl.Row
	for row, err := range s.Rows {
		if err != nil {
			return s.Schema, rows, err
		}
		rows = append(rows, clone(row))
	}
	return s.Schema, rows, nil
}

// clone copies a row like etl.Row.Clone, but keeps an empty []byte empty (not NULL).
func clone(r etl.Row) etl.Row {
	c := make(etl.Row, len(r))
	for i, v := range r {
		if b, ok := v.([]byte); ok {
			v = append([]byte{}, b...)
		}
		c[i] = v
	}
	return c
}

func ids(rows []etl.Row) []int64 {
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[0].(int64))
	}
	return out
}

func requireNoLeak(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	require.Zero(t, pool.Stat().AcquiredConns(), "the stream must give its connection back")
}

var base = time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)

func at(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }

func TestFullExtractionYieldsExactValuesOfEverySupportedType(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	exec(t, db, `CREATE TYPE mood AS ENUM ('sad', 'happy')`)
	exec(t, db, `CREATE TABLE everything (
		i2 smallint, i4 integer, i8 bigint, num numeric(20,4), num_free numeric,
		f4 real, f8 double precision, b boolean, t text, vc varchar(10), bc char(5),
		ts timestamp, tstz timestamptz, d date, by bytea, j json, jb jsonb, u uuid,
		m mood, iv interval, o oid)`)
	exec(t, db, `INSERT INTO everything VALUES
		(-32768, 2147483647, 9223372036854775807, 12345678901234.5678, 0.000000000000000000001,
		 1.5, 0.1, true, 'héllo "q" ''x''', 'abc', 'ab', '2024-02-29 13:45:56.123456',
		 '2024-02-29 13:45:56.123456+02', '1999-12-31', '\x00ff10', '{"a": [1, 2]}',
		 '{"b": 1, "a": 2}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', '1 day 02:00:00', 4294967295),
		(32767, -2147483648, -9223372036854775808, -0.5000, 99999999999999999999.99999,
		 -3.25, -1e300, false, '', '', '', '1900-01-01 00:00:00.000001',
		 '1969-07-20 20:17:40.5+00', '0001-01-01', '\x', 'null', '[]',
		 '00000000-0000-0000-0000-000000000000', 'sad', '-00:00:01', 0),
		(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)

	schema, rows, err := read(t, newSource(t, db, postgres.Config{Table: "everything"}), etl.NewRun("p", etl.Window{}))
	require.NoError(t, err)
	require.Equal(t, etl.Schema{
		{Name: "i2", Type: etl.TypeInt64}, {Name: "i4", Type: etl.TypeInt64}, {Name: "i8", Type: etl.TypeInt64},
		{Name: "num", Type: etl.TypeNumeric}, {Name: "num_free", Type: etl.TypeNumeric},
		{Name: "f4", Type: etl.TypeFloat64}, {Name: "f8", Type: etl.TypeFloat64}, {Name: "b", Type: etl.TypeBool},
		{Name: "t", Type: etl.TypeText}, {Name: "vc", Type: etl.TypeText}, {Name: "bc", Type: etl.TypeText},
		{Name: "ts", Type: etl.TypeTimestamp}, {Name: "tstz", Type: etl.TypeTimestamp}, {Name: "d", Type: etl.TypeDate},
		{Name: "by", Type: etl.TypeBytes}, {Name: "j", Type: etl.TypeJSON}, {Name: "jb", Type: etl.TypeJSON},
		{Name: "u", Type: etl.TypeText}, {Name: "m", Type: etl.TypeText}, {Name: "iv", Type: etl.TypeText},
		{Name: "o", Type: etl.TypeInt64},
	}, schema)
	require.Equal(t, []etl.Row{
		{int64(-32768), int64(2147483647), int64(9223372036854775807), etl.Decimal("12345678901234.5678"),
			etl.Decimal("0.000000000000000000001"), 1.5, 0.1, true, `héllo "q" 'x'`, "abc", "ab   ",
			time.Date(2024, 2, 29, 13, 45, 56, 123456000, time.UTC), time.Date(2024, 2, 29, 11, 45, 56, 123456000, time.UTC),
			time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), []byte{0, 0xff, 0x10}, `{"a": [1, 2]}`, `{"a": 2, "b": 1}`,
			"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "happy", "1 day 02:00:00", int64(4294967295)},
		{int64(32767), int64(-2147483648), int64(-9223372036854775808), etl.Decimal("-0.5000"),
			etl.Decimal("99999999999999999999.99999"), -3.25, -1e300, false, "", "", "     ",
			time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(1969, 7, 20, 20, 17, 40, 500000000, time.UTC),
			time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), []byte{}, "null", "[]",
			"00000000-0000-0000-0000-000000000000", "sad", "-00:00:01", int64(0)},
		make(etl.Row, 21),
	}, rows)
	requireNoLeak(t, db.Pool)
}

func TestUnrepresentableValuesFailNamingTableAndColumn(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	for _, tc := range []struct {
		typ, value string
	}{
		{"timestamptz", "'infinity'"},
		{"timestamp", "'-infinity'"},
		{"date", "'infinity'"},
		{"numeric", "'NaN'"},
		{"numeric", "'Infinity'"},
		{"numeric", "'-Infinity'"},
	} {
		_, _, err := read(t, newSource(t, db, postgres.Config{
			Query: "SELECT 1 AS id, " + tc.value + "::" + tc.typ + " AS odd", QueryName: "oddities",
		}), nil)
		require.ErrorIs(t, err, postgres.ErrUnsupportedValue, tc.value)
		var se *postgres.Error
		require.ErrorAs(t, err, &se)
		require.Equal(t, "oddities", se.Source)
		require.Equal(t, "odd", se.Column)
	}
	requireNoLeak(t, db.Pool)
}

func TestExtractReportsMissingTableAndColumn(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	exec(t, db, `CREATE TABLE items (id bigint, name text)`)

	_, err := newSource(t, db, postgres.Config{Table: "nope"}).Extract(context.Background(), nil)
	require.ErrorContains(t, err, "nope")

	_, err = newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id", "colour"}}).Extract(context.Background(), nil)
	require.ErrorContains(t, err, "items")
	require.ErrorContains(t, err, "colour")

	_, err = newSource(t, db, postgres.Config{Table: "items", Cursor: "name", LookBack: time.Minute}).Extract(context.Background(), nil)
	require.ErrorContains(t, err, "LookBack needs a timestamp")

	_, err = newSource(t, db, postgres.Config{Table: "items", Cursor: "id = 1"}).Extract(context.Background(), nil)
	require.ErrorContains(t, err, "unsupported cursor type")

	_, err = newSource(t, db, postgres.Config{Table: "items", Where: "colour = 'red'"}).Extract(context.Background(), nil)
	require.ErrorContains(t, err, "colour")

	_, err = newSource(t, db, postgres.Config{Table: "items", Cursor: "modifed"}).Extract(context.Background(), nil)
	require.ErrorContains(t, err, "modifed")
	requireNoLeak(t, db.Pool)
}

func TestTypesOverride(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	exec(t, db, `CREATE TABLE items (id bigint, amount numeric(6,2), doc text)`)
	exec(t, db, `INSERT INTO items VALUES (7, 1.50, '{"x":1}')`)

	schema, rows, err := read(t, newSource(t, db, postgres.Config{Table: "items",
		Types: map[string]etl.Type{"id": etl.TypeText, "doc": etl.TypeJSON}}), nil)
	require.NoError(t, err)
	require.Equal(t, etl.Schema{{Name: "id", Type: etl.TypeText}, {Name: "amount", Type: etl.TypeNumeric}, {Name: "doc", Type: etl.TypeJSON}}, schema)
	require.Equal(t, []etl.Row{{"7", etl.Decimal("1.50"), `{"x":1}`}}, rows)

	_, _, err = read(t, newSource(t, db, postgres.Config{Table: "items", Types: map[string]etl.Type{"id": etl.TypeBool}}), nil)
	require.ErrorContains(t, err, `column "id"`)
	_, _, err = read(t, newSource(t, db, postgres.Config{Table: "items", Types: map[string]etl.Type{"idd": etl.TypeText}}), nil)
	require.ErrorContains(t, err, `column "idd"`)
}

func TestQuotedSchemaTableAndColumns(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	exec(t, db, `CREATE SCHEMA "Odd ""Schema"""`)
	t.Cleanup(func() {
		_, _ = db.Pool.Exec(context.Background(), `DROP SCHEMA "Odd ""Schema""" CASCADE`)
	})
	exec(t, db, `CREATE TABLE "Odd ""Schema"""."My Table;" ("Id" bigint, "select" text)`)
	exec(t, db, `INSERT INTO "Odd ""Schema"""."My Table;" VALUES (1, 'x')`)
	schema, rows, err := read(t, newSource(t, db, postgres.Config{
		Schema: `Odd "Schema"`, Table: "My Table;", Columns: []string{"select", "Id"},
	}), nil)
	require.NoError(t, err)
	require.Equal(t, []string{"select", "Id"}, schema.Names())
	require.Equal(t, []etl.Row{{"x", int64(1)}}, rows)
}

// items makes the table the incremental tests read: ids 1..5 modified one minute apart.
func items(t testing.TB, db *pgtest.DB) {
	t.Helper()
	exec(t, db, `CREATE TABLE items (id bigint PRIMARY KEY, name text, created timestamptz NOT NULL,
		modified timestamptz, deleted boolean NOT NULL DEFAULT false, deleted_at timestamptz)`)
	for i := 1; i <= 5; i++ {
		exec(t, db, `INSERT INTO items (id, name, created, modified) VALUES ($1, $2, $3, $3)`, i, "n", at(i))
	}
}

func TestIncrementalReadsPastTheWatermarkAndAdvancesIt(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	src := newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id"}, Cursor: "modified"})

	// Rows come in no particular order, and the watermark is the highest cursor whatever
	// the order: reverse the heap order to show it.
	exec(t, db, `CREATE INDEX items_id_desc ON items (id DESC)`)
	exec(t, db, `CLUSTER items USING items_id_desc`)

	// No stored watermark: everything.
	run := etl.NewRun("p", etl.Window{})
	_, rows, err := read(t, src, run)
	require.NoError(t, err)
	require.Equal(t, []int64{5, 4, 3, 2, 1}, ids(rows))
	next, ok := run.NextWatermark()
	require.True(t, ok)
	require.Equal(t, at(5), next)

	// A stored watermark: only rows strictly past it.
	run = etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(3))
	_, rows, err = read(t, src, run)
	require.NoError(t, err)
	require.Equal(t, []int64{5, 4}, ids(rows))
	next, _ = run.NextWatermark()
	require.Equal(t, at(5), next)

	// The watermark as a sink may hand it back after a trip through text.
	run = etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(4).Format(time.RFC3339Nano))
	_, rows, err = read(t, src, run)
	require.NoError(t, err)
	require.Equal(t, []int64{5}, ids(rows))

	// Nothing new: the watermark stays where it was.
	run = etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(5))
	_, rows, err = read(t, src, run)
	require.NoError(t, err)
	require.Empty(t, rows)
	next, _ = run.NextWatermark()
	require.Equal(t, at(5), next)

	// A watermark of the wrong kind is an error naming the cursor.
	run = etl.NewRun("p", etl.Window{})
	run.SetWatermark(true)
	_, _, err = read(t, src, run)
	require.ErrorContains(t, err, `column "modified"`)
	requireNoLeak(t, db.Pool)
}

func TestWatermarkIsReadWhenTheStreamStarts(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	src := newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id"}, Cursor: "modified"})
	run := etl.NewRun("p", etl.Window{})
	s, err := src.Extract(context.Background(), run)
	require.NoError(t, err)
	run.SetWatermark(at(4)) // as a sink does, under its lock, after Extract
	rows, err := etl.Collect(s)
	require.NoError(t, err)
	require.Equal(t, []int64{5}, ids(rows))
}

func TestLookBackRereadsLateRowsWithoutMovingTheWatermarkBack(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	src := newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id"}, Cursor: "modified", LookBack: 90 * time.Second})

	// Synced up to at(5); then a row that committed late with modified = at(4) + 30s.
	exec(t, db, `INSERT INTO items (id, name, created, modified) VALUES (6, 'late', $1, $1)`, at(4).Add(30*time.Second))
	run := etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(5))
	_, rows, err := read(t, src, run)
	require.NoError(t, err)
	require.ElementsMatch(t, []int64{4, 6, 5}, ids(rows), "rows within LookBack of the watermark")
	next, _ := run.NextWatermark()
	require.Equal(t, at(5), next, "re-read rows must not move the watermark back")

	// Without LookBack the late row is missed: that is what LookBack is for.
	plain := newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id"}, Cursor: "modified"})
	run = etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(5))
	_, rows, err = read(t, plain, run)
	require.NoError(t, err)
	require.Empty(t, rows)
}

func TestWindowEndBoundsTheCursor(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	src := newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id"}, Cursor: "modified"})

	run := etl.NewRun("p", etl.Window{Start: at(3), End: at(4)}) // Start is ignored without WindowColumn
	run.SetWatermark(at(1))
	_, rows, err := read(t, src, run)
	require.NoError(t, err)
	require.ElementsMatch(t, []int64{2, 3}, ids(rows), "the window is half-open: a row at End belongs to the next window")
	next, _ := run.NextWatermark()
	require.Equal(t, at(3), next)
}

func TestTimeCursorIsBoundedByNowUnlessLifted(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	exec(t, db, `INSERT INTO items (id, name, created, modified) VALUES (9, 'future', now(), now() + interval '1 day')`)

	run := etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(5))
	_, rows, err := read(t, newSource(t, db, postgres.Config{Table: "items", Cursor: "modified"}), run)
	require.NoError(t, err)
	require.Empty(t, rows, "a row dated in the future waits for its time")
	next, _ := run.NextWatermark()
	require.Equal(t, at(5), next)

	run = etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(5))
	_, rows, err = read(t, newSource(t, db, postgres.Config{Table: "items", Cursor: "modified", NoUpperBound: true}), run)
	require.NoError(t, err)
	require.Equal(t, []int64{9}, ids(rows))
}

func TestNullCursorFailsByDefaultNamingTheRows(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	exec(t, db, `UPDATE items SET modified = NULL WHERE id IN (2, 4)`)

	run := etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(1))
	_, _, err := read(t, newSource(t, db, postgres.Config{Table: "items", Cursor: "modified"}), run)
	require.ErrorIs(t, err, postgres.ErrNullCursor)
	var ne *postgres.NullCursorRowsError
	require.ErrorAs(t, err, &ne)
	require.Equal(t, int64(2), ne.Count)
	require.ElementsMatch(t, []string{"id=2", "id=4"}, ne.Samples)
	require.Equal(t, "items", ne.Source)
	require.ErrorContains(t, err, "modified")
	next, _ := run.NextWatermark()
	require.Equal(t, at(1), next)

	// An expression that gives every row a value is fine.
	run = etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(1))
	_, rows, err := read(t, newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id"},
		Cursor: "coalesce(modified, created)", CursorAs: "cursor"}), run)
	require.NoError(t, err)
	require.ElementsMatch(t, []int64{2, 3, 4, 5}, ids(rows))
	for _, r := range rows {
		require.Equal(t, at(int(r[0].(int64))), r[1], "CursorAs carries the expression's value")
	}
	requireNoLeak(t, db.Pool)
}

func TestNullCursorAlwaysLoadsThoseRowsEverySync(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	exec(t, db, `UPDATE items SET modified = NULL WHERE id IN (2, 4)`)
	src := newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id"}, Cursor: "modified", NullCursor: postgres.NullCursorAlways})

	for range 2 {
		run := etl.NewRun("p", etl.Window{End: at(5)})
		run.SetWatermark(at(3))
		_, rows, err := read(t, src, run)
		require.NoError(t, err)
		require.ElementsMatch(t, []int64{2, 4}, ids(rows), "row 5 is at the window's end")
		next, _ := run.NextWatermark()
		require.Equal(t, at(3), next, "NULL cursors never move the watermark")
	}
}

func TestIntegerNumericAndTextCursors(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	exec(t, db, `CREATE TABLE versions (id int, v_int int, v_num numeric(10,3), v_text varchar(8))`)
	exec(t, db, `INSERT INTO versions VALUES (1, 10, 1.250, 'aa'), (2, 20, 2.500, 'ab'), (3, 30, 10.001, 'b')`)
	for _, tc := range []struct {
		cursor    string
		stored    any
		wantIDs   []int64
		wantAfter any
	}{
		{"v_int", int64(10), []int64{2, 3}, int64(30)},
		{"v_int", 20, []int64{3}, int64(30)},
		{"v_num", etl.Decimal("2.5"), []int64{3}, etl.Decimal("10.001")},
		{"v_num", "1.2", []int64{1, 2, 3}, etl.Decimal("10.001")},
		{"v_text", "aa", []int64{2, 3}, "b"},
	} {
		run := etl.NewRun("p", etl.Window{})
		run.SetWatermark(tc.stored)
		_, rows, err := read(t, newSource(t, db, postgres.Config{Table: "versions", Columns: []string{"id"}, Cursor: tc.cursor}), run)
		require.NoError(t, err, tc.cursor)
		require.ElementsMatch(t, tc.wantIDs, ids(rows), tc.cursor)
		next, _ := run.NextWatermark()
		require.Equal(t, tc.wantAfter, next, tc.cursor)
	}
}

func TestDateAndNaiveTimestampCursors(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	exec(t, db, `CREATE TABLE days (id int, day date, at timestamp)`)
	exec(t, db, `INSERT INTO days VALUES (1, '2024-05-01', '2024-05-01 10:00'), (2, '2024-05-02', '2024-05-02 10:00'),
		(3, '2024-05-03', '2024-05-03 10:00')`)
	day := func(d int) time.Time { return time.Date(2024, 5, d, 0, 0, 0, 0, time.UTC) }
	// The session's time zone must not matter.
	pc, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	pc.ConnConfig.RuntimeParams["timezone"] = "America/Sao_Paulo"
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	require.NoError(t, err)
	defer pool.Close()
	newSource := func(t *testing.T, _ *pgtest.DB, cfg postgres.Config) *postgres.Source {
		src, err := postgres.New(pool, cfg)
		require.NoError(t, err)
		return src
	}

	run := etl.NewRun("p", etl.Window{})
	run.SetWatermark(day(2))
	_, rows, err := read(t, newSource(t, db, postgres.Config{Table: "days", Columns: []string{"id"}, Cursor: "day"}), run)
	require.NoError(t, err)
	require.Equal(t, []int64{3}, ids(rows))
	next, _ := run.NextWatermark()
	require.Equal(t, day(3), next)

	// Any LookBack on a date cursor re-reads the watermark's day.
	run = etl.NewRun("p", etl.Window{})
	run.SetWatermark(day(2))
	_, rows, err = read(t, newSource(t, db, postgres.Config{Table: "days", Columns: []string{"id"}, Cursor: "day", LookBack: time.Hour}), run)
	require.NoError(t, err)
	require.ElementsMatch(t, []int64{2, 3}, ids(rows))

	// A timestamp without time zone is read, bound and compared as UTC.
	run = etl.NewRun("p", etl.Window{End: day(3).Add(10 * time.Hour)})
	run.SetWatermark(day(1).Add(10 * time.Hour))
	_, rows, err = read(t, newSource(t, db, postgres.Config{Table: "days", Columns: []string{"id"}, Cursor: "at"}), run)
	require.NoError(t, err)
	require.Equal(t, []int64{2}, ids(rows))
	next, _ = run.NextWatermark()
	require.Equal(t, day(2).Add(10*time.Hour), next)
}

func TestQueryWithCursorAndWhere(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	src := newSource(t, db, postgres.Config{
		Query:  "SELECT i.id, i.modified, upper(i.name) AS name FROM items i -- all of them\n;\n",
		Where:  "id <> 4",
		Cursor: "modified",
	})
	run := etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(2))
	schema, rows, err := read(t, src, run)
	require.NoError(t, err)
	require.Equal(t, []string{"id", "modified", "name"}, schema.Names())
	require.False(t, schema[0].NotNull, "a query's columns may be NULL whatever their table says (outer joins)")
	require.ElementsMatch(t, []int64{3, 5}, ids(rows))
	require.Equal(t, "N", rows[0][2])
}

func TestWindowColumnReadsExactlyTheWindow(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	src := newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id"}, Cursor: "modified", WindowColumn: "created"})

	run := etl.NewRun("p", etl.Window{Start: at(2), End: at(4)})
	run.SetWatermark(at(5)) // a backfill ignores the watermark
	_, rows, err := read(t, src, run)
	require.NoError(t, err)
	require.ElementsMatch(t, []int64{2, 3}, ids(rows))
	next, _ := run.NextWatermark()
	require.Equal(t, at(5), next, "a backfill leaves the watermark alone")

	// The zero window is an ordinary incremental read.
	run = etl.NewRun("p", etl.Window{})
	run.SetWatermark(at(4))
	_, rows, err = read(t, src, run)
	require.NoError(t, err)
	require.Equal(t, []int64{5}, ids(rows))
}

func TestSoftDeleteColumnIsAlwaysInTheStream(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	exec(t, db, `UPDATE items SET deleted = true, deleted_at = $1 WHERE id = 3`, at(9))

	exec(t, db, `CLUSTER items USING items_pkey`) // back in id order: a full read has no ORDER BY
	src := newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id", "name"}, Deleted: "deleted"})
	schema, rows, err := read(t, src, nil)
	require.NoError(t, err)
	require.Equal(t, etl.Schema{{Name: "id", Type: etl.TypeInt64, NotNull: true}, {Name: "name", Type: etl.TypeText}, {Name: "deleted", Type: etl.TypeBool, NotNull: true}}, schema)
	require.Equal(t, etl.Row{int64(3), "n", true}, rows[2])
	require.Equal(t, false, rows[0][2])

	src = newSource(t, db, postgres.Config{Table: "items", Columns: []string{"id"}, Deleted: "deleted_at"})
	schema, rows, err = read(t, src, nil)
	require.NoError(t, err)
	require.Equal(t, etl.Schema{{Name: "id", Type: etl.TypeInt64, NotNull: true}, {Name: "deleted_at", Type: etl.TypeTimestamp}}, schema)
	require.Equal(t, etl.Row{int64(3), at(9)}, rows[2])
	require.Nil(t, rows[0][1])

	// A text or integer column would read as deleted whenever it is not NULL.
	_, _, err = read(t, newSource(t, db, postgres.Config{Table: "items", Deleted: "name"}), nil)
	require.ErrorContains(t, err, "(Deleted) must be a boolean (true when deleted) or a timestamp or date")
	_, _, err = read(t, newSource(t, db, postgres.Config{Table: "items", Deleted: "id"}), nil)
	require.ErrorContains(t, err, "not int64")
}

func TestStreamDeclaresItsCursorAndSoftDeleteColumn(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	items(t, db)
	for _, tc := range []struct {
		name                string
		cfg                 postgres.Config
		wantCursor, wantDel string
	}{
		{"full read", postgres.Config{Table: "items"}, "", ""},
		{"cursor column", postgres.Config{Table: "items", Cursor: "modified", Deleted: "deleted"}, "modified", "deleted"},
		{"cursor not streamed", postgres.Config{Table: "items", Columns: []string{"id", "name"}, Cursor: "modified", Deleted: "deleted_at"}, "", "deleted_at"},
		{"cursor expression", postgres.Config{Table: "items", Cursor: "coalesce(modified, deleted_at)"}, "", ""},
		{"cursor expression streamed", postgres.Config{Table: "items", Cursor: "coalesce(modified, deleted_at)", CursorAs: "version"}, "version", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := newSource(t, db, tc.cfg).Extract(context.Background(), nil)
			require.NoError(t, err)
			require.Equal(t, tc.wantCursor, s.Cursor)
			require.Equal(t, tc.wantDel, s.Deleted)
			if s.Cursor != "" {
				require.GreaterOrEqual(t, s.Schema.Index(s.Cursor), 0, "the declared cursor is a column of the stream")
			}
		})
	}
}

func TestKeysStreamsOnlyKeysInScope(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	exec(t, db, `CREATE TABLE orders (region text, id int, note text, PRIMARY KEY (region, id))`)
	exec(t, db, `INSERT INTO orders SELECT r, g, 'x' FROM unnest(ARRAY['eu', 'us']) r, generate_series(1, 20) g`)
	src := newSource(t, db, postgres.Config{Table: "orders", Where: "id <= 10", Cursor: "id",
		Types: map[string]etl.Type{"note": etl.TypeJSON, "id": etl.TypeText}})

	keys := src.Keys([]string{"region", "id"}, "region = 'eu' AND id % 2 = 0")
	run := etl.NewRun("p", etl.Window{})
	run.SetWatermark(int64(8)) // keys ignore the watermark
	schema, rows, err := read(t, keys, run)
	require.NoError(t, err)
	require.Equal(t, etl.Schema{{Name: "region", Type: etl.TypeText, NotNull: true}, {Name: "id", Type: etl.TypeText, NotNull: true}}, schema)
	require.ElementsMatch(t, []etl.Row{{"eu", "2"}, {"eu", "4"}, {"eu", "6"}, {"eu", "8"}, {"eu", "10"}}, rows)
	next, _ := run.NextWatermark()
	require.Equal(t, int64(8), next)
	require.Equal(t, src.Datasets(), keys.Datasets())

	_, _, err = read(t, src.Keys(nil, ""), nil)
	require.ErrorContains(t, err, "at least one key column")
	requireNoLeak(t, db.Pool)
}

func TestEarlyBreakReleasesTheConnection(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	src := newSource(t, db, postgres.Config{Query: "SELECT generate_series(1, 10000000)::bigint AS id"})
	s, err := src.Extract(context.Background(), nil)
	require.NoError(t, err)
	n := 0
	for _, err := range s.Rows {
		require.NoError(t, err)
		if n++; n == 10 {
			break
		}
	}
	requireNoLeak(t, db.Pool)
	// The pool still works.
	_, rows, err := read(t, newSource(t, db, postgres.Config{Query: "SELECT 1 AS one"}), nil)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, int64(1), db.Pool.Stat().NewConnsCount(), "the query is cancelled, not its connection dropped")
}

func TestCancelStopsTheStream(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	src := newSource(t, db, postgres.Config{Query: "SELECT generate_series(1, 10000000)::bigint AS id"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := src.Extract(ctx, nil)
	require.NoError(t, err)
	var n int
	var last error
	for _, err := range s.Rows {
		if err != nil {
			last = err
			continue // a stream must stop after its error; the loop would spin otherwise
		}
		if n++; n == 10 {
			cancel()
		}
	}
	require.ErrorIs(t, last, context.Canceled)
	require.Less(t, n, 10_000_000)
	// pgx drops a connection whose context was cancelled mid-read, and the pool destroys
	// it on a goroutine of its own: wait for that, rather than for any ordering.
	require.Eventually(t, func() bool { return db.Pool.Stat().AcquiredConns() == 0 }, 10*time.Second, time.Millisecond,
		"the stream must give its connection back")
}

// TestLargeStreamHasBoundedMemory is not parallel, so other tests do not move the heap.
func TestLargeStreamHasBoundedMemory(t *testing.T) {
	db := pgtest.New(t)
	const n = 200_000
	src := newSource(t, db, postgres.Config{Query: `SELECT g::bigint AS id, repeat(md5(g::text), 4) AS name,
		md5(g::text) || '@example.com' AS email, 'F' AS gender, 'NZ' AS country, (g % 100000)::numeric(12,2) / 7 AS amount,
		timestamptz '2024-01-01' + g * interval '1 second' AS created, timestamptz '2024-01-01' + g * interval '1 second' AS modified,
		g % 10 = 0 AS deleted FROM generate_series(1, ` + "200000" + `) g`})
	s, err := src.Extract(context.Background(), nil)
	require.NoError(t, err)

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before, peak := ms.HeapInuse, ms.HeapInuse
	var count int64
	var sum int64
	for row, err := range s.Rows {
		require.NoError(t, err)
		count++
		sum += row[0].(int64)
		if count%5000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	require.Equal(t, int64(n), count)
	require.Equal(t, int64(n)*(n+1)/2, sum)
	// Holding the rows would take about 80 MiB; a stream stays within a few.
	const bound = 16 << 20
	require.Less(t, peak-before, uint64(bound), "heap grew by %d MiB", (peak-before)>>20)
	t.Logf("heap in use grew by %.1f MiB over %d rows", float64(peak-before)/(1<<20), n)
	requireNoLeak(t, db.Pool)
}

func TestDatasetsNeverCarryThePassword(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	pc, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	pc.ConnConfig.Password = "s3cret"
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	require.NoError(t, err)
	defer pool.Close()

	src, err := postgres.New(pool, postgres.Config{Table: "items"})
	require.NoError(t, err)
	ds := src.Datasets()
	require.Len(t, ds, 1)
	require.Equal(t, "postgres://"+pc.ConnConfig.Host+":"+strconv.Itoa(int(pc.ConnConfig.Port)), ds[0].Namespace)
	require.Equal(t, pc.ConnConfig.Database+"."+db.Schema+".items", ds[0].Name)
	require.NotContains(t, ds[0].String(), "s3cret")

	src, err = postgres.New(pool, postgres.Config{Schema: "sales", Table: "orders"})
	require.NoError(t, err)
	require.Equal(t, pc.ConnConfig.Database+".sales.orders", src.Datasets()[0].Name)
	src, err = postgres.New(pool, postgres.Config{Query: "SELECT 1", QueryName: "daily_totals"})
	require.NoError(t, err)
	require.Equal(t, pc.ConnConfig.Database+".daily_totals", src.Datasets()[0].Name)

	_, err = postgres.Open(context.Background(), "postgres://u:s3cret@127.0.0.1:notaport/db", postgres.Config{Table: "t"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")
	var target interface{ Unwrap() error }
	require.False(t, errors.As(err, &target), "the parse error, which holds the DSN, is not wrapped")
}

func TestOpenOwnsItsPool(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	exec(t, db, `CREATE TABLE t (id int)`)
	exec(t, db, `INSERT INTO t VALUES (1), (2)`)
	src, err := postgres.Open(context.Background(), db.URL, postgres.Config{Table: "t"})
	require.NoError(t, err)
	defer src.Close()
	_, rows, err := read(t, src, nil)
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2}, ids(rows))
}

func TestExtremeTimesComeOutExactly(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	_, rows, err := read(t, newSource(t, db, postgres.Config{Query: `SELECT
		'294276-12-31 23:59:59.999999+00'::timestamptz AS hi, '4714-11-24 00:00:00+00 BC'::timestamptz AS lo,
		'5874897-12-31'::date AS dhi, '4714-11-24 BC'::date AS dlo`}), nil)
	require.NoError(t, err)
	require.Equal(t, []etl.Row{{
		time.Date(294276, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Date(-4713, 11, 24, 0, 0, 0, 0, time.UTC),
		time.Date(5874897, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(-4713, 11, 24, 0, 0, 0, 0, time.UTC),
	}}, rows)
}
