package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
	"github.com/stretchr/testify/require"
)

// The killed loader runs in a child process: the test binary itself, re-run with these
// variables set, so that SIGKILL takes its connections down with it as in production.
const (
	killURL  = "SLUICE_PG_KILL_URL"
	killMode = "SLUICE_PG_KILL_MODE"
	killAt   = "SLUICE_PG_KILL_AT"
	killVer  = "SLUICE_PG_KILL_VERSION"
	killRows = 5000
)

// pgSource reads the src table incrementally, with a one-minute look-back.
func pgSource(pool *pgxpool.Pool) etl.Extractor {
	return etl.ExtractFunc(func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: itemSchema, Rows: func(yield func(etl.Row, error) bool) {
			from := time.Unix(0, 0)
			if wm, ok := run.Watermark(); ok {
				from = wm.(time.Time).Add(-time.Minute)
			}
			rows, err := pool.Query(ctx, `SELECT id, name, qty, modified, deleted FROM src WHERE modified > $1`, from)
			if err != nil {
				yield(nil, err)
				return
			}
			defer rows.Close()
			var max time.Time
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					yield(nil, err)
					return
				}
				if m := vals[3].(time.Time); m.After(max) {
					max = m
				}
				if !yield(etl.Row(vals), nil) {
					return
				}
			}
			if err := rows.Err(); err != nil {
				yield(nil, err)
				return
			}
			if !max.IsZero() {
				run.Advance(max)
			}
		}}, nil
	})
}

func killLoader(pool *pgxpool.Pool, mode string) etl.Loader {
	target := postgres.Target{Pool: pool, Table: "w", Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey("id")}}
	switch mode {
	case "merge":
		target.Table = "items"
		return &postgres.Merge{Target: target, Cursor: "modified", Deleted: "deleted"}
	case "swap":
		return &postgres.FullRefresh{Target: target, Strategy: postgres.Swap}
	case "delete":
		return &postgres.FullRefresh{Target: target, Strategy: postgres.Delete}
	}
	return &postgres.FullRefresh{Target: target}
}

// Where the child asks to be killed (SLUICE_PG_KILL_AT): a row number at which the
// stream stops and waits (mid-COPY), or one of these.
const (
	killInCheck     = -1 // after apply (indexes rebuilt, table swapped), before commit
	killAfterStream = -2 // somewhere after the stream ended, wherever the kill lands
)

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
	url := os.Getenv(killURL)
	if url == "" {
		t.Skip("the loader that TestSIGKILL starts and kills")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	mode := os.Getenv(killMode)
	at, _ := strconv.Atoi(os.Getenv(killAt))
	version, _ := strconv.Atoi(os.Getenv(killVer))
	var src etl.Extractor = source(func() etl.Stream { return wideRows(killRows, version) })
	if mode == "merge" {
		src = pgSource(pool)
	}
	inner := src
	src = etl.ExtractFunc(func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
		s, err := inner.Extract(ctx, run)
		return announce(s, at), err
	})
	loader := killLoader(pool, mode)
	if at == killInCheck {
		switch l := loader.(type) {
		case *postgres.FullRefresh:
			l.Checks = append(l.Checks, pause{})
		case *postgres.Merge:
			l.Checks = append(l.Checks, pause{})
		}
	}
	_, err = (&etl.Pipeline{Name: "killed", Source: src, Sink: loader}).Run(ctx, etl.Window{})
	require.NoError(t, err)
	fmt.Println("DONE")
}

func TestSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts 41 loader processes")
	}
	for _, mode := range []string{"truncate", "delete", "swap", "merge"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			ctx := context.Background()
			rnd := rand.New(rand.NewPCG(uint64(len(mode)), 1))
			_, err := db.Pool.Exec(ctx, fmt.Sprintf(wideTableSQL, "w")+"; "+fmt.Sprintf(wideTableSQL, "ref")+"; "+
				fmt.Sprintf(itemTableSQL, "items")+"; "+fmt.Sprintf(itemTableSQL, "src")+
				`; INSERT INTO src SELECT i, 'n' || i, i, '2026-01-01'::timestamptz + i * interval '1 ms', false FROM generate_series(1, `+
				strconv.Itoa(killRows)+`) i`)
			require.NoError(t, err)
			refresh := func(table string, version int) {
				l := killLoader(db.Pool, mode)
				if mode == "merge" {
					_, err := (&etl.Pipeline{Name: "killed", Source: pgSource(db.Pool), Sink: l}).Run(ctx, etl.Window{})
					require.NoError(t, err)
					return
				}
				l = &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: table}}
				_, err := (&etl.Pipeline{Name: "ref " + table, Source: source(func() etl.Stream { return wideRows(killRows, version) }), Sink: l}).Run(ctx, etl.Window{})
				require.NoError(t, err)
			}
			refresh("w", 1)
			state := &postgres.State{Pool: db.Pool}
			trials := 7 // 21 kills across the full refresh strategies
			if mode == "merge" {
				trials = 20
			}
			var kept, replaced int // how often the kill landed before and after commit
			defer func() { t.Logf("%s: %d kills kept the old rows, %d came after commit", mode, kept, replaced) }()
			for trial := range trials {
				version := trial + 2
				table := "w"
				if mode == "merge" {
					table = "items"
					_, err := db.Pool.Exec(ctx, `UPDATE src SET qty = qty + 1, modified = modified + interval '1 hour',
						deleted = (id % 97 = $1) WHERE id % 10 = $2`, trial, trial%10)
					require.NoError(t, err)
				} else {
					refresh("ref", version)
				}
				old := checksum(t, db.Pool, table)
				oldWM, err := state.Watermark(ctx, "killed")
				require.NoError(t, err)

				// Mid-COPY at a random row, inside the transaction after apply, or at a
				// random moment after the stream ends (index builds, swap, checks, commit).
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
				app := fmt.Sprintf("sluice_kill_%s_%d", mode, trial)
				cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), killURL+"="+db.URL+"&application_name="+app, killMode+"="+mode,
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
					time.Sleep(time.Duration(rnd.IntN(50)) * time.Millisecond) // a random point after the stream
				}
				require.NoError(t, cmd.Process.Kill())
				_ = cmd.Wait()

				// The server ends the killed session when it next talks to it.
				for {
					var n int
					require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n))
					if n == 0 {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				now := checksum(t, db.Pool, table)
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
						requireSynced(t, db.Pool)
					}
				} else {
					require.Contains(t, []string{old, checksum(t, db.Pool, "ref")}, now, "trial %d (kill at row %d)", trial, at)
				}
				requireNoStray(t, db.Pool)
				// The lock went with the session, and the next run goes through.
				refresh(table, version)
				if mode == "merge" {
					requireSynced(t, db.Pool)
				} else {
					require.Equal(t, checksum(t, db.Pool, "ref"), checksum(t, db.Pool, table))
				}
			}
		})
	}
}

// requireSynced checks that items holds exactly src's live rows and that the watermark
// is src's latest change.
func requireSynced(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	var diff int
	cols := "id, name, qty, modified"
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM ((SELECT `+cols+` FROM items EXCEPT SELECT `+cols+
		` FROM src WHERE NOT deleted) UNION ALL (SELECT `+cols+` FROM src WHERE NOT deleted EXCEPT SELECT `+cols+` FROM items)) d`).Scan(&diff))
	require.Zero(t, diff, "items must equal src's live rows")
	var max time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT max(modified) FROM src`).Scan(&max))
	wm, err := (&postgres.State{Pool: pool}).Watermark(ctx, "killed")
	require.NoError(t, err)
	require.True(t, max.Equal(wm.(time.Time)), "watermark %v, latest change %v", wm, max)
}

// The loader that TestSIGKILLedRunIsMarkedAbandoned kills, re-run from the test binary.
const (
	abandonURL = "SLUICE_PG_ABANDON_URL"
	abandonAt  = "SLUICE_PG_ABANDON_AT" // "copy": mid-COPY; "statement": in a long statement
)

// sleepCheck is a check that runs a long statement in the server, as an index build or a
// large DELETE does, after saying it is about to.
type sleepCheck struct{}

func (sleepCheck) Name() string           { return "sleep" }
func (sleepCheck) Severity() etl.Severity { return etl.SeverityError }
func (sleepCheck) Run(ctx context.Context, t checks.Target) (etl.CheckResult, error) {
	fmt.Println("KILLME")
	_, err := t.DB.QueryRows(ctx, "SELECT pg_sleep(120)")
	return etl.CheckResult{Name: "sleep", Passed: err == nil}, err
}

func TestAbandonChild(t *testing.T) {
	url := os.Getenv(abandonURL)
	if url == "" {
		t.Skip("the loader that TestSIGKILLedRunIsMarkedAbandoned starts and kills")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	target := postgres.Target{Pool: pool, Table: "w"}
	src := source(func() etl.Stream { return wideRows(killRows, 2) })
	if os.Getenv(abandonAt) == "statement" {
		target.Checks = []checks.Check{sleepCheck{}}
	} else {
		inner := src
		src = etl.ExtractFunc(func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
			s, err := inner.Extract(ctx, run)
			return announce(s, killRows/2), err
		})
	}
	run := etl.NewRun("abandoned", etl.Window{})
	fmt.Println("RUN " + run.ID)
	_, err = (&etl.Pipeline{Name: "abandoned", Source: src, Sink: &postgres.FullRefresh{Target: target}}).RunWith(ctx, run)
	require.NoError(t, err)
}

// A run killed mid-load leaves its record running; the next run that takes the lock marks
// it abandoned. Killed in a long statement, its session notices within about a second
// (client_connection_check_interval), so the next run gets the lock long before the
// statement would have ended.
func TestSIGKILLedRunIsMarkedAbandoned(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"copy", "statement"} {
		t.Run(at, func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			ctx := context.Background()
			_, err := db.Pool.Exec(ctx, fmt.Sprintf(wideTableSQL, "w"))
			require.NoError(t, err)
			next := func(wait time.Duration) error {
				_, err := (&etl.Pipeline{Name: "abandoned", Source: source(func() etl.Stream { return wideRows(10, 3) }),
					Sink: &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "w", LockWait: wait}}}).Run(ctx, etl.Window{})
				return err
			}
			require.NoError(t, next(0))

			app := "sluice_abandon_" + at
			cmd := exec.Command(os.Args[0], "-test.run=^TestAbandonChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), abandonURL+"="+db.URL+"&application_name="+app, abandonAt+"="+at)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			lines := bufio.NewScanner(out)
			var runID string
			for lines.Scan() {
				if id, ok := strings.CutPrefix(lines.Text(), "RUN "); ok {
					runID = id
				}
				if lines.Text() == "KILLME" {
					break
				}
			}
			require.NotEmpty(t, runID, "the child names its run")
			if at == "statement" {
				// Kill it once the server is inside the statement.
				require.Eventually(t, func() bool {
					var n int
					require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
						WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep%'`, app).Scan(&n))
					return n == 1
				}, 30*time.Second, 10*time.Millisecond)
			}
			var status string
			require.NoError(t, db.Pool.QueryRow(ctx, `SELECT status FROM sluice_runs WHERE run_id = $1`, runID).Scan(&status))
			require.Equal(t, "running", status, "the run's record is committed before its load")
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()

			// The next run waits for the lock (the server has to notice the dead client),
			// but not for the two minutes the statement would have run.
			killed := time.Now()
			require.NoError(t, next(30*time.Second))
			t.Logf("%s: the next run got the lock %s after the kill", at, time.Since(killed).Round(time.Millisecond))
			require.Less(t, time.Since(killed), 15*time.Second)

			var errText string
			require.NoError(t, db.Pool.QueryRow(ctx, `SELECT status, error FROM sluice_runs WHERE run_id = $1`, runID).Scan(&status, &errText))
			require.Equal(t, "abandoned", status)
			require.Contains(t, errText, "ended without recording how")
			var running int
			require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM sluice_runs WHERE status = 'running'`).Scan(&running))
			require.Zero(t, running)
		})
	}
}
