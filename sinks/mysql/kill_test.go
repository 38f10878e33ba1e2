package mysql_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/mysqltest"
	"github.com/sluice-etl/sluice/sinks/mysql"
)

// The killed loader runs in a child process: the test binary itself, re-run with these
// variables set, so that SIGKILL takes its connections down with it as in production.
const (
	killDSN  = "SLUICE_MYSQL_KILL_DSN"
	killMode = "SLUICE_MYSQL_KILL_MODE"
	killAt   = "SLUICE_MYSQL_KILL_AT"
	killVer  = "SLUICE_MYSQL_KILL_VERSION"
	killRows = 5000
)

// Where the child asks to be killed (SLUICE_MYSQL_KILL_AT): a row number at which the
// stream stops and waits (mid-LOAD DATA), or one of these.
const (
	killInCheck     = -1 // after apply (and a swap's load), before the rename and the commit
	killAfterStream = -2 // somewhere after the stream ended, wherever the kill lands
)

const wideTable = "CREATE TABLE `%s` (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, " +
	"qty BIGINT NOT NULL, amount DECIMAL(12,2), note LONGTEXT)"

var wideSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64}, {Name: "name", Type: etl.TypeText}, {Name: "qty", Type: etl.TypeInt64},
	{Name: "amount", Type: etl.TypeNumeric}, {Name: "note", Type: etl.TypeText},
}

// wideSource streams killRows rows whose values depend on version.
func wideSource(version int) etl.Extractor {
	return etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: wideSchema, Rows: func(yield func(etl.Row, error) bool) {
			for i := int64(1); i <= killRows; i++ {
				v := int64(version)
				row := etl.Row{i, fmt.Sprintf("name %d\tv%d", i, v), i * v, etl.Decimal(fmt.Sprintf("%d.%02d", i, v%100)),
					fmt.Sprintf("line one\nline two of row %d, version %d \\ done", i, v)}
				if !yield(row, nil) {
					return
				}
			}
		}}, nil
	})
}

// mysqlSource reads the src table incrementally, with a one-minute look-back.
func mysqlSource(db *sql.DB) etl.Extractor {
	return etl.ExtractFunc(func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: itemSchema, Rows: func(yield func(etl.Row, error) bool) {
			from := time.Unix(0, 0).UTC()
			if wm, ok := run.Watermark(); ok {
				from = wm.(time.Time).Add(-time.Minute)
			}
			rows, err := db.QueryContext(ctx, "SELECT id, name, qty, modified, deleted FROM src WHERE modified > ?",
				from.Format("2006-01-02 15:04:05.999999"))
			if err != nil {
				yield(nil, err)
				return
			}
			defer rows.Close()
			var latest time.Time
			for rows.Next() {
				var id, qty int64
				var name, modified string
				var deleted bool
				if err := rows.Scan(&id, &name, &qty, &modified, &deleted); err != nil {
					yield(nil, err)
					return
				}
				m, err := time.Parse("2006-01-02 15:04:05.999999", modified)
				if err != nil {
					yield(nil, err)
					return
				}
				if m.After(latest) {
					latest = m
				}
				if !yield(etl.Row{id, name, qty, m, deleted}, nil) {
					return
				}
			}
			if err := rows.Err(); err != nil {
				yield(nil, err)
				return
			}
			if !latest.IsZero() {
				run.Advance(latest)
			}
		}}, nil
	})
}

func killLoader(db *sql.DB, mode string) etl.Loader {
	target := mysql.Target{DB: db, Table: "w", Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey("id")}}
	switch mode {
	case "merge":
		target.Table = "items"
		return &mysql.Merge{Target: target, Cursor: "modified", Deleted: "deleted"}
	case "swap":
		return &mysql.FullRefresh{Target: target, Strategy: mysql.Swap}
	}
	return &mysql.FullRefresh{Target: target, Strategy: mysql.Delete}
}

// announce prints KILLME when the stream reaches row at and then waits to be killed; with
// killAfterStream it prints KILLME after the last row and goes on.
func announce(s etl.Stream, at int) etl.Stream {
	rows := s.Rows
	s.Rows = func(yield func(etl.Row, error) bool) {
		n := 0
		for r, err := range rows {
			if n++; n == at {
				fmt.Println("KILLME")
				time.Sleep(time.Hour)
			}
			if !yield(r, err) {
				return
			}
		}
		if at == killAfterStream {
			fmt.Println("KILLME")
		}
	}
	return s
}

// pause is a check that waits to be killed inside the load's transaction.
type pause struct{}

func (pause) Name() string           { return "pause" }
func (pause) Severity() etl.Severity { return etl.SeverityError }
func (pause) Run(context.Context, checks.Target) (etl.CheckResult, error) {
	fmt.Println("KILLME")
	time.Sleep(time.Hour)
	return etl.CheckResult{}, nil
}

func TestKillChild(t *testing.T) {
	dsn := os.Getenv(killDSN)
	if dsn == "" {
		t.Skip("the loader that TestSIGKILL starts and kills")
	}
	ctx := context.Background()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	mode := os.Getenv(killMode)
	at, _ := strconv.Atoi(os.Getenv(killAt))
	version, _ := strconv.Atoi(os.Getenv(killVer))
	src := wideSource(version)
	if mode == "merge" {
		src = mysqlSource(db)
	}
	inner := src
	src = etl.ExtractFunc(func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
		s, err := inner.Extract(ctx, run)
		return announce(s, at), err
	})
	loader := killLoader(db, mode)
	if at == killInCheck {
		switch l := loader.(type) {
		case *mysql.FullRefresh:
			l.Checks = append(l.Checks, pause{})
		case *mysql.Merge:
			l.Checks = append(l.Checks, pause{})
		}
	}
	_, err = (&etl.Pipeline{Name: "killed", Source: src, Sink: loader}).Run(ctx, etl.Window{})
	require.NoError(t, err)
	fmt.Println("DONE")
}

// checksum fingerprints a table's rows, in any order.
func checksum(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var n int64
	var sum string
	cols := "id, name, qty, amount, note"
	if table == "items" {
		cols = "id, name, qty, modified, deleted"
	}
	require.NoError(t, db.QueryRow("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', "+cols+"))), 0) FROM `"+
		table+"`").Scan(&n, &sum))
	return fmt.Sprintf("%d/%s", n, sum)
}

// TestSIGKILL kills loaders at random instants, 20 times for each full refresh strategy
// and for the merge: mid-LOAD DATA, inside the transaction while the checks run, and at a
// random moment after the stream ended (the swap's rename, the commit). Every time the
// table must hold its old rows or exactly the new ones, and the next run must succeed.
func TestSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts 60 loader processes")
	}
	for _, mode := range []string{"delete", "swap", "merge"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			db := mysqltest.New(t)
			ctx := context.Background()
			rnd := rand.New(rand.NewPCG(uint64(len(mode)), uint64(time.Now().UnixNano())))
			execSQL(t, db.DB, fmt.Sprintf(wideTable, "w"))
			execSQL(t, db.DB, fmt.Sprintf(wideTable, "ref"))
			execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
			execSQL(t, db.DB, fmt.Sprintf(itemTable, "src"))
			execSQL(t, db.DB, "INSERT INTO src WITH d(i) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 "+
				"UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9), "+
				"g(i) AS (SELECT 1 + a.i + 10 * b.i + 100 * c.i + 1000 * e.i FROM d a, d b, d c, d e) "+
				"SELECT i, CONCAT('n', i), i, TIMESTAMPADD(MICROSECOND, i * 1000, '2026-01-01'), FALSE FROM g WHERE i <= ?", killRows)
			refresh := func(table string, version int) {
				t.Helper()
				if mode == "merge" {
					_, err := (&etl.Pipeline{Name: "killed", Source: mysqlSource(db.DB), Sink: killLoader(db.DB, mode)}).Run(ctx, etl.Window{})
					require.NoError(t, err)
					return
				}
				name, l := "killed", killLoader(db.DB, mode)
				if table == "ref" {
					name, l = "ref", &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "ref"}}
				}
				_, err := (&etl.Pipeline{Name: name, Source: wideSource(version), Sink: l}).Run(ctx, etl.Window{})
				require.NoError(t, err)
			}
			refresh("w", 1)
			state := &mysql.State{DB: db.DB}
			var kept, replaced int // how often the kill landed before and after commit
			defer func() { t.Logf("%s: %d kills kept the old rows, %d came after the commit", mode, kept, replaced) }()
			for trial := range 20 {
				version := trial + 2
				table := "w"
				if mode == "merge" {
					table = "items"
					execSQL(t, db.DB, "UPDATE src SET qty = qty + 1, modified = TIMESTAMPADD(HOUR, 1, modified), deleted = (id % 97 = ?) WHERE id % 10 = ?",
						trial, trial%10)
				} else {
					refresh("ref", version)
				}
				old := checksum(t, db.DB, table)
				oldWM, err := state.Watermark(ctx, "killed")
				require.NoError(t, err)

				at := 1 + rnd.IntN(killRows)
				if mode == "merge" {
					at = 1 + rnd.IntN(killRows/10) // a sync reads at least the tenth it changed
				}
				switch trial % 3 {
				case 1:
					at = killInCheck
				case 2:
					at = killAfterStream
				}
				cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), killDSN+"="+db.DSN, killMode+"="+mode,
					killAt+"="+strconv.Itoa(at), killVer+"="+strconv.Itoa(version))
				out, err := cmd.StdoutPipe()
				require.NoError(t, err)
				require.NoError(t, cmd.Start())
				lines := bufio.NewScanner(out)
				seen := false
				for !seen && lines.Scan() {
					seen = lines.Text() == "KILLME"
				}
				require.True(t, seen, "trial %d: the child ended before reaching row %d", trial, at)
				if at == killAfterStream {
					// A random point after the stream: the load's end, its checks, a swap's
					// rename, the commit, or after it.
					time.Sleep(time.Duration(rnd.IntN(500)) * time.Millisecond)
				}
				require.NoError(t, cmd.Process.Kill())
				_ = cmd.Wait()

				// The server ends the killed session, and its lock, when it notices.
				lock := mysql.LockName(db.Name, "killed")
				deadline := time.Now().Add(30 * time.Second)
				for {
					var holder sql.NullInt64
					require.NoError(t, db.DB.QueryRow("SELECT IS_USED_LOCK(?)", lock).Scan(&holder))
					if !holder.Valid {
						break
					}
					require.True(t, time.Now().Before(deadline), "trial %d: the killed session still holds the lock", trial)
					time.Sleep(10 * time.Millisecond)
				}

				now := checksum(t, db.DB, table)
				nowWM, err := state.Watermark(ctx, "killed")
				require.NoError(t, err)
				if now == old {
					kept++
				} else {
					replaced++
				}
				if mode == "merge" {
					// Either nothing happened, or the whole sync did: rows and watermark together.
					if now == old {
						require.Equal(t, oldWM, nowWM, "trial %d: rows unchanged but the watermark moved", trial)
					} else {
						requireSynced(t, db.DB)
					}
				} else {
					require.Contains(t, []string{old, checksum(t, db.DB, "ref")}, now, "trial %d (kill at row %d)", trial, at)
				}
				// The lock went with the session, and the next run goes through and leaves
				// nothing of the killed one behind.
				refresh(table, version)
				if mode == "merge" {
					requireSynced(t, db.DB)
				} else {
					require.Equal(t, checksum(t, db.DB, "ref"), checksum(t, db.DB, table))
				}
				requireNoStray(t, db.DB)
			}
		})
	}
}

// requireSynced checks that items holds exactly src's live rows and that the watermark
// is src's latest change.
func requireSynced(t *testing.T, db *sql.DB) {
	t.Helper()
	var diff int
	cols := "id, name, qty, modified"
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM (
		SELECT `+cols+` FROM items WHERE (`+cols+`) NOT IN (SELECT `+cols+` FROM src WHERE NOT deleted)
		UNION ALL
		SELECT `+cols+` FROM src WHERE NOT deleted AND (`+cols+`) NOT IN (SELECT `+cols+` FROM items)) d`).Scan(&diff))
	require.Zero(t, diff, "items must equal src's live rows")
	var latest string
	require.NoError(t, db.QueryRow(`SELECT MAX(modified) FROM src`).Scan(&latest))
	want, err := time.Parse("2006-01-02 15:04:05.999999", latest)
	require.NoError(t, err)
	wm, err := (&mysql.State{DB: db}).Watermark(context.Background(), "killed")
	require.NoError(t, err)
	require.True(t, want.Equal(wm.(time.Time)), "watermark %v, latest change %v", wm, want)
}
