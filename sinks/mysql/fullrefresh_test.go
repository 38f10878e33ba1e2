package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/mysqltest"
	"github.com/sluice-etl/sluice/sinks/mysql"
)

var strategies = []mysql.Strategy{mysql.Delete, mysql.Swap}

// failingSource yields rows and then fails, as a source whose connection drops does.
func failingSource(rows ...etl.Row) etl.Extractor {
	return etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: itemSchema, Rows: func(yield func(etl.Row, error) bool) {
			for _, r := range rows {
				if !yield(r, nil) {
					return
				}
			}
			yield(nil, errors.New("source broke after the rows"))
		}}, nil
	})
}

func TestFullRefreshFailuresKeepTheOldRows(t *testing.T) {
	t.Parallel()
	for _, strategy := range strategies {
		t.Run(strategy.String(), func(t *testing.T) {
			t.Parallel()
			db := mysqltest.New(t)
			ctx := context.Background()
			execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
			sink := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items",
				Checks: []checks.Check{checks.SQL("qty_positive", "SELECT id FROM {{table}} WHERE qty <= 0")}}, Strategy: strategy}
			_, err := runLoad(ctx, "refresh", sink, itemSchema, item(1, "a", 1, t0, false), item(2, "b", 2, t0, false))
			require.NoError(t, err)
			old := []string{"1|a|1", "2|b|2"}

			// A failed check.
			_, err = runLoad(ctx, "refresh", sink, itemSchema, item(3, "c", -1, t0, false))
			require.Equal(t, "check", etl.Step(err), errText(err))
			require.Equal(t, old, contents(t, db.DB, "items"))

			// A stream that breaks after some rows were sent.
			many := make([]etl.Row, 5000)
			for i := range many {
				many[i] = item(int64(i+10), "x", 1, t0, false)
			}
			_, err = (&etl.Pipeline{Name: "refresh", Source: failingSource(many...), Sink: sink}).Run(ctx, etl.Window{})
			require.ErrorContains(t, err, "source broke")
			require.Equal(t, old, contents(t, db.DB, "items"))

			// A value the column cannot hold, far into the stream: one the load refuses
			// itself, and one only the server does.
			bad := append(append([]etl.Row(nil), many...), item(9999, string(make([]byte, 101)), 1, t0, false))
			_, err = runLoad(ctx, "refresh", sink, itemSchema, bad...)
			require.ErrorContains(t, err, "row 5001")
			require.ErrorContains(t, err, `column "name"`)
			require.Equal(t, old, contents(t, db.DB, "items"))
			bad[len(bad)-1] = item(9999, "not UTF-8: \xff", 1, t0, false)
			_, err = runLoad(ctx, "refresh", sink, itemSchema, bad...)
			require.ErrorContains(t, err, "row 5001")
			require.ErrorContains(t, err, "`name`")
			require.Equal(t, old, contents(t, db.DB, "items"))

			// A cancelled load.
			cctx, cancel := context.WithCancel(ctx)
			slow := etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
				return etl.Stream{Schema: itemSchema, Rows: func(yield func(etl.Row, error) bool) {
					for i := range 100000 {
						if i == 1000 {
							cancel()
						}
						if !yield(item(int64(i+10), "x", 1, t0, false), nil) {
							return
						}
					}
				}}, nil
			})
			_, err = (&etl.Pipeline{Name: "refresh", Source: slow, Sink: sink}).Run(cctx, etl.Window{})
			require.Error(t, err)
			require.Equal(t, old, contents(t, db.DB, "items"))

			requireNoStray(t, db.DB)
			runs, err := (&mysql.State{DB: db.DB}).Runs(ctx, "refresh", 0)
			require.NoError(t, err)
			require.Len(t, runs, 6)
			require.Equal(t, "success", runs[5].Status)
			for _, r := range runs[:5] {
				require.Equal(t, "failed", r.Status, "%+v", r)
			}
			require.Equal(t, "check", runs[4].Step)

			// The lock went with the failed loads: the next run goes through.
			_, err = runLoad(ctx, "refresh", sink, itemSchema, item(5, "e", 5, t0, false))
			require.NoError(t, err)
			require.Equal(t, []string{"5|e|5"}, contents(t, db.DB, "items"))
			requireNoStray(t, db.DB)
		})
	}
}

// A swap whose RENAME cannot get the table (a reader holds it in an open transaction)
// gives up after LockTimeout and its retries, and leaves the old table in place.
func TestSwapThatCannotRenameKeepsTheOldTable(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
	sink := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items"}, Strategy: mysql.Swap,
		LockTimeout: time.Second, LockRetries: 1}
	_, err := runLoad(ctx, "swap", sink, itemSchema, item(1, "a", 1, t0, false))
	require.NoError(t, err)

	reader, err := db.DB.BeginTx(ctx, nil)
	require.NoError(t, err)
	var n int
	require.NoError(t, reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM items").Scan(&n))
	_, err = runLoad(ctx, "swap", sink, itemSchema, item(2, "b", 2, t0, false))
	require.Error(t, err)
	require.Equal(t, "apply", etl.Step(err), errText(err))
	require.ErrorContains(t, err, "swap the new")
	require.NoError(t, reader.Rollback())
	require.Equal(t, []string{"1|a|1"}, contents(t, db.DB, "items"))
	requireNoStray(t, db.DB)

	_, err = runLoad(ctx, "swap", sink, itemSchema, item(2, "b", 2, t0, false))
	require.NoError(t, err)
	require.Equal(t, []string{"2|b|2"}, contents(t, db.DB, "items"))
}

// While a load runs its checks, readers see the old rows: inside the delete strategy's
// transaction and before the swap's rename.
func TestReadersSeeTheOldRowsUntilTheEnd(t *testing.T) {
	t.Parallel()
	for _, strategy := range strategies {
		t.Run(strategy.String(), func(t *testing.T) {
			t.Parallel()
			db := mysqltest.New(t)
			ctx := context.Background()
			execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
			_, err := runLoad(ctx, "r", &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items"}}, itemSchema,
				item(1, "old", 1, t0, false))
			require.NoError(t, err)

			block := newBlockingCheck()
			sink := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items", Checks: []checks.Check{block}},
				Strategy: strategy}
			done := make(chan error, 1)
			go func() {
				_, err := runLoad(ctx, "r", sink, itemSchema, item(1, "new", 1, t0, false), item(2, "new", 2, t0, false))
				done <- err
			}()
			<-block.reached
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			var names string
			require.NoError(t, db.DB.QueryRowContext(qctx, "SELECT GROUP_CONCAT(name ORDER BY id) FROM items").Scan(&names),
				"a reader must not block on the load")
			require.Equal(t, "old", names)
			close(block.release)
			require.NoError(t, <-done)
			require.Equal(t, []string{"1|new|1", "2|new|2"}, contents(t, db.DB, "items"))
		})
	}
}

func TestSwapRefusesTablesItWouldChange(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "parent"))
	execSQL(t, db.DB, "CREATE TABLE child (id BIGINT PRIMARY KEY, parent BIGINT, FOREIGN KEY (parent) REFERENCES parent (id) ON DELETE CASCADE)")
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "logged"))
	execSQL(t, db.DB, "CREATE TABLE log (id BIGINT)")
	execSQL(t, db.DB, "CREATE TRIGGER logged_insert AFTER INSERT ON logged FOR EACH ROW INSERT INTO log VALUES (NEW.id)")

	for table, want := range map[string]string{
		"parent": "foreign key",
		"child":  "foreign key",
		"logged": "trigger logged_insert",
	} {
		if table == "child" {
			continue // child has other columns; parent and logged show both sides
		}
		sink := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: table}, Strategy: mysql.Swap}
		_, err := runLoad(ctx, "swap "+table, sink, itemSchema, item(1, "a", 1, t0, false))
		require.ErrorIs(t, err, mysql.ErrSwapUnsafe, table)
		require.ErrorContains(t, err, want)
	}

	// The delete strategy keeps triggers, and refuses only what would change other tables.
	sink := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "logged"}}
	_, err := runLoad(ctx, "delete logged", sink, itemSchema, item(1, "a", 1, t0, false))
	require.NoError(t, err)
	var logged int
	require.NoError(t, db.DB.QueryRow("SELECT COUNT(*) FROM log").Scan(&logged))
	require.Equal(t, 1, logged, "the trigger fired")

	sink = &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "parent"}}
	_, err = runLoad(ctx, "delete parent", sink, itemSchema, item(1, "a", 1, t0, false))
	require.ErrorIs(t, err, mysql.ErrDeleteUnsafe)
	require.ErrorContains(t, err, "ON DELETE CASCADE")
}

// Grants are kept by the table's name, so the swapped-in table has them; views read it.
func TestSwapKeepsGrantsAndViews(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
	execSQL(t, db.DB, "CREATE VIEW big AS SELECT id FROM items WHERE qty > 1")
	user := "sluice_" + db.Name[len(db.Name)-8:]
	execSQL(t, db.DB, "CREATE USER '"+user+"'@'localhost'")
	t.Cleanup(func() { _, _ = db.DB.Exec("DROP USER '" + user + "'@'localhost'") })
	execSQL(t, db.DB, "GRANT SELECT ON `"+db.Name+"`.`items` TO '"+user+"'@'localhost'")

	sink := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items"}, Strategy: mysql.Swap}
	_, err := runLoad(ctx, "swap", sink, itemSchema, item(1, "a", 1, t0, false), item(2, "b", 2, t0, false))
	require.NoError(t, err)
	var grants string
	require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(PRIVILEGE_TYPE) FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'items'",
		db.Name).Scan(&grants))
	require.Equal(t, "SELECT", grants)
	var n int
	require.NoError(t, db.DB.QueryRow("SELECT COUNT(*) FROM big").Scan(&n))
	require.Equal(t, 1, n)
}

func TestMissingTable(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	for _, strategy := range strategies {
		sink := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "names_" + strategy.String()}, Strategy: strategy}
		schema := etl.Schema{{Name: "name", Type: etl.TypeText, NotNull: true}, {Name: "n", Type: etl.TypeInt64}}
		_, err := runLoad(ctx, "create", sink, schema, etl.Row{"Ann", int64(1)})
		require.ErrorIs(t, err, etl.ErrNoTable)
		require.ErrorContains(t, err, "set Create")

		sink.Create, sink.Key = true, []string{"name"}
		sink.Checks = []checks.Check{checks.UniqueKey()}
		res, err := runLoad(ctx, "create", sink, schema, etl.Row{"Ann", int64(1)}, etl.Row{"ann", int64(2)}, etl.Row{"Ann ", int64(3)})
		require.NoError(t, err, "keys compare exactly in a created table")
		require.Equal(t, "enforced by a unique index on the key; no scan needed", res.Checks[0].Note)
		var cols string
		require.NoError(t, db.DB.QueryRow("SELECT GROUP_CONCAT(CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE, ' ', COLUMN_KEY) ORDER BY ORDINAL_POSITION) "+
			"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", db.Name, "names_"+strategy.String()).Scan(&cols))
		require.Equal(t, "name varchar(255) NO PRI,n bigint(20) YES ", cols)
	}
}

// A duplicate that the table's primary key refuses is the unique_key check failing.
func TestDuplicateRefusedByTheKeyFailsTheUniqueKeyCheck(t *testing.T) {
	t.Parallel()
	for _, strategy := range strategies {
		t.Run(strategy.String(), func(t *testing.T) {
			t.Parallel()
			db := mysqltest.New(t)
			ctx := context.Background()
			execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
			sink := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items",
				Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey("id")}}, Strategy: strategy}
			_, err := runLoad(ctx, "dups", sink, itemSchema, item(1, "a", 1, t0, false))
			require.NoError(t, err)
			_, err = runLoad(ctx, "dups", sink, itemSchema, item(7, "x", 1, t0, false), item(7, "y", 2, t0, false))
			require.Equal(t, "check", etl.Step(err), errText(err))
			var ce *checks.Error
			require.True(t, errors.As(err, &ce), errText(err))
			require.Equal(t, "unique_key(id)", ce.Result.Name)
			require.Equal(t, []string{"'7' for key 'PRIMARY'"}, ce.Result.Samples)
			require.Equal(t, []string{"1|a|1"}, contents(t, db.DB, "items"))
			requireNoStray(t, db.DB)
		})
	}
}

func TestPipelineLock(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
	sink := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items"}}

	// Another program holds the pipeline's lock.
	holder, err := db.DB.Conn(ctx)
	require.NoError(t, err)
	defer holder.Close()
	var got int
	require.NoError(t, holder.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", mysql.LockName(db.Name, "locked")).Scan(&got))
	require.Equal(t, 1, got)

	_, err = runLoad(ctx, "locked", sink, itemSchema, item(1, "a", 1, t0, false))
	require.ErrorIs(t, err, etl.ErrLocked)
	require.ErrorContains(t, err, "LockWait")
	state := &mysql.State{DB: db.DB}
	require.ErrorIs(t, state.Reset(ctx, "locked"), etl.ErrLocked)
	runs, err := state.Runs(ctx, "locked", 0)
	require.NoError(t, err)
	require.Empty(t, runs, "a run that found the pipeline locked leaves no record")

	// A waiting run goes through once the lock is released.
	sink.LockWait = 10 * time.Second
	done := make(chan error, 1)
	go func() {
		_, err := runLoad(ctx, "locked", sink, itemSchema, item(1, "a", 1, t0, false))
		done <- err
	}()
	// Release the lock only once the run waits for it, so that the wait is what is tested.
	require.Eventually(t, func() bool {
		var waiting int
		err := db.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT GET_LOCK%'",
			db.Name).Scan(&waiting)
		return err == nil && waiting == 1
	}, time.Minute, 10*time.Millisecond, "the second run never waited for the lock")
	require.NoError(t, holder.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", mysql.LockName(db.Name, "locked")).Scan(&got))
	require.NoError(t, <-done)
	require.Equal(t, []string{"1|a|1"}, contents(t, db.DB, "items"))

	// Other pipelines, and the same name with its state elsewhere, are not blocked.
	require.NotEqual(t, mysql.LockName(db.Name, "locked"), mysql.LockName("other", "locked"))
}

// A load changes its session's settings; the pool never hands that connection out again.
func TestSessionSettingsDoNotLeak(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	db.DB.SetMaxOpenConns(1)
	var before string
	require.NoError(t, db.DB.QueryRow("SELECT CONCAT(@@session.sql_mode, '/', @@session.time_zone)").Scan(&before))
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
	_, err := runLoad(ctx, "leak", &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items"}}, itemSchema, item(1, "a", 1, t0, false))
	require.NoError(t, err)
	var after string
	require.NoError(t, db.DB.QueryRow("SELECT CONCAT(@@session.sql_mode, '/', @@session.time_zone)").Scan(&after))
	require.Equal(t, before, after)
}

// A swap killed between its CREATE and its RENAME leaves the new table, and one killed
// between the RENAME and the DROP the old one; the next swap of the table drops both.
func TestSwapDropsWhatAKilledSwapLeft(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items__sluice_new"))
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items__sluice_old"))
	execSQL(t, db.DB, "INSERT INTO items__sluice_new VALUES (9, 'half', 9, NULL, 0)")
	sink := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items"}, Strategy: mysql.Swap}
	_, err := runLoad(ctx, "swap", sink, itemSchema, item(1, "a", 1, t0, false))
	require.NoError(t, err)
	require.Equal(t, []string{"1|a|1"}, contents(t, db.DB, "items"))
	requireNoStray(t, db.DB)
}

// A value the column cannot hold is named by the line of the input it came from, when
// the stream says where its rows come from (etl.Stream.Position), as the other sinks
// name it; merge stages go through the same path.
func TestValueErrorsNameTheSourceLine(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, "CREATE TABLE amounts (id BIGINT PRIMARY KEY, amount DECIMAL(10,2))")
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "amount", Type: etl.TypeNumeric}}
	rows := []etl.Row{{int64(1), etl.Decimal("1.50")}, {int64(2), etl.Decimal("2.25")}, {int64(3), etl.Decimal("3.125")}}
	src := etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		line := int64(0)
		return etl.Stream{Schema: schema, Position: func() etl.Position { return etl.Position{Source: "amounts.csv", Line: line} },
			Rows: func(yield func(etl.Row, error) bool) {
				for i, r := range rows {
					line = int64(10 + 2*i) // records on every other line
					if !yield(r, nil) {
						return
					}
				}
			}}, nil
	})
	for _, sink := range []etl.Loader{
		&mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "amounts"}},
		&mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "amounts"}},
	} {
		_, err := (&etl.Pipeline{Name: "amounts", Source: src, Sink: sink}).Run(ctx, etl.Window{})
		var ve *mysql.ValueError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "amounts.csv", ve.Source)
		require.Equal(t, int64(14), ve.Line)
		require.Equal(t, int64(3), ve.Row)
		require.ErrorContains(t, err, `amounts.csv: line 14: table `+db.Name+`.amounts, row 3, column "amount": value "3.125"`)
	}
}

// A load cancelled while the server runs one of its statements gives the pipeline's lock
// back before Run returns: the driver only closes its socket, and the server thread, busy
// in the statement, would keep the lock until the statement ended.
func TestCancelledLoadReleasesTheLockBeforeReturning(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
	slow := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items",
		Checks: []checks.Check{checks.SQL("slow", "SELECT id FROM {{table}} WHERE SLEEP(10) = 1")}}}
	cctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := runLoad(cctx, "refresh", slow, itemSchema, item(1, "a", 1, t0, false))
	require.Error(t, err)
	require.Less(t, time.Since(start), 8*time.Second, "the cancelled load waited for its statement")

	// LockWait 0: the lock must be free now, not when the SLEEP ends.
	fast := &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "items"}}
	_, err = runLoad(ctx, "refresh", fast, itemSchema, item(2, "b", 2, t0, false))
	require.NoError(t, err)
	require.Equal(t, []string{"2|b|2"}, contents(t, db.DB, "items"))
}
