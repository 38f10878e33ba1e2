package redshift_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redshifttest"
	"github.com/sluice-etl/sluice/sinks/redshift"
)

var users = etl.Schema{
	{Name: "id", Type: etl.TypeInt64},
	{Name: "name", Type: etl.TypeText},
	{Name: "modified", Type: etl.TypeTimestamp},
	{Name: "deleted", Type: etl.TypeBool},
}

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func setupUsers(t *testing.T, h *redshifttest.Harness, ids ...int64) {
	t.Helper()
	ctx := context.Background()
	_, err := h.Pool.Exec(ctx, `CREATE TABLE users (id BIGINT, name VARCHAR(256), modified TIMESTAMPTZ, deleted BOOLEAN)`)
	require.NoError(t, err)
	for _, id := range ids {
		_, err := h.Pool.Exec(ctx, `INSERT INTO users VALUES ($1, $2, $3, false)`, id, fmt.Sprint("old ", id), t0)
		require.NoError(t, err)
	}
}

func userRows(ids ...int64) []etl.Row {
	rows := make([]etl.Row, len(ids))
	for i, id := range ids {
		rows[i] = etl.Row{id, fmt.Sprint("new ", id), t0.Add(time.Duration(id) * time.Hour), false}
	}
	return rows
}

func runLoad(ctx context.Context, l etl.Loader, w etl.Window, rows []etl.Row) error {
	p := &etl.Pipeline{Name: "users", Sink: l, Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		return etl.SliceStream(users, rows), nil
	})}
	_, err := p.Run(ctx, w)
	return err
}

func table(t *testing.T, h *redshifttest.Harness) []string {
	t.Helper()
	rows, err := h.Pool.Query(context.Background(), `SELECT id, name FROM users ORDER BY id, name`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var id int64
		var name string
		err := r.Scan(&id, &name)
		return fmt.Sprintf("%d:%s", id, name), err
	})
	require.NoError(t, err)
	return out
}

func staged(t *testing.T, h *redshifttest.Harness) []string {
	t.Helper()
	keys, err := h.S3.Keys(context.Background(), "")
	require.NoError(t, err)
	return keys
}

type loaderCase struct {
	name   string
	loader func(redshift.Target) etl.Loader
	window etl.Window
}

var loaderCases = []loaderCase{
	{"full_refresh", func(t redshift.Target) etl.Loader { return &redshift.FullRefresh{Target: t} }, etl.Window{}},
	{"merge", func(t redshift.Target) etl.Loader {
		return &redshift.Merge{Target: t, Cursor: "modified", Deleted: "deleted"}
	}, etl.Window{}},
	{"window_replace", func(t redshift.Target) etl.Loader {
		return &redshift.WindowReplace{Target: t, TimeColumn: "modified"}
	}, etl.Window{Start: t0, End: t0.Add(24 * time.Hour)}},
}

// An injected serializable isolation violation (1023) is retried from the staged files,
// and the retry commits; the staged files are gone afterwards.
func TestSerializableViolationIsRetried(t *testing.T) {
	t.Parallel()
	for _, c := range loaderCases {
		// The fourth COMMIT is the load's: the first two create the state tables, the third
		// records the run as running.
		for _, at := range []struct {
			match string
			nth   int
		}{{"INSERT INTO \"users\"", 1}, {"COMMIT", 4}} {
			t.Run(c.name+" at "+at.match, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				h := redshifttest.New(t)
				setupUsers(t, h, 1, 2)
				h.Fail(at.match, at.nth, redshifttest.SerializableViolation("users"))
				require.NoError(t, runLoad(ctx, c.loader(harnessTarget(h, "users", []string{"id"})), c.window, userRows(1, 3)))
				got := table(t, h)
				require.Contains(t, got, "1:new 1")
				require.Contains(t, got, "3:new 3")
				require.Empty(t, staged(t, h))

				var attempts int64
				var status string
				require.NoError(t, h.Pool.QueryRow(ctx, `SELECT attempts, status FROM sluice_runs`).Scan(&attempts, &status))
				require.Equal(t, int64(2), attempts)
				require.Equal(t, "success", status)
				copies := 0
				for _, s := range h.Statements() {
					if strings.HasPrefix(s, "COPY ") {
						copies++
					}
				}
				require.Equal(t, 2, copies, "the retry COPYs the same staged files again")
			})
		}
	}
}

// A COPY that fails leaves the target untouched and a failed record naming the stage
// step; its staged files stay in S3 with a marker, for inspection, until swept.
func TestCopyFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, c := range loaderCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := redshifttest.New(t)
			setupUsers(t, h, 1, 2)
			before := table(t, h)
			h.Fail("COPY", 1, redshifttest.LoadError("users"))
			err := runLoad(ctx, c.loader(harnessTarget(h, "users", []string{"id"})), c.window, userRows(1, 3))
			require.ErrorContains(t, err, "stl_load_errors")
			require.False(t, redshift.IsRetryable(err))
			require.Equal(t, before, table(t, h))
			keys := strings.Join(staged(t, h), " ")
			require.Contains(t, keys, "/failed.json")
			require.Contains(t, keys, "/manifest.json")
			var status, step string
			require.NoError(t, h.Pool.QueryRow(ctx, `SELECT status, step FROM sluice_runs`).Scan(&status, &step))
			require.Equal(t, "failed/stage", status+"/"+step)
		})
	}
}

// Retries stop after MaxAttempts, and the old rows stay.
func TestRetriesAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)
	for n := 1; n <= 3; n++ {
		h.Fail("DELETE FROM \"users\"", n, redshifttest.SerializableViolation("users"))
	}
	tg := harnessTarget(h, "users", nil)
	tg.MaxAttempts = 3
	err := runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(5))
	require.True(t, redshift.IsRetryable(err), "%v", err)
	var attempts int64
	require.NoError(t, h.Pool.QueryRow(ctx, `SELECT attempts FROM sluice_runs`).Scan(&attempts))
	require.Equal(t, int64(3), attempts)
	require.Equal(t, []string{"1:old 1"}, table(t, h))
	require.Empty(t, staged(t, h))
}

// Redshift accepts duplicate keys; the unique-key check catches them and rolls back.
func TestDuplicateKeysAreCaught(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1, 2)
	tg := harnessTarget(h, "users", []string{"id"})
	tg.Checks = []checks.Check{checks.UniqueKey()}
	rows := append(userRows(7, 8), userRows(7)...)
	err := runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, rows)
	var ce *checks.Error
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Contains(t, err.Error(), "unique_key(id)")
	require.Equal(t, []string{"1:old 1", "2:old 2"}, table(t, h))
	require.Empty(t, staged(t, h))
}

// KeepStaged keeps the staged files after the load, for debugging.
func TestKeepStaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h)
	tg := harnessTarget(h, "users", nil)
	tg.Staging.KeepStaged = true
	require.NoError(t, runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(1, 2, 3)))
	keys := staged(t, h)
	require.Contains(t, strings.Join(keys, " "), "/manifest.json")
	parts := len(keys) - 1
	require.True(t, parts > 0 && parts%2 == 0, "parts come in rounds of one per slice: %v", keys)
}

var runID = regexp.MustCompile(`[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}`)

// The exact statement sequence of a full refresh: LOCK first, DELETE not TRUNCATE, the
// COPY checked against pg_last_copy_count(), state and run record, one COMMIT.
func TestFullRefreshStatementsGolden(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)
	tg := harnessTarget(h, "users", []string{"id"})
	tg.Staging.Slices = 1
	tg.Staging.PartSize = 0
	require.NoError(t, runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(1, 2)))
	var b strings.Builder
	for _, s := range h.Statements() {
		b.WriteString(runID.ReplaceAllString(s, "<run>"))
		b.WriteString("\n")
	}
	golden(t, "full_refresh_statements", b.String())
}

// A merge keeps the latest row per key: by the cursor, then by arrival order, which
// survives Redshift loading parts in parallel because every row carries its number.
func TestMergeLatestPerKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	_, err := h.Pool.Exec(ctx, `CREATE SCHEMA app`)
	require.NoError(t, err)
	_, err = h.Pool.Exec(ctx, `CREATE TABLE app.users (id BIGINT, name VARCHAR(256), modified TIMESTAMPTZ, deleted BOOLEAN)`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = h.Pool.Exec(context.Background(), `DROP SCHEMA app CASCADE`) })
	_, err = h.Pool.Exec(ctx, `INSERT INTO app.users VALUES (1, 'old 1', $1, false), (2, 'old 2', $1, false), (3, 'old 3', $1, false)`, t0)
	require.NoError(t, err)

	var rows []etl.Row
	for i := range 50 { // many versions of key 1 over many parts; the last one wins
		rows = append(rows, etl.Row{int64(1), fmt.Sprint("v", i), t0, false})
	}
	rows = append(rows,
		etl.Row{int64(2), "late", t0.Add(2 * time.Hour), false},
		etl.Row{int64(2), "early", t0.Add(time.Hour), false}, // older by cursor: loses
		etl.Row{int64(3), "gone", t0.Add(time.Hour), true},
		etl.Row{int64(4), "new", t0, false},
	)
	tg := harnessTarget(h, "users", []string{"id"})
	tg.Schema = "app"
	noCursor := &redshift.Merge{Target: tg, Deleted: "deleted"}
	require.NoError(t, runLoad(ctx, noCursor, etl.Window{}, rows[:50]))
	withCursor := &redshift.Merge{Target: tg, Cursor: "modified", Deleted: "deleted"}
	require.NoError(t, runLoad(ctx, withCursor, etl.Window{}, rows[50:]))

	got, err := h.Pool.Query(ctx, `SELECT id, name FROM app.users ORDER BY id`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(got, func(r pgx.CollectableRow) (string, error) {
		var id int64
		var name string
		err := r.Scan(&id, &name)
		return fmt.Sprintf("%d:%s", id, name), err
	})
	require.NoError(t, err)
	require.Equal(t, []string{"1:v49", "2:late", "4:new"}, names)
}

func TestWindowReplaceRejectsRowsOutsideTheWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)
	l := &redshift.WindowReplace{Target: harnessTarget(h, "users", nil), TimeColumn: "modified"}
	err := runLoad(ctx, l, etl.Window{Start: t0, End: t0.Add(time.Hour)}, userRows(1, 2))
	require.ErrorContains(t, err, "outside the window")
	require.Equal(t, []string{"1:old 1"}, table(t, h))
	require.Empty(t, staged(t, h))

	err = runLoad(ctx, l, etl.Window{}, userRows(0))
	require.ErrorIs(t, err, redshift.ErrNoWindow)
}

func TestLoadRefusesUnstageableValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)
	rows := append(userRows(2, 3), etl.Row{int64(4), `\N`, t0, false})
	err := runLoad(ctx, &redshift.FullRefresh{Target: harnessTarget(h, "users", nil)}, etl.Window{}, rows)
	require.ErrorIs(t, err, redshift.ErrUnsupportedValue)
	require.ErrorContains(t, err, `row 3, column "name"`)
	require.Equal(t, []string{"1:old 1"}, table(t, h))
	require.Empty(t, staged(t, h))
}

func TestTargetValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	run := etl.NewRun("p", etl.Window{})
	in := etl.SliceStream(users, nil)
	for _, c := range []struct {
		t    redshift.Target
		want string
	}{
		{redshift.Target{Table: "t", Staging: redshift.StageConfig{Bucket: "b"}}, "no DSN"},
		{redshift.Target{DSN: "postgres://x@y/z", Staging: redshift.StageConfig{Bucket: "b"}}, "no Table"},
		{redshift.Target{DSN: "postgres://x@y/z", Table: "t"}, "no S3 staging bucket"},
	} {
		_, err := (&redshift.FullRefresh{Target: c.t}).Load(ctx, run, in)
		require.ErrorContains(t, err, c.want)
	}
	_, err := (&redshift.Merge{Target: redshift.Target{DSN: "postgres://x@y/z", Table: "t", Staging: redshift.StageConfig{Bucket: "b"}}}).Load(ctx, run, in)
	require.ErrorIs(t, err, redshift.ErrNoKey)
}

// A COPY that loads fewer or more rows than were staged (a MAXERROR skipping lines, a
// stray object under the prefix) fails the load: pg_last_copy_count() is compared with
// the staged count, and the old rows and an empty bucket remain.
func TestCopyCountMismatchFails(t *testing.T) {
	t.Parallel()
	for _, delta := range []int64{-1, 1} {
		t.Run(fmt.Sprint(delta), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := redshifttest.New(t)
			setupUsers(t, h, 1, 2)
			h.Miscount(delta)
			err := runLoad(ctx, &redshift.FullRefresh{Target: harnessTarget(h, "users", nil)}, etl.Window{}, userRows(1, 2, 3))
			require.ErrorContains(t, err, fmt.Sprintf("COPY loaded %d rows, 3 were staged", 3+delta))
			require.Equal(t, "stage", etl.Step(err))
			require.Equal(t, []string{"1:old 1", "2:old 2"}, table(t, h))
			require.Empty(t, staged(t, h))
		})
	}
}

// A full refresh uploads before the transaction, so the LOCK covers only COPY and apply;
// a 1023 at LOCK then finds the files in S3 and the retry loads them.
func TestFullRefreshUploadsBeforeTheLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)
	h.Fail(`LOCK "users"`, 1, redshifttest.SerializableViolation("users"))
	err := runLoad(ctx, &redshift.FullRefresh{Target: harnessTarget(h, "users", nil)}, etl.Window{}, userRows(4, 5))
	require.NoError(t, err)
	require.Equal(t, 2, countPrefix(h.Statements(), "LOCK "), "the second attempt replays the staged files")
	require.Equal(t, []string{"4:new 4", "5:new 5"}, table(t, h))
	require.Empty(t, staged(t, h), "staged files are deleted after the commit")
}

func countPrefix(stmts []string, prefix string) int {
	n := 0
	for _, s := range stmts {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// A load that cannot get the target's LOCK within LockWait fails with etl.ErrLocked,
// leaving the table and S3 as they were; once the other load is done, it goes through.
func TestLockWaitBoundsTheWaitForAnotherLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)

	holder, err := h.Pool.Begin(ctx) // another load, between its LOCK and its COMMIT
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, `LOCK "users"`)
	require.NoError(t, err)

	tg := harnessTarget(h, "users", nil)
	tg.LockWait = 200 * time.Millisecond
	err = runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(4, 5))
	require.ErrorIs(t, err, etl.ErrLocked)
	require.Equal(t, "lock", etl.Step(err))
	require.Contains(t, err.Error(), "not granted within 200ms")

	require.NoError(t, holder.Rollback(ctx))
	require.Equal(t, []string{"1:old 1"}, table(t, h))
	require.Empty(t, staged(t, h), "the prestaged files are deleted after the failure")

	require.NoError(t, runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(4, 5)))
	require.Equal(t, []string{"4:new 4", "5:new 5"}, table(t, h))
}

func TestALoadThatLostTheLockLeavesNoRunRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)
	holder, err := h.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, `LOCK "users"`)
	require.NoError(t, err)
	tg := harnessTarget(h, "users", nil)
	tg.LockWait = 100 * time.Millisecond
	require.ErrorIs(t, runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(4)), etl.ErrLocked)
	require.NoError(t, holder.Rollback(ctx))
	var failed int
	require.NoError(t, h.Pool.QueryRow(ctx, `SELECT count(*) FROM sluice_runs WHERE status = 'failed'`).Scan(&failed))
	require.Zero(t, failed, "the run holding the lock owns the history; a skipped run writes none")
}
