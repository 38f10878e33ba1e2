package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "test.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

var people = etl.Schema{
	{Name: "id", Type: etl.TypeInt64},
	{Name: "name", Type: etl.TypeText},
}

func load(ctx context.Context, l etl.Loader, pipeline string, schema etl.Schema, rows []etl.Row) (etl.LoadResult, error) {
	return l.Load(ctx, etl.NewRun(pipeline, etl.Window{}), etl.SliceStream(schema, rows))
}

// dump returns the table's rows as "v|v|..." lines in rowid order... ordered by the first column.
func dump(t *testing.T, db *sqlite.DB, table string) []string {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT * FROM "` + strings.ReplaceAll(table, `"`, `""`) + `" ORDER BY 1, 2`)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		parts := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	require.NoError(t, rows.Err())
	return out
}

func TestFullRefreshThreeTimesGivesTheSameTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	l := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "people", Key: []string{"id"}, Create: true,
		Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey(), checks.DuplicateRows{}}}}
	rows := []etl.Row{{int64(2), "bea"}, {int64(1), "al"}, {int64(3), "o'neil"}}
	for i := range 3 {
		p := &etl.Pipeline{Name: "people", Sink: l, Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(people, rows), nil
		})}
		res, err := p.Run(ctx, etl.Window{})
		require.NoError(t, err, "run %d", i+1)
		require.Equal(t, int64(3), res.Stats.RowsWritten)
		require.Equal(t, []string{"1|al", "2|bea", "3|o'neil"}, dump(t, db, "people"), "run %d", i+1)
		require.Len(t, res.Checks, 3)
		for _, c := range res.Checks {
			require.True(t, c.Passed, "%s: %s", c.Name, c.Found)
		}
		// The table was created with PRIMARY KEY (id), so the key check needs no scan.
		require.Contains(t, res.Checks[1].Note, "unique index")
	}
	runs, err := (&sqlite.State{DB: db}).Runs(ctx, "people", 0)
	require.NoError(t, err)
	require.Len(t, runs, 3)
	for _, r := range runs {
		require.Equal(t, "success", r.Status)
		require.Equal(t, "full_refresh", r.Mode)
		require.Equal(t, int64(3), r.Loaded)
		require.Equal(t, int64(3), r.Stats.RowsRead)
		require.Len(t, r.Checks, 3)
	}
	require.False(t, runs[0].Started.Before(runs[1].Started), "newest first")
}

func TestFailedCheckKeepsOldRowsAndRecordsTheDuplicate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	// No Key: the table has no PRIMARY KEY, so only the check stands between the
	// duplicate and the table.
	l := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "people", Checks: []checks.Check{checks.UniqueKey("id")}, Create: true}}
	_, err := load(ctx, l, "people", people, []etl.Row{{int64(1), "al"}, {int64(2), "bea"}})
	require.NoError(t, err)

	res, err := load(ctx, l, "people", people, []etl.Row{{int64(7), "x"}, {int64(8), "y"}, {int64(7), "z"}})
	require.Error(t, err)
	require.Equal(t, "check", etl.Step(err))
	var ce *checks.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, []string{"7 (2 rows)"}, ce.Result.Samples)
	require.Len(t, res.Checks, 1)
	require.False(t, res.Checks[0].Passed)
	require.Equal(t, []string{"1|al", "2|bea"}, dump(t, db, "people"), "the old rows stay")

	runs, err := (&sqlite.State{DB: db}).Runs(ctx, "people", 1)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "failed", runs[0].Status)
	require.Equal(t, "check", runs[0].Step)
	require.Contains(t, runs[0].Error, "unique_key(id)")
	require.Contains(t, runs[0].Error, "7 (2 rows)")
	require.Equal(t, int64(3), runs[0].Loaded)
	require.Len(t, runs[0].Checks, 1)
	require.Equal(t, []string{"7 (2 rows)"}, runs[0].Checks[0].Samples)
}

func TestPrimaryKeyViolationNamesTheKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	l := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "people", Key: []string{"id"}, BatchRows: 2, Create: true}}
	_, err := load(ctx, l, "people", people, []etl.Row{{int64(1), "al"}})
	require.NoError(t, err)

	_, err = load(ctx, l, "people", people, []etl.Row{{int64(5), "a"}, {int64(6), "b"}, {int64(9), "c"}, {int64(6), "d"}})
	var de *sqlite.DuplicateKeyError
	require.ErrorAs(t, err, &de)
	require.Equal(t, "stage", etl.Step(err))
	require.Equal(t, int64(4), de.Row)
	require.Equal(t, []any{int64(6)}, de.Value)
	require.Contains(t, err.Error(), "row 4: duplicate key id=6")
	require.Equal(t, []string{"1|al"}, dump(t, db, "people"))
}

func TestEmptyStreamNeedsAllowEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	l := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "people", Create: true}}
	_, err := load(ctx, l, "people", people, []etl.Row{{int64(1), "al"}})
	require.NoError(t, err)

	_, err = load(ctx, l, "people", people, nil)
	require.ErrorIs(t, err, etl.ErrEmpty)
	require.Equal(t, []string{"1|al"}, dump(t, db, "people"))

	run := etl.NewRun("people", etl.Window{})
	run.AllowEmpty = true
	_, err = l.Load(ctx, run, etl.SliceStream(people, nil))
	require.NoError(t, err)
	require.Empty(t, dump(t, db, "people"))
}

func TestWeirdIdentifiers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	table := `My "Table"; DROP TABLE x; --`
	schema := etl.Schema{
		{Name: "ID", Type: etl.TypeInt64}, {Name: `say "hi"`, Type: etl.TypeText},
		{Name: "semi;colon", Type: etl.TypeText}, {Name: "with space", Type: etl.TypeBool},
		{Name: "select", Type: etl.TypeInt64}, {Name: "ünï ☃", Type: etl.TypeText},
	}
	rows := []etl.Row{
		{int64(1), `a"b`, "c;d", true, int64(5), "snow"},
		{int64(2), "'); DROP TABLE x; --", nil, false, nil, ""},
	}
	for _, l := range []etl.Loader{
		&sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: table, Key: []string{"ID"}, Create: true,
			Checks: []checks.Check{checks.UniqueKey(), checks.NotNull(`say "hi"`), checks.DuplicateRows{}}}},
		&sqlite.Merge{Target: sqlite.Target{DB: db, Table: table, Key: []string{"ID"}, Create: true}, Cursor: "select", Deleted: "with space", KeepDeleted: true},
	} {
		_, err := load(ctx, l, `pipe "line"; /x`, schema, rows)
		require.NoError(t, err)
		require.Equal(t, []string{`1|a"b|c;d|1|5|snow`, `2|'); DROP TABLE x; --|<nil>|0|<nil>|`}, dump(t, db, table))
	}
	n, err := (&sqlite.State{DB: db}).Runs(ctx, `pipe "line"; /x`, 0)
	require.NoError(t, err)
	require.Len(t, n, 2)
}

// source returns an incremental source over rows: it advances the watermark to the
// highest "modified" it yielded.
func source(schema etl.Schema, rows []etl.Row) etl.Extractor {
	return etl.ExtractFunc(func(_ context.Context, run *etl.Run) (etl.Stream, error) {
		cur := schema.Index("modified")
		return etl.Stream{Schema: schema, Rows: func(yield func(etl.Row, error) bool) {
			var hi time.Time
			for _, r := range rows {
				if m, ok := r[cur].(time.Time); ok && m.After(hi) {
					hi = m
				}
				if !yield(r, nil) {
					return
				}
			}
			if !hi.IsZero() {
				run.Advance(hi)
			}
		}}, nil
	})
}

var (
	t0    = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	items = etl.Schema{
		{Name: "id", Type: etl.TypeInt64}, {Name: "name", Type: etl.TypeText},
		{Name: "modified", Type: etl.TypeTimestamp}, {Name: "deleted", Type: etl.TypeBool},
	}
)

func item(id int64, name string, minute int, deleted bool) etl.Row {
	return etl.Row{id, name, t0.Add(time.Duration(minute) * time.Minute), deleted}
}

func names(t *testing.T, db *sqlite.DB, table string) []string {
	t.Helper()
	var out []string
	for _, line := range dump(t, db, table) {
		f := strings.Split(line, "|")
		out = append(out, f[0]+"|"+f[1]+"|"+f[3])
	}
	return out
}

func TestMergeAppliesUpdatesDeletesAndDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepDeleted=%v", keep), func(t *testing.T) {
			t.Parallel()
			db := openDB(t)
			l := &sqlite.Merge{Target: sqlite.Target{DB: db, Table: "items", Key: []string{"id"}, Create: true,
				Checks: []checks.Check{checks.UniqueKey(), checks.RowCount{}}}, Cursor: "modified", Deleted: "deleted", KeepDeleted: keep}
			run := func(rows ...etl.Row) etl.Result {
				p := &etl.Pipeline{Name: "items", Source: source(items, rows), Sink: l}
				res, err := p.Run(ctx, etl.Window{})
				require.NoError(t, err)
				return res
			}
			run(item(1, "a", 0, false), item(2, "b", 0, false), item(3, "c", 0, false), item(4, "d", 0, false))
			batch := []etl.Row{
				item(2, "b-new", 5, false), // update
				item(2, "b-old", 4, false), // an older version arriving later loses
				item(3, "c", 5, true),      // soft delete
				item(5, "e", 5, false),     // insert
				item(6, "f", 5, false),     // inserted and deleted in one batch
				item(6, "f", 6, true),
				item(4, "d1", 7, false), // same cursor twice: the later arrival wins
				item(4, "d2", 7, false),
			}
			want := []string{"1|a|0", "2|b-new|0", "4|d2|0", "5|e|0"}
			if keep {
				want = []string{"1|a|0", "2|b-new|0", "3|c|1", "4|d2|0", "5|e|0", "6|f|1"}
			}
			for i := range 2 {
				res := run(batch...)
				require.Equal(t, want, names(t, db, "items"), "run %d", i+1)
				if !keep {
					require.Equal(t, int64(i^1), res.Stats.RowsDeleted, "run %d: row 3 is deleted once", i+1)
				}
			}
			wm, err := (&sqlite.State{DB: db}).Watermark(ctx, "items")
			require.NoError(t, err)
			require.Equal(t, t0.Add(7*time.Minute), wm)
		})
	}
}

func TestMergeWithDeletedAtAndNumericCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	schema := etl.Schema{{Name: "k1", Type: etl.TypeText}, {Name: "k2", Type: etl.TypeInt64},
		{Name: "version", Type: etl.TypeNumeric}, {Name: "deleted_at", Type: etl.TypeTimestamp}}
	l := &sqlite.Merge{Target: sqlite.Target{DB: db, Table: "t", Key: []string{"k1", "k2"}, Create: true}, Cursor: "version", Deleted: "deleted_at"}
	_, err := load(ctx, l, "p", schema, []etl.Row{
		{"a", int64(1), etl.Decimal("9"), nil}, {"a", int64(2), etl.Decimal("1"), nil}, {"b", int64(1), etl.Decimal("1"), nil},
	})
	require.NoError(t, err)
	_, err = load(ctx, l, "p", schema, []etl.Row{
		{"a", int64(1), etl.Decimal("10"), nil}, // 10 > 9 as numbers, not as text
		{"a", int64(1), etl.Decimal("9.5"), nil},
		{"a", int64(2), etl.Decimal("2"), t0}, // deleted
	})
	require.NoError(t, err)
	require.Equal(t, []string{"a|1|10|<nil>", "b|1|1|<nil>"}, dump(t, db, "t"))
}

func TestFailedCheckRollsBackTheWatermark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	l := &sqlite.Merge{Target: sqlite.Target{DB: db, Table: "items", Key: []string{"id"}, Create: true,
		Checks: []checks.Check{checks.SQL("no_bad_names", `SELECT id FROM {{table}} WHERE name = 'bad'`)}}, Cursor: "modified", Deleted: "deleted"}
	p := &etl.Pipeline{Name: "items", Source: source(items, []etl.Row{item(1, "a", 1, false)}), Sink: l}
	_, err := p.Run(ctx, etl.Window{})
	require.NoError(t, err)

	p.Source = source(items, []etl.Row{item(1, "bad", 30, false), item(2, "b", 31, false)})
	_, err = p.Run(ctx, etl.Window{})
	require.Error(t, err)
	require.Equal(t, "check", etl.Step(err))
	require.Equal(t, []string{"1|a|0"}, names(t, db, "items"))
	wm, err := (&sqlite.State{DB: db}).Watermark(ctx, "items")
	require.NoError(t, err)
	require.Equal(t, t0.Add(time.Minute), wm, "the watermark stays with the rows")
}

func TestStateReadSetReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	wm, err := (&sqlite.State{DB: db}).Watermark(ctx, "p")
	require.NoError(t, err)
	require.Nil(t, wm)
	for _, v := range []any{int64(42), t0, "cursor-7", etl.Decimal("12.50")} {
		require.NoError(t, (&sqlite.State{DB: db}).Set(ctx, "p", v))
		got, err := (&sqlite.State{DB: db}).Watermark(ctx, "p")
		require.NoError(t, err)
		require.Equal(t, v, got)
	}
	require.NoError(t, (&sqlite.State{DB: db}).Reset(ctx, "p"))
	wm, err = (&sqlite.State{DB: db}).Watermark(ctx, "p")
	require.NoError(t, err)
	require.Nil(t, wm)

	// A run reads the stored watermark before its stream starts.
	require.NoError(t, (&sqlite.State{DB: db}).Set(ctx, "p", int64(7)))
	var seen any
	p := &etl.Pipeline{Name: "p", Sink: &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", Create: true}},
		Source: etl.ExtractFunc(func(_ context.Context, run *etl.Run) (etl.Stream, error) {
			return etl.Stream{Schema: people, Rows: func(yield func(etl.Row, error) bool) {
				seen, _ = run.Watermark()
				yield(etl.Row{int64(1), "x"}, nil)
			}}, nil
		})}
	_, err = p.Run(ctx, etl.Window{})
	require.NoError(t, err)
	require.Equal(t, int64(7), seen)
}

// blockingSource yields one row, says so on started, then waits for release.
func blockingSource(started chan<- struct{}, release <-chan struct{}) etl.Extractor {
	return etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: people, Rows: func(yield func(etl.Row, error) bool) {
			if !yield(etl.Row{int64(1), "first"}, nil) {
				return
			}
			close(started)
			<-release
		}}, nil
	})
}

func TestConcurrentRunOfOnePipelineIsLockedOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		p := &etl.Pipeline{Name: "p", Source: blockingSource(started, release), Sink: &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", Create: true}}}
		_, err := p.Run(ctx, etl.Window{})
		first <- err
	}()
	<-started

	second := &etl.Pipeline{Name: "p", Sink: &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", Create: true}},
		Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(people, []etl.Row{{int64(2), "second"}}), nil
		})}
	_, err := second.Run(ctx, etl.Window{})
	require.ErrorIs(t, err, etl.ErrLocked)
	require.Equal(t, "lock", etl.Step(err))

	second.Sink = &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", LockWait: 20 * time.Millisecond, Create: true}}
	_, err = second.Run(ctx, etl.Window{})
	require.ErrorIs(t, err, etl.ErrLocked, "the wait is bounded")
	require.ErrorContains(t, err, "raise it to wait longer")

	// Another pipeline into the same file is not locked out: it waits for the write lock.
	other := make(chan error, 1)
	otherP := &etl.Pipeline{Name: "other", Source: second.Source, Sink: &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "other", Create: true}}}
	go func() {
		_, err := otherP.Run(ctx, etl.Window{})
		other <- err
	}()

	// A run that may wait long enough gets the lock once the first run ends.
	second.Sink = &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", LockWait: time.Minute, Create: true}}
	waited := make(chan error, 1)
	go func() {
		_, err := second.Run(ctx, etl.Window{})
		waited <- err
	}()
	close(release)
	require.NoError(t, <-first)
	require.NoError(t, <-waited)
	require.NoError(t, <-other)
	require.Equal(t, []string{"2|second"}, dump(t, db, "t"))
	require.Equal(t, []string{"2|second"}, dump(t, db, "other"))
}

func TestEveryTypeRoundTripsExactly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	schema := etl.Schema{
		{Name: "id", Type: etl.TypeInt64}, {Name: "text", Type: etl.TypeText}, {Name: "float", Type: etl.TypeFloat64},
		{Name: "numeric", Type: etl.TypeNumeric}, {Name: "bool", Type: etl.TypeBool},
		{Name: "ts", Type: etl.TypeTimestamp}, {Name: "date", Type: etl.TypeDate},
		{Name: "bytes", Type: etl.TypeBytes}, {Name: "json", Type: etl.TypeJSON},
	}
	berlin := time.FixedZone("CET", 3600)
	rows := []etl.Row{
		{int64(math.MaxInt64), "héllo 'quoted' \"x\"", 0.1, etl.Decimal("12345678901234567890.123456789012345678"), true,
			time.Date(2026, 3, 1, 8, 0, 0, 123456789, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
			[]byte{0, 1, 0xff, 'x'}, `{"a": [1, 2.50]}`},
		{int64(math.MinInt64), "", math.Inf(-1), etl.Decimal("-0.000000000000000000000000001"), false,
			time.Date(1970, 1, 1, 1, 0, 0, 1, berlin), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
			[]byte{}, `null`},
		{int64(0), "tab\tnewline\n", math.MaxFloat64, etl.Decimal("1.50e-3"), nil,
			time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), nil, nil, nil},
		{int64(1), nil, nil, nil, nil, nil, nil, nil, nil},
		{int64(2), "x", math.SmallestNonzeroFloat64, etl.Decimal("NaN"), true, time.Time{}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), []byte("ok"), `"s"`},
	}
	_, err := load(ctx, &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "all types", Key: []string{"id"}, Create: true}}, "types", schema, rows)
	require.NoError(t, err)

	got, err := db.SQL().Query(`SELECT * FROM "all types" ORDER BY rowid`)
	require.NoError(t, err)
	defer got.Close()
	i := 0
	byID := map[int64]etl.Row{}
	for _, r := range rows {
		byID[r[0].(int64)] = r
	}
	for got.Next() {
		vals := make([]any, len(schema))
		ptrs := make([]any, len(schema))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		require.NoError(t, got.Scan(ptrs...))
		id := vals[0].(int64)
		want := byID[id]
		for j, c := range schema {
			v, err := sqlite.Decode(c.Type, vals[j])
			require.NoError(t, err, "row %d column %s", id, c.Name)
			if wt, ok := want[j].(time.Time); ok {
				require.True(t, wt.Equal(v.(time.Time)), "row %d column %s: %v != %v", id, c.Name, wt, v)
				continue
			}
			require.Equal(t, want[j], v, "row %d column %s", id, c.Name)
		}
		i++
	}
	require.NoError(t, got.Err())
	require.Equal(t, len(rows), i)
}

func TestBadValueNamesTableRowAndColumn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "amount", Type: etl.TypeNumeric}}
	_, err := load(ctx, &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "money", Create: true}}, "money", schema,
		[]etl.Row{{int64(1), etl.Decimal("1.0")}, {int64(2), etl.Decimal("1,5")}})
	var ve *sqlite.ValueError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, sqlite.ErrValue)
	require.Equal(t, sqlite.ValueError{Table: "money", Row: 2, Column: "amount", Value: "1,5", Err: ve.Err}, *ve)
	require.Equal(t, "stage", etl.Step(err))
}

func TestWindowReplaceRejectsRowsOutsideTheWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "day", Type: etl.TypeDate}}
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	l := &sqlite.WindowReplace{Target: sqlite.Target{DB: db, Table: "daily", Key: []string{"id"}, Create: true}, TimeColumn: "day"}
	for d := 1; d <= 3; d++ {
		run := etl.NewRun("daily", etl.Window{Start: day(d), End: day(d + 1)})
		_, err := l.Load(ctx, run, etl.SliceStream(schema, []etl.Row{{int64(d), day(d)}}))
		require.NoError(t, err)
	}
	run := etl.NewRun("daily", etl.Window{Start: day(2), End: day(3)})
	_, err := l.Load(ctx, run, etl.SliceStream(schema, []etl.Row{{int64(20), day(2)}, {int64(30), day(3)}}))
	require.ErrorContains(t, err, "row 2: day 2026-01-03 is outside the window")
	require.Equal(t, []string{"1|2026-01-01", "2|2026-01-02", "3|2026-01-03"}, dump(t, db, "daily"))

	run = etl.NewRun("daily", etl.Window{Start: day(2), End: day(3)})
	_, err = l.Load(ctx, run, etl.SliceStream(schema, []etl.Row{{int64(20), day(2)}, {int64(21), day(2)}}))
	require.NoError(t, err)
	require.Equal(t, []string{"1|2026-01-01", "3|2026-01-03", "20|2026-01-02", "21|2026-01-02"}, dump(t, db, "daily"))
}

func TestCancelledLoadKeepsOldRowsAndLeavesARecord(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	l := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", BatchRows: 1, Create: true}}
	_, err := load(context.Background(), l, "p", people, []etl.Row{{int64(1), "old"}})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	p := &etl.Pipeline{Name: "p", Sink: l, Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: people, Rows: func(yield func(etl.Row, error) bool) {
			for i := range int64(100) {
				if i == 10 {
					cancel()
				}
				if !yield(etl.Row{i + 10, "new"}, nil) {
					return
				}
			}
		}}, nil
	})}
	_, err = p.Run(ctx, etl.Window{})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []string{"1|old"}, dump(t, db, "t"))
	runs, err := (&sqlite.State{DB: db}).Runs(context.Background(), "p", 1)
	require.NoError(t, err)
	require.Equal(t, "failed", runs[0].Status)
	require.Equal(t, "stage", runs[0].Step)
}

func TestFailureBeforeTheLoadIsRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	p := &etl.Pipeline{Name: "p", Sink: &sqlite.Merge{Target: sqlite.Target{DB: db, Table: "t", Key: []string{"id"}, Create: true}},
		Meta: etl.Meta{Owner: "data team"},
		Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.Stream{}, errors.New("source is down")
		})}
	_, err := p.Run(ctx, etl.Window{})
	require.Error(t, err)
	runs, err := (&sqlite.State{DB: db}).Runs(ctx, "", 0)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "extract", runs[0].Step)
	require.Equal(t, "merge", runs[0].Mode)
	require.Equal(t, "data team", runs[0].Owner)
	require.Contains(t, runs[0].Error, "source is down")
}

func TestLineageNamesTheFileAndTable(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	ds := (&sqlite.Merge{Target: sqlite.Target{DB: db, Table: "items", Create: true}}).Datasets()
	require.Len(t, ds, 1)
	require.Equal(t, "file", ds[0].Namespace, "OpenLineage's namespace for local files")
	require.True(t, filepath.IsAbs(db.Path()))
	require.Equal(t, filepath.ToSlash(db.Path())+"/items", ds[0].Name)
}

func TestOpenRefusesInMemory(t *testing.T) {
	t.Parallel()
	_, err := sqlite.Open(":memory:")
	require.Error(t, err)
}

func TestMergeReconcileDeletesRowsGoneFromTheSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	keySchema := etl.Schema{{Name: "id", Type: etl.TypeInt64}}
	keys := func(ids ...int64) etl.Extractor {
		return etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			rows := make([]etl.Row, len(ids))
			for i, id := range ids {
				rows[i] = etl.Row{id}
			}
			return etl.SliceStream(keySchema, rows), nil
		})
	}
	base := &sqlite.Merge{Target: sqlite.Target{DB: db, Table: "items", Key: []string{"id"}, Create: true}, Cursor: "modified", Deleted: "deleted"}
	_, err := load(ctx, base, "items", items, []etl.Row{
		item(1, "a", 1, false), item(2, "b", 2, false), item(3, "c", 3, false), item(4, "d", 4, false), item(5, "e", 5, false),
	})
	require.NoError(t, err)

	l := base
	l.Reconcile = &sqlite.Reconcile{Keys: keys(), Scope: `"modified" >= ?`, ScopeArgs: []any{t0.Add(3 * time.Minute)}}
	_, err = load(ctx, l, "items", items, nil)
	require.ErrorIs(t, err, etl.ErrEmpty, "an empty key stream never wipes the scope")
	require.Len(t, dump(t, db, "items"), 5)

	// Rows 3 and 5 are gone from the source; 1 and 2 are out of scope and stay.
	l.Reconcile.Keys = keys(4, 6) // the source's keys in scope, after its changes
	res, err := load(ctx, l, "items", items, []etl.Row{item(6, "f", 6, false), item(2, "b", 7, true)})
	require.NoError(t, err)
	require.Equal(t, []string{"1|a|0", "4|d|0", "6|f|0"}, names(t, db, "items"))
	require.Equal(t, int64(3), res.RowsDeleted, "row 2 by its tombstone, rows 3 and 5 by reconciliation")
}
