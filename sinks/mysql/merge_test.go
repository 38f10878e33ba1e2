package mysql_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/mysqltest"
	"github.com/sluice-etl/sluice/sinks/mysql"
)

func TestMergeNeedsAUniqueKey(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, "CREATE TABLE loose (id BIGINT, name VARCHAR(100), qty BIGINT, modified DATETIME(6), deleted BOOLEAN, INDEX (id))")
	_, err := runLoad(ctx, "m", &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "loose", Key: []string{"id"}}},
		itemSchema, item(1, "a", 1, t0, false))
	require.ErrorIs(t, err, mysql.ErrNoUniqueKey)
	require.ErrorContains(t, err, "add a PRIMARY KEY or UNIQUE index")

	_, err = runLoad(ctx, "m", &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "loose"}}, itemSchema, item(1, "a", 1, t0, false))
	require.ErrorIs(t, err, mysql.ErrNoKey)

	// A unique index on part of the key makes the key unique too.
	execSQL(t, db.DB, "CREATE TABLE pair (a BIGINT NOT NULL, b BIGINT NOT NULL, v VARCHAR(10), UNIQUE (a))")
	schema := etl.Schema{{Name: "a", Type: etl.TypeInt64}, {Name: "b", Type: etl.TypeInt64}, {Name: "v", Type: etl.TypeText}}
	sink := &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "pair", Key: []string{"a", "b"}}}
	_, err = runLoad(ctx, "pair", sink, schema, etl.Row{int64(1), int64(1), "x"})
	require.NoError(t, err)
	_, err = runLoad(ctx, "pair", sink, schema, etl.Row{int64(1), int64(1), "y"}, etl.Row{int64(2), int64(1), "z"})
	require.NoError(t, err)
	var got string
	require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(CONCAT(a, b, v) ORDER BY a) FROM pair").Scan(&got))
	require.Equal(t, "11y,21z", got)
}

func TestMergeRefusesNullKeys(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, "CREATE TABLE items (id BIGINT, name VARCHAR(100), qty BIGINT, modified DATETIME(6), deleted BOOLEAN, UNIQUE (id))")
	sink := &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "items", Key: []string{"id"}}}
	_, err := runLoad(ctx, "m", sink, itemSchema, etl.Row{nil, "a", int64(1), t0, false})
	require.ErrorContains(t, err, "1 staged rows have a NULL in key (id)")
	require.Empty(t, contents(t, db.DB, "items"))
}

// With a second unique index, INSERT ... ON DUPLICATE KEY UPDATE could update the row
// that clashes on that index instead of the row with the key. The merge replaces by key
// instead: a value that moves between keys in one batch merges, and a clash with a row
// outside the batch fails the load.
func TestMergeWithAnotherUniqueIndex(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL, UNIQUE (email))")
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "email", Type: etl.TypeText}}
	sink := &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "users"}}
	_, err := runLoad(ctx, "users", sink, schema, etl.Row{int64(1), "a@x"}, etl.Row{int64(2), "b@x"}, etl.Row{int64(3), "c@x"})
	require.NoError(t, err)
	emails := func() string {
		var s string
		require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(CONCAT(id, '=', email) ORDER BY id) FROM users").Scan(&s))
		return s
	}

	// id 4 takes a@x, which id 1 gives up in the same batch.
	_, err = runLoad(ctx, "users", sink, schema, etl.Row{int64(4), "a@x"}, etl.Row{int64(1), "z@x"})
	require.NoError(t, err)
	require.Equal(t, "1=z@x,2=b@x,3=c@x,4=a@x", emails())

	// id 5 takes b@x, which id 2 keeps: ON DUPLICATE KEY UPDATE would have rewritten
	// row 2; the merge refuses.
	_, err = runLoad(ctx, "users", sink, schema, etl.Row{int64(5), "b@x"})
	require.Error(t, err)
	require.ErrorContains(t, err, "Duplicate entry 'b@x'")
	require.Equal(t, "1=z@x,2=b@x,3=c@x,4=a@x", emails())
}

func TestMergeDeletesAndVersions(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, "CREATE TABLE orders (id BIGINT PRIMARY KEY, status VARCHAR(20), version BIGINT NULL, removed_at DATETIME NULL)")
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "status", Type: etl.TypeText},
		{Name: "version", Type: etl.TypeInt64}, {Name: "removed_at", Type: etl.TypeTimestamp}}
	row := func(id int64, status string, version any, removed any) etl.Row {
		return etl.Row{id, status, version, removed}
	}
	sink := &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "orders", Checks: []checks.Check{checks.UniqueKey()}},
		Cursor: "version", Deleted: "removed_at"}
	_, err := runLoad(ctx, "orders", sink, schema, row(1, "new", int64(1), nil), row(2, "new", int64(1), nil), row(3, "new", int64(1), nil))
	require.NoError(t, err)
	res, err := runLoad(ctx, "orders", sink, schema,
		row(1, "paid", int64(3), nil), row(1, "sent", int64(2), nil), // the higher version wins whatever the order
		row(2, "gone", int64(2), t0), // deleted_at set: a tombstone
		row(3, "later", nil, nil),    // a NULL version loses to any version
		row(3, "kept", int64(1), nil),
	)
	require.NoError(t, err)
	var got string
	require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(CONCAT(id, '=', status) ORDER BY id) FROM orders").Scan(&got))
	require.Equal(t, "1=paid,3=kept", got)
	require.Equal(t, int64(1), res.Stats.RowsDeleted)

	keep := &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "orders"}, Cursor: "version", Deleted: "removed_at", KeepDeleted: true}
	_, err = runLoad(ctx, "orders", keep, schema, row(3, "gone", int64(5), t0))
	require.NoError(t, err)
	require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(CONCAT(id, '=', status, '@', COALESCE(removed_at, '-')) ORDER BY id) FROM orders").Scan(&got))
	require.Equal(t, "1=paid@-,3=gone@2026-01-01 00:00:00", got)
}

// A stream without some of the table's columns replaces whole rows, as a delete and
// insert would: the missing columns take their defaults, in every merged row alike.
func TestMergeOfFewerColumnsReplacesRows(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(10), note VARCHAR(10) DEFAULT 'none')")
	execSQL(t, db.DB, "INSERT INTO items VALUES (1, 'a', 'old'), (2, 'b', 'old')")
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name", Type: etl.TypeText}}
	_, err := runLoad(ctx, "m", &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "items"}}, schema,
		etl.Row{int64(1), "a2"}, etl.Row{int64(3), "c"})
	require.NoError(t, err)
	var got string
	require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(CONCAT(id, name, note) ORDER BY id) FROM items").Scan(&got))
	require.Equal(t, "1a2none,2bold,3cnone", got)
}

// Under a case-insensitive collation "ann" is the key "Ann"; the merged row takes the
// stream's spelling rather than keep the old one.
func TestMergeKeyTakesTheStreamsSpelling(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, "CREATE TABLE names (name VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, n BIGINT)")
	schema := etl.Schema{{Name: "name", Type: etl.TypeText}, {Name: "n", Type: etl.TypeInt64}}
	sink := &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "names"}}
	_, err := runLoad(ctx, "names", sink, schema, etl.Row{"Ann", int64(1)})
	require.NoError(t, err)
	_, err = runLoad(ctx, "names", sink, schema, etl.Row{"ann", int64(2)})
	require.NoError(t, err)
	var got string
	require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(CONCAT(name, n)) FROM names").Scan(&got))
	require.Equal(t, "ann2", got)
}

func TestMergeReconcilesHardDeletes(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
	execSQL(t, db.DB, "INSERT INTO items VALUES (1, 'a', 1, '2026-01-01', 0), (2, 'b', 2, '2026-01-01', 0), (3, 'c', 3, '2025-01-01', 0), (4, 'd', 4, '2026-01-01', 0)")
	keySchema := etl.Schema{{Name: "id", Type: etl.TypeInt64}}
	keys := func(ids ...int64) etl.Extractor {
		rows := make([]etl.Row, len(ids))
		for i, id := range ids {
			rows[i] = etl.Row{id}
		}
		return etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) { return etl.SliceStream(keySchema, rows), nil })
	}
	sink := &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "items"}, Cursor: "modified", Deleted: "deleted",
		Reconcile: &mysql.Reconcile{Keys: keys(1, 4, 4), Scope: "t.modified >= ?", ScopeArgs: []any{time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)}}}
	res, err := runLoad(ctx, "sync", sink, itemSchema, item(4, "d2", 4, t0.Add(time.Hour), false))
	require.NoError(t, err)
	require.Equal(t, []string{"1|a|1", "3|c|3", "4|d2|4"}, contents(t, db.DB, "items"), "2 is gone; 3 is out of scope")
	require.Equal(t, int64(1), res.Stats.RowsDeleted)

	sink.Reconcile = &mysql.Reconcile{Keys: keys()}
	_, err = runLoad(ctx, "sync", sink, itemSchema, item(4, "d3", 4, t0.Add(2*time.Hour), false))
	require.ErrorIs(t, err, etl.ErrEmpty)
	require.Equal(t, []string{"1|a|1", "3|c|3", "4|d2|4"}, contents(t, db.DB, "items"))
}

func TestWindowReplaceRefusesRowsOutsideTheWindow(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, "CREATE TABLE daily (id BIGINT PRIMARY KEY, day DATE NOT NULL, n BIGINT)")
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "day", Type: etl.TypeDate}, {Name: "n", Type: etl.TypeInt64}}
	sink := &mysql.WindowReplace{Target: mysql.Target{DB: db.DB, Table: "daily"}, TimeColumn: "day"}
	day := func(d int) time.Time { return t0.AddDate(0, 0, d) }
	load := func(w etl.Window, rows ...etl.Row) error {
		_, err := (&etl.Pipeline{Name: "daily", Source: rowsSource(schema, rows...), Sink: sink}).Run(ctx, w)
		return err
	}
	require.NoError(t, load(etl.Window{Start: day(0), End: day(1)}, etl.Row{int64(1), day(0), int64(1)}))
	require.NoError(t, load(etl.Window{Start: day(1), End: day(2)}, etl.Row{int64(2), day(1), int64(1)}))
	err := load(etl.Window{Start: day(1), End: day(2)}, etl.Row{int64(3), day(1), int64(2)}, etl.Row{int64(4), day(2), int64(2)})
	require.ErrorContains(t, err, "1 rows have day outside the window")
	require.NoError(t, load(etl.Window{Start: day(1), End: day(2)}, etl.Row{int64(3), day(1), int64(2)}))
	var got string
	require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(CONCAT(id, '@', day) ORDER BY id) FROM daily").Scan(&got))
	require.Equal(t, "1@2026-01-01,3@2026-01-02", got)

	require.ErrorIs(t, load(etl.Window{}, etl.Row{int64(9), day(0), int64(1)}), mysql.ErrNoWindow)
}

// When the key's index is the table's only unique index and the stream carries every
// column, rows are upserted in place, not deleted and inserted again, so ON DELETE
// triggers and cascades of other tables' foreign keys do not fire for updated rows.
func TestMergeUpsertsInPlace(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
	execSQL(t, db.DB, "CREATE TABLE child (id BIGINT PRIMARY KEY, item BIGINT, FOREIGN KEY (item) REFERENCES items (id) ON DELETE CASCADE)")
	execSQL(t, db.DB, "CREATE TABLE deletes (id BIGINT)")
	execSQL(t, db.DB, "CREATE TRIGGER items_delete AFTER DELETE ON items FOR EACH ROW INSERT INTO deletes VALUES (OLD.id)")
	sink := &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "items"}, Cursor: "modified", Deleted: "deleted"}
	_, err := runLoad(ctx, "m", sink, itemSchema, item(1, "a", 1, t0, false), item(2, "b", 2, t0, false))
	require.NoError(t, err)
	execSQL(t, db.DB, "INSERT INTO child VALUES (10, 1), (20, 2)")
	res, err := runLoad(ctx, "m", sink, itemSchema, item(1, "a2", 5, t0.Add(time.Hour), false), item(2, "b", 2, t0.Add(time.Hour), true))
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Stats.RowsWritten)
	require.Equal(t, int64(1), res.Stats.RowsDeleted)
	require.Equal(t, []string{"1|a2|5"}, contents(t, db.DB, "items"))
	var deleted, children string
	require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(id) FROM deletes").Scan(&deleted))
	require.Equal(t, "2", deleted, "only the tombstone's row was deleted")
	require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(id) FROM child").Scan(&children))
	require.Equal(t, "10", children)
}
