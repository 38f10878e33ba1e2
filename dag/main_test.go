package dag_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

type cli struct {
	t *testing.T
	d *dag.DAG
}

func (c cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = dag.MainArgs(context.Background(), c.d, args, &out, &errb)
	return code, out.String(), errb.String()
}

func mainDAG(t *testing.T) (*dag.DAG, *sync.Map) {
	var windows sync.Map
	d := dag.New("cli", dag.Config{Every: 24 * time.Hour, Store: dag.NewMemoryStore(),
		Now: func() time.Time { return time.Date(2026, 2, 1, 3, 0, 0, 0, time.UTC) }})
	d.Task("extract", func(ctx context.Context, r *dag.Run) error {
		windows.Store(r.Window.String(), true)
		if r.Window.Start.Day() == 13 {
			return etl.WithStep("extract", errors.New("source is down"))
		}
		r.AddRows(5)
		return nil
	})
	d.Task("load", noop).After("extract")
	return d, &windows
}

func TestMainRun(t *testing.T) {
	t.Parallel()
	d, windows := mainDAG(t)
	c := cli{t: t, d: d}

	code, out, _ := c.run("run", "--window-start", "2026-01-05", "--window-end", "2026-01-06")
	require.Equal(t, dag.ExitOK, code)
	require.Contains(t, out, "window 2026-01-05T00:00:00Z/2026-01-06T00:00:00Z: success")
	require.Regexp(t, `extract\s+success\s+1\s+\S+\s+5`, out)

	code, out, _ = c.run("run", "--logical-date", "2026-01-13", "--json", "--log-format", "json")
	require.Equal(t, dag.ExitFailed, code)
	var rep dag.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, dag.StatusFailed, rep.Status)
	require.Equal(t, "extract", rep.Task("extract").Step)

	// No window flags: catch up on every day since the last success (Jan 5), up to the
	// latest complete day; Jan 13 fails again.
	windows.Clear()
	code, out, _ = c.run("run")
	require.Equal(t, dag.ExitFailed, code)
	for _, w := range []string{"2026-01-06T00:00:00Z/2026-01-07T00:00:00Z", "2026-01-31T00:00:00Z/2026-02-01T00:00:00Z"} {
		_, ok := windows.Load(w)
		require.True(t, ok, w)
	}
	_, ok := windows.Load("2026-01-05T00:00:00Z/2026-01-06T00:00:00Z")
	require.False(t, ok)
	require.Equal(t, 26, strings.Count(out, "TASK"), "one report per window")
}

func TestMainUsage(t *testing.T) {
	t.Parallel()
	d, _ := mainDAG(t)
	c := cli{t: t, d: d}
	for _, args := range [][]string{
		{},
		{"fly"},
		{"run", "--window-start", "2026-01-05"},
		{"run", "--window-start", "yesterday", "--window-end", "2026-01-05"},
		{"run", "--window-start", "2026-01-06", "--window-end", "2026-01-05"},
		{"run", "--logical-date", "2026-01-05", "--window-start", "2026-01-05", "--window-end", "2026-01-06"},
		{"backfill", "--from", "2026-01-05"},
		{"backfill", "--from", "2026-01-05", "--to", "2026-01-07", "--reprocess", "some"},
		{"graph", "--format", "png"},
		{"run", "--log-format", "xml"},
		{"run", "extra"},
		{"history", "--store", "postgres://u:secret@h/db"},
	} {
		code, _, stderr := c.run(args...)
		require.Equal(t, dag.ExitUsage, code, "%q: %s", args, stderr)
		require.NotContains(t, stderr, "secret")
	}
	code, _, stderr := c.run("--help")
	require.Equal(t, dag.ExitOK, code)
	require.Contains(t, stderr, "Exit codes: 0 success, 1 failure, 2 usage, 75 another run holds the lock.")
	code, _, stderr = c.run("backfill", "--help")
	require.Equal(t, dag.ExitOK, code)
	require.Contains(t, stderr, "-dry-run")
}

func TestMainBackfillAndHistory(t *testing.T) {
	t.Parallel()
	d, _ := mainDAG(t)
	c := cli{t: t, d: d}
	code, out, _ := c.run("backfill", "--from", "2026-01-10", "--to", "2026-01-15", "--parallel", "2")
	require.Equal(t, dag.ExitFailed, code)
	require.Contains(t, out, "4 succeeded, 1 failed, 0 skipped")

	code, out, _ = c.run("backfill", "--from", "2026-01-10", "--to", "2026-01-16", "--dry-run")
	require.Equal(t, dag.ExitOK, code)
	require.Regexp(t, `2026-01-13T00:00:00Z/2026-01-14T00:00:00Z\s+would run\s+-\s+-\s+last run \S+ failed`, out)
	require.Regexp(t, `2026-01-15T00:00:00Z/2026-01-16T00:00:00Z\s+would run\s+-\s+-\s+never run`, out)
	require.Regexp(t, `2026-01-10T00:00:00Z/2026-01-11T00:00:00Z\s+skip\s+-\s+-\s+succeeded in run`, out)

	code, out, _ = c.run("history")
	require.Equal(t, dag.ExitOK, code)
	require.Equal(t, 6, strings.Count(out, "\n"), out) // header and five runs

	code, out, _ = c.run("history", "--failed")
	require.Equal(t, dag.ExitOK, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.Contains(t, lines[1], "2026-01-13T00:00:00Z/2026-01-14T00:00:00Z")
	require.Contains(t, lines[1], "extract (extract): extract: source is down")
	runID := strings.Fields(lines[1])[0]

	code, out, _ = c.run("history", "--failed", "--pipeline", "load")
	require.Equal(t, dag.ExitOK, code)
	require.Equal(t, "no runs\n", out)
	code, out, _ = c.run("history", "--failed", "--pipeline", "load", "--json")
	require.Equal(t, dag.ExitOK, code)
	require.Equal(t, "[]\n", out)
	code, out, _ = c.run("history", "--failed", "--json")
	require.Equal(t, dag.ExitOK, code)
	var failed []dag.Report
	require.NoError(t, json.Unmarshal([]byte(out), &failed))
	require.Len(t, failed, 1)
	require.Equal(t, runID, failed[0].RunID)

	code, out, _ = c.run("history", "--run", runID)
	require.Equal(t, dag.ExitOK, code)
	require.Contains(t, out, "run:      "+runID)
	require.Contains(t, out, "task extract: failed\n  attempts: 1")
	require.Contains(t, out, "task load: upstream_failed")

	code, out, _ = c.run("history", "--run", runID, "--mermaid")
	require.Equal(t, dag.ExitOK, code)
	require.Contains(t, out, ":::failed")

	code, _, _ = c.run("history", "--run", "nope")
	require.Equal(t, dag.ExitFailed, code)

	// The DAG's clock says Feb 1, before these runs started: none is old enough.
	code, out, _ = c.run("prune", "--older-than", "1h")
	require.Equal(t, dag.ExitOK, code)
	require.Equal(t, "pruned 0 run(s)\n", out)
	code, _, _ = c.run("prune")
	require.Equal(t, dag.ExitUsage, code)
	// An hour on, runs older than a minute are all of them, but for the latest
	// successful window, which a scheduled run catches up from.
	later := dag.New("cli", dag.Config{Store: d.Store(), Now: func() time.Time { return time.Now().Add(time.Hour) }})
	later.Task("extract", noop)
	code, out, _ = cli{t: t, d: later}.run("prune", "--older-than", "1m")
	require.Equal(t, dag.ExitOK, code)
	require.Equal(t, "pruned 4 run(s)\n", out)
	code, out, _ = c.run("history")
	require.Equal(t, dag.ExitOK, code)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.Contains(t, lines[1], "success  2026-01-14T00:00:00Z/2026-01-15T00:00:00Z")
}

func TestMainLocked(t *testing.T) {
	t.Parallel()
	d, _ := mainDAG(t)
	unlock, err := d.Store().Lock(context.Background(), "cli")
	require.NoError(t, err)
	defer unlock()
	code, _, stderr := cli{t: t, d: d}.run("run", "--logical-date", "2026-01-02")
	require.Equal(t, dag.ExitLocked, code)
	require.Contains(t, stderr, "another run holds the lock")
	code, _, _ = cli{t: t, d: d}.run("backfill", "--from", "2026-01-01", "--to", "2026-01-03")
	require.Equal(t, dag.ExitLocked, code)
}

// closingStore is a store that notes being closed.
type closingStore struct {
	*dag.MemoryStore
	closed atomic.Bool
}

func (s *closingStore) Close() error { s.closed.Store(true); return nil }

func TestMainOpensStore(t *testing.T) {
	t.Parallel()
	var gotDSN string
	store := &closingStore{MemoryStore: dag.NewMemoryStore()}
	d := dag.New("opened", dag.Config{OpenStore: func(ctx context.Context, dsn string) (dag.Store, error) {
		gotDSN = dsn
		return store, nil
	}})
	d.Task("t", noop)
	declared := d.Store()
	code, _, _ := cli{t: t, d: d}.run("--store", "fake://x", "run")
	require.Equal(t, dag.ExitOK, code)
	require.Equal(t, "fake://x", gotDSN)
	runs, err := store.Runs(context.Background(), dag.Query{})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.True(t, store.closed.Load(), "MainArgs closes the store it opened")
	require.Same(t, declared, d.Store(), "and leaves the DAG with the store it was declared with")

	d2 := dag.New("broken", dag.Config{OpenStore: func(ctx context.Context, dsn string) (dag.Store, error) {
		return nil, errors.New("unreachable")
	}})
	d2.Task("t", noop)
	code, _, stderr := cli{t: t, d: d2}.run("run", "--store", "postgres://u:hunter2@h/db")
	require.Equal(t, dag.ExitFailed, code)
	require.Contains(t, stderr, "postgres://u:xxxxx@h/db")
	require.NotContains(t, stderr, "hunter2")
	// graph and describe need no store, so a store that is down does not stop them.
	for _, cmd := range []string{"graph", "describe"} {
		code, out, stderr := cli{t: t, d: d2}.run(cmd, "--store", "postgres://u:hunter2@h/db")
		require.Equal(t, dag.ExitOK, code, stderr)
		require.NotEmpty(t, out)
	}
}

// TestMainConcurrent runs commands against one DAG at once, as tests of a user's program
// do; the race detector checks that MainArgs leaves the DAG as declared.
func TestMainConcurrent(t *testing.T) {
	t.Parallel()
	d, _ := mainDAG(t)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() {
			format := []string{"text", "json"}[i%2]
			day := fmt.Sprintf("2026-01-%02d", 20+i)
			var out bytes.Buffer
			codes[i] = dag.MainArgs(context.Background(), d, []string{"backfill", "--from", day, "--to", day + "T01:00", "--every", "1h", "--log-format", format}, &out, io.Discard)
		})
	}
	wg.Wait()
	ran := 0
	for i, code := range codes {
		// Another command holding the lock is fine here; a failure is not.
		require.Contains(t, []int{dag.ExitOK, dag.ExitLocked}, code, "command %d", i)
		if code == dag.ExitOK {
			ran++
		}
	}
	runs, err := d.Store().Runs(context.Background(), dag.Query{Limit: -1})
	require.NoError(t, err)
	require.Len(t, runs, ran, "every command that got the lock ran its window")
	require.NotZero(t, ran)
}

func TestMainPruneHooks(t *testing.T) {
	t.Parallel()
	var ages []time.Duration
	var mu sync.Mutex
	hook := func(n int64, err error) func(context.Context, time.Duration) (int64, error) {
		return func(ctx context.Context, age time.Duration) (int64, error) {
			mu.Lock()
			ages = append(ages, age)
			mu.Unlock()
			return n, err
		}
	}
	d := dag.New("hooks", dag.Config{PruneHooks: []dag.PruneHook{
		{Name: "sluice_runs", Prune: hook(12, nil)},
		{Name: "audit", Prune: hook(0, errors.New("table is locked"))},
		{Name: "staging", Prune: hook(3, nil)},
	}})
	d.Task("t", noop)
	code, out, stderr := cli{t: t, d: d}.run("prune", "--older-than", "720h")
	require.Equal(t, dag.ExitFailed, code, "a failed hook fails the command")
	require.Equal(t, "pruned 0 run(s)\npruned 12 record(s) of sluice_runs\npruned 3 record(s) of staging\n", out)
	require.Contains(t, stderr, "prune audit: table is locked")
	require.Equal(t, []time.Duration{720 * time.Hour, 720 * time.Hour, 720 * time.Hour}, ages)
}

// A window that has not ended is refused unless forced: its data is incomplete, and its
// success would make `run` say no window is due until after it.
func TestMainRefusesAWindowThatHasNotEnded(t *testing.T) {
	t.Parallel()
	d, windows := mainDAG(t) // now is 2026-02-01T03:00Z
	c := cli{t: t, d: d}
	for _, args := range [][]string{
		{"run", "--logical-date", "2026-03-01"},
		{"run", "--logical-date", "2026-02-01"}, // today: started, not ended
		{"run", "--window-start", "2026-01-31T12:00", "--window-end", "2026-02-01T12:00"},
	} {
		code, _, stderr := c.run(args...)
		require.Equal(t, dag.ExitUsage, code, "%q", args)
		require.Contains(t, stderr, "has not ended yet")
		require.Contains(t, stderr, "--force")
	}
	runs, err := d.Store().Runs(context.Background(), dag.Query{})
	require.NoError(t, err)
	require.Empty(t, runs, "nothing ran")

	code, _, _ := c.run("run", "--logical-date", "2026-01-31")
	require.Equal(t, dag.ExitOK, code, "yesterday has ended")
	code, _, stderr := c.run("run", "--logical-date", "2026-03-01", "--force")
	require.Equal(t, dag.ExitOK, code, stderr)
	_, ok := windows.Load("2026-03-01T00:00:00Z/2026-03-02T00:00:00Z")
	require.True(t, ok)
}

// No subcommand prints the store's password: not in usage text (where the flag package
// shows the value from SLUICE_DAG_STORE as --store's default), not in errors, not in logs.
func TestMainNeverPrintsTheStorePassword(t *testing.T) {
	const secret = "Hunter2Secret"
	t.Setenv(dag.StoreEnv, "postgres://etl:"+secret+"@db/wh")
	d := dag.New("cli", dag.Config{OpenStore: func(ctx context.Context, dsn string) (dag.Store, error) {
		return nil, fmt.Errorf("cannot reach %s: connection refused", dsn) // a careless store quotes its DSN
	}})
	d.Task("t", noop)
	c := cli{t: t, d: d}
	cases := [][]string{{"--help"}, {"--bogus"}, {"help"}, {}}
	for _, cmd := range []string{"run", "backfill", "graph", "describe", "history", "prune", "worker", "migrate", "ui"} {
		cases = append(cases, []string{cmd, "--bogus"}, []string{cmd, "--help"}, []string{cmd})
	}
	cases = append(cases, []string{"run", "--store", "host=db user=etl password=" + secret},
		[]string{"--log-format", "json", "history"})
	for _, args := range cases {
		_, out, stderr := c.run(args...)
		require.NotContains(t, stderr+out, secret, "%q", args)
	}
	_, _, stderr := c.run("run", "--bogus")
	require.Contains(t, stderr, "postgres://etl:xxxxx@db/wh", "the default is shown, redacted")
	_, _, stderr = c.run("history")
	require.Contains(t, stderr, "xxxxx", "the store's error is printed, redacted")
}
