package redshift_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redshifttest"
	"github.com/sluice-etl/sluice/sinks/redshift"
)

// loadRows runs a full refresh or merge of rows with schema into target.
func loadRows(ctx context.Context, name string, l etl.Loader, schema etl.Schema, rows []etl.Row) (etl.Result, error) {
	p := &etl.Pipeline{Name: name, Sink: l, Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		return etl.SliceStream(schema, rows), nil
	})}
	return p.Run(ctx, etl.Window{})
}

func strings1(t *testing.T, h *redshifttest.Harness, sql string) []string {
	t.Helper()
	rows, err := h.Pool.Query(context.Background(), sql)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// COPY truncates decimals beyond the column's scale; the sink asks it to round, so that
// a value stores as INSERT (and PostgreSQL) would store it.
func TestNumericScaleRoundsAsInsertDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	_, err := h.Pool.Exec(ctx, `CREATE TABLE prices (id bigint, amount numeric(8,2))`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "amount", Type: etl.TypeNumeric}}
	rows := []etl.Row{{int64(1), etl.Decimal("20.259")}, {int64(2), etl.Decimal("-20.259")}, {int64(3), etl.Decimal("0.005")}, {int64(4), etl.Decimal("7")}}
	_, err = loadRows(ctx, "prices", &redshift.FullRefresh{Target: harnessTarget(h, "prices", nil)}, schema, rows)
	require.NoError(t, err)
	require.Equal(t, []string{"20.26", "-20.26", "0.01", "7.00"}, strings1(t, h, `SELECT amount::text FROM prices ORDER BY id`))
}

// A date is its own year, month and day, whatever the location of the time.Time; a
// timestamp loads as its instant into TIMESTAMPTZ and as its UTC wall clock into
// TIMESTAMP.
func TestDatesAndTimestampsInAnyZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	_, err := h.Pool.Exec(ctx, `CREATE TABLE events (id bigint, day date, at timestamp, atz timestamptz)`)
	require.NoError(t, err)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	la, err := time.LoadLocation("America/Los_Angeles")
	require.NoError(t, err)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "day", Type: etl.TypeDate},
		{Name: "at", Type: etl.TypeTimestamp}, {Name: "atz", Type: etl.TypeTimestamp}}
	noon := time.Date(2026, 2, 28, 12, 0, 0, 0, tokyo)
	rows := []etl.Row{
		{int64(1), time.Date(2024, 3, 10, 0, 0, 0, 0, tokyo), noon, noon},
		{int64(2), time.Date(2024, 3, 10, 23, 30, 0, 0, la), noon.In(la), noon.In(la)},
		{int64(3), time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 28, 3, 0, 0, 0, time.UTC), noon.UTC()},
	}
	_, err = loadRows(ctx, "events", &redshift.FullRefresh{Target: harnessTarget(h, "events", nil)}, schema, rows)
	require.NoError(t, err)
	got := strings1(t, h, `SELECT day::text || ' ' || at::text || ' ' || to_char(atz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM events ORDER BY id`)
	want := "2024-03-10 2026-02-28 03:00:00 2026-02-28 03:00"
	require.Equal(t, []string{want, want, want}, got)
}

// A default cluster folds quoted names to lower case: the sink folds the names it is
// given the same way, so that a key or a table written in another case than the stream's
// columns still matches, and it refuses a stream whose columns differ only in case
// rather than letting one silently shadow the other.
func TestNamesFoldAsTheClusterFoldsThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	_, err := h.Pool.Exec(ctx, `CREATE TABLE users (id bigint, name varchar(64))`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "ID", Type: etl.TypeInt64}, {Name: "Name", Type: etl.TypeText}}
	tg := harnessTarget(h, "Users", []string{"id"})
	_, err = loadRows(ctx, "users", &redshift.Merge{Target: tg}, schema, []etl.Row{{int64(1), "Ann"}, {int64(2), "Bo"}})
	require.NoError(t, err)
	require.Equal(t, []string{"Ann", "Bo"}, strings1(t, h, `SELECT name FROM users ORDER BY id`))
	var target string
	require.NoError(t, h.Pool.QueryRow(ctx, `SELECT target FROM sluice_runs`).Scan(&target))
	require.Equal(t, "users", target, "the run record names the table as the cluster knows it")

	clash := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "Name", Type: etl.TypeText}, {Name: "NAME", Type: etl.TypeText}}
	_, err = loadRows(ctx, "clash", &redshift.FullRefresh{Target: harnessTarget(h, "users", nil)}, clash, []etl.Row{{int64(1), "a", "b"}})
	require.ErrorContains(t, err, `columns "Name" and "NAME" are the same column on Redshift`)
	require.Empty(t, staged(t, h), "refused before anything was staged")
}

// VARCHAR(n) holds n bytes. A value too long for its column fails the COPY, and the
// error says which file, line, column and value, and why, read from the cluster's load
// error log; the run record says the same.
func TestFailedCopyExplainsItself(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts redshifttest.Options
	}{{"provisioned", redshifttest.Options{}}, {"serverless", redshifttest.Options{Serverless: true}}, {"stl only", redshifttest.Options{NoSysViews: true}}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := redshifttest.NewWith(t, c.opts)
			_, err := h.Pool.Exec(ctx, `CREATE TABLE users (id bigint, name varchar(6))`)
			require.NoError(t, err)
			schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name", Type: etl.TypeText}}
			tg := harnessTarget(h, "users", nil)
			tg.Staging.Slices = 1
			_, err = loadRows(ctx, "users", &redshift.FullRefresh{Target: tg}, schema,
				[]etl.Row{{int64(1), "abcdef"}, {int64(2), "日本語"}})
			require.Error(t, err)
			var le *redshift.LoadError
			require.True(t, errors.As(err, &le), "%v", err)
			require.Equal(t, "name", le.Column)
			require.Equal(t, 1204, le.Code)
			require.Equal(t, "String length exceeds DDL length", le.Reason)
			require.Contains(t, le.File, "/part-00000.csv.gz")
			require.Equal(t, int64(2), le.Line)
			if c.name != "serverless" {
				require.Equal(t, "... ", le.Value[:3]+" ", "the log shows multibyte characters as periods")
			}
			for _, want := range []string{`column "name"`, "varchar(6)", "String length exceeds DDL length", "line 2", "part-00000.csv.gz"} {
				require.Contains(t, err.Error(), want)
			}
			var rec string
			require.NoError(t, h.Pool.QueryRow(ctx, `SELECT error FROM sluice_runs WHERE status = 'failed'`).Scan(&rec))
			require.Contains(t, rec, "String length exceeds DDL length")
			require.Contains(t, rec, `column "name"`)
		})
	}
}

// The staged files of a failed COPY are kept for inspection, with a marker saying until
// when; Sweep leaves them alone until then and removes them after.
func TestFailedCopyKeepsItsFilesUntilSwept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)
	tg := harnessTarget(h, "users", nil)
	tg.Staging.Prefix = "stage"
	tg.Staging.KeepFailed = 48 * time.Hour
	h.Fail("COPY", 1, redshifttest.LoadError("users"))
	err := runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(2, 3))
	require.Error(t, err)
	keys := staged(t, h)
	joined := strings.Join(keys, " ")
	require.Contains(t, joined, "manifest.json")
	require.Contains(t, joined, "part-00000.csv.gz")
	require.Contains(t, joined, "failed.json")
	require.Contains(t, err.Error(), "staged files kept until", "the error says where to look")

	sweep := redshift.Sweep{Stage: tg.Staging, OlderThan: time.Hour, Now: func() time.Time { return time.Now().Add(24 * time.Hour) }}
	res, err := sweep.Run(ctx)
	require.NoError(t, err)
	require.Zero(t, res.Deleted, "kept until the marker's time, whatever OlderThan says")
	require.Equal(t, keys, staged(t, h))
	sweep.Now = func() time.Time { return time.Now().Add(49 * time.Hour) }
	res, err = sweep.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, len(keys), res.Deleted)
	require.Empty(t, staged(t, h))
}

// SNAPSHOT isolation, the default of new clusters, reports conflicts in its own words;
// the load retries them as it retries error 1023.
func TestSnapshotConflictIsRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)
	h.Fail(`INSERT INTO "users"`, 1, redshifttest.SnapshotConflict("users"))
	require.NoError(t, runLoad(ctx, &redshift.FullRefresh{Target: harnessTarget(h, "users", nil)}, etl.Window{}, userRows(4)))
	var attempts int64
	require.NoError(t, h.Pool.QueryRow(ctx, `SELECT attempts FROM sluice_runs`).Scan(&attempts))
	require.Equal(t, int64(2), attempts)
	require.True(t, redshift.IsRetryable(redshifttest.SnapshotConflict("t")))
}

// gate is a check that holds its load's transaction open until released.
type gate struct {
	reached, release chan struct{}
	once             sync.Once
}

func (g *gate) Name() string           { return "gate" }
func (g *gate) Severity() etl.Severity { return etl.SeverityError }
func (g *gate) Run(ctx context.Context, _ checks.Target) (etl.CheckResult, error) {
	g.once.Do(func() { close(g.reached) })
	<-g.release
	return etl.CheckResult{Name: "gate", Passed: true, Severity: etl.SeverityError}, nil
}

// Two pipelines that load different tables but share the meta schema do not abort each
// other on a SERIALIZABLE cluster: their reads and writes of sluice_state and sluice_runs
// are serialised, so each commits at its first attempt.
func TestPipelinesSharingMetaDoNotConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.NewWith(t, redshifttest.Options{Isolation: redshifttest.Serializable})
	for _, tbl := range []string{"a", "b"} {
		_, err := h.Pool.Exec(ctx, `CREATE TABLE `+tbl+` (id bigint, name varchar(64), modified timestamptz, deleted boolean)`)
		require.NoError(t, err)
	}
	// Both pipelines have run once, so both have state to read.
	for _, tbl := range []string{"a", "b"} {
		require.NoError(t, runNamed(ctx, tbl, &redshift.FullRefresh{Target: sessionTarget(t, h, tbl)}, userRows(1)))
	}
	g := &gate{reached: make(chan struct{}), release: make(chan struct{})}
	ta := sessionTarget(t, h, "a")
	ta.Checks = append(ta.Checks, g)
	errs := make(chan error, 2)
	go func() { errs <- runNamed(ctx, "a", &redshift.FullRefresh{Target: ta}, userRows(1, 2)) }()
	<-g.reached
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		errs <- runNamed(ctx, "b", &redshift.FullRefresh{Target: sessionTarget(t, h, "b")}, userRows(1, 2))
	}()
	// Let b run as far as it can: to its end, or until it waits for a's lock.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-bDone:
		default:
			var waiting int
			require.NoError(t, h.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE NOT granted`).Scan(&waiting))
			if waiting == 0 {
				time.Sleep(20 * time.Millisecond)
				continue
			}
		}
		break
	}
	close(g.release)
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	var attempts []string
	rows, err := h.Pool.Query(ctx, `SELECT pipeline || ':' || attempts FROM sluice_runs WHERE rows_written = 2 ORDER BY pipeline`)
	require.NoError(t, err)
	attempts, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"a:1", "b:1"}, attempts)
}

// runNamed runs a load whose source advances the watermark, so that it writes
// sluice_state as well as sluice_runs.
func runNamed(ctx context.Context, name string, l etl.Loader, rows []etl.Row) error {
	p := &etl.Pipeline{Name: name, Sink: l, Source: etl.ExtractFunc(func(_ context.Context, run *etl.Run) (etl.Stream, error) {
		in := etl.SliceStream(users, rows)
		all := in.Rows
		in.Rows = func(yield func(etl.Row, error) bool) {
			for r, err := range all {
				if !yield(r, err) {
					return
				}
			}
			run.Advance(int64(len(rows)))
		}
		return in, nil
	})}
	_, err := p.Run(ctx, etl.Window{})
	return err
}

// sessionTarget is harnessTarget with a session of its own per load, as each load has its
// own connection to a real cluster.
func sessionTarget(t *testing.T, h *redshifttest.Harness, table string) redshift.Target {
	tg := harnessTarget(h, table, nil)
	tg.Connect = func(context.Context) (redshift.DB, error) { return h.Session(t), nil }
	return tg
}

// A merge uploads before its transaction, like the other modes, so its LOCK covers only
// COPY and apply, and a 1023 at the LOCK is retried from the staged files.
func TestMergeUploadsBeforeTheLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)
	var keysAtLock []string
	tg := harnessTarget(h, "users", []string{"id"})
	connect := tg.Connect
	tg.Connect = func(ctx context.Context) (redshift.DB, error) {
		db, err := connect(ctx)
		return lockSpy{DB: db, onLock: func() { keysAtLock = staged(t, h) }}, err
	}
	h.Fail(`LOCK "users"`, 1, redshifttest.SerializableViolation("users"))
	require.NoError(t, runLoad(ctx, &redshift.Merge{Target: tg, Cursor: "modified"}, etl.Window{}, userRows(1, 5)))
	require.NotEmpty(t, keysAtLock, "the files are in S3 before the LOCK")
	require.Equal(t, 2, countPrefix(h.Statements(), "LOCK "))
	require.Equal(t, []string{"1:new 1", "5:new 5"}, table(t, h))
}

type lockSpy struct {
	redshift.DB
	onLock func()
}

func (s lockSpy) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if strings.HasPrefix(sql, "LOCK ") {
		s.onLock()
	}
	return s.DB.Exec(ctx, sql, args...)
}

// A load whose context is cancelled while it waits for the LOCK fails with the
// context's error, not with etl.ErrLocked: Redshift words both the same way.
func TestCancelWhileWaitingForTheLockIsNotErrLocked(t *testing.T) {
	t.Parallel()
	h := redshifttest.New(t)
	setupUsers(t, h, 1)
	holder, err := h.Pool.Begin(context.Background())
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(context.Background()) }()
	_, err = holder.Exec(context.Background(), `LOCK "users"`)
	require.NoError(t, err)
	tg := harnessTarget(h, "users", nil)
	tg.LockWait = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(4))
	require.Error(t, err)
	require.NotErrorIs(t, err, etl.ErrLocked)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// Uploads carry the server-side encryption a bucket policy can demand.
func TestUploadsUseServerSideEncryption(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ sse, key string }{{"AES256", ""}, {"aws:kms", "arn:aws:kms:us-east-1:1:key/k"}} {
		t.Run(c.sse, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := redshifttest.NewWith(t, redshifttest.Options{S3: redshifttest.S3Options{RequireSSE: c.sse, RequireKMSKey: c.key}})
			setupUsers(t, h, 1)
			tg := harnessTarget(h, "users", nil)
			require.ErrorContains(t, runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(2)), "AccessDenied")
			tg.Staging.SSE, tg.Staging.KMSKeyID = c.sse, c.key
			require.NoError(t, runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(2)))
			require.Equal(t, []string{"2:new 2"}, table(t, h))
		})
	}
}

// The COPY names the bucket's region, resolved from the S3 client when the staging
// config leaves it out, so a cluster in another region can read it.
func TestCopyNamesTheBucketsRegion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.NewWith(t, redshifttest.Options{Region: "eu-west-1"})
	setupUsers(t, h, 1)
	tg := harnessTarget(h, "users", nil)
	require.Empty(t, tg.Staging.Region)
	require.NoError(t, runLoad(ctx, &redshift.FullRefresh{Target: tg}, etl.Window{}, userRows(2)))
	require.Contains(t, strings.Join(h.Statements(), "\n"), fmt.Sprintf("REGION '%s'", redshifttest.Region))
}

// A missing table fails the load before anything is staged and says to set Create; with
// Create the table is made from the stream, with Redshift types.
func TestCreateMakesAMissingTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	tg := harnessTarget(h, "Orders", []string{"id"})
	tg.Schema = ""
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64, NotNull: true}, {Name: "Note", Type: etl.TypeText},
		{Name: "amount", Type: etl.TypeNumeric}, {Name: "at", Type: etl.TypeTimestamp}, {Name: "day", Type: etl.TypeDate},
		{Name: "ok", Type: etl.TypeBool}, {Name: "score", Type: etl.TypeFloat64}}
	row := etl.Row{int64(1), "日本", etl.Decimal("1.5"), t0, t0, true, 0.5}
	_, err := loadRows(ctx, "orders", &redshift.FullRefresh{Target: tg}, schema, []etl.Row{row})
	require.ErrorIs(t, err, etl.ErrNoTable)
	require.ErrorContains(t, err, "table \"orders\" does not exist; set Create")
	require.Equal(t, "stage", etl.Step(err))
	require.Empty(t, staged(t, h))

	tg.Create = true
	_, err = loadRows(ctx, "orders", &redshift.FullRefresh{Target: tg}, schema, []etl.Row{row})
	require.NoError(t, err)
	require.Equal(t, []string{"id bigint", "note character varying(65535)", "amount numeric(38,10)",
		"at timestamp with time zone", "day date", "ok boolean", "score double precision"},
		strings1(t, h, `SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
			WHERE a.attrelid = 'orders'::regclass AND a.attnum > 0 ORDER BY a.attnum`))
	require.Equal(t, []string{"orders_pkey"}, strings1(t, h, `SELECT conname::text FROM pg_constraint WHERE conrelid = 'orders'::regclass`))
	require.Equal(t, []string{"1 日本 1.5000000000"}, strings1(t, h, `SELECT id || ' ' || note || ' ' || amount FROM orders`))
}

// State reads, sets and resets watermarks, and reads the run history; Set and Reset wait
// for a load that holds the meta tables, up to LockWait.
func TestStateSetResetAndRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	_, err := h.Pool.Exec(ctx, `CREATE TABLE a (id bigint, name varchar(64), modified timestamptz, deleted boolean)`)
	require.NoError(t, err)
	require.NoError(t, runNamed(ctx, "a", &redshift.FullRefresh{Target: sessionTarget(t, h, "a")}, userRows(1, 2)))
	st := &redshift.State{Connect: func(context.Context) (redshift.DB, error) { return h.Session(t), nil }}
	wm, err := st.Watermark(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, int64(2), wm)
	require.NoError(t, st.Set(ctx, "a", int64(7)))
	wm, err = st.Watermark(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, int64(7), wm)
	require.NoError(t, st.Reset(ctx, "a"))
	wm, err = st.Watermark(ctx, "a")
	require.NoError(t, err)
	require.Nil(t, wm)

	runs, err := st.Runs(ctx, "a", 5)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "success", runs[0].Status)
	require.Equal(t, "a", runs[0].Target)
	require.Equal(t, int64(2), runs[0].Stats.RowsWritten)
	none, err := (&redshift.State{Connect: st.Connect, MetaSchema: "nowhere"}).Runs(ctx, "", 0)
	require.NoError(t, err)
	require.Empty(t, none)

	holder, err := h.Pool.Begin(ctx) // a load between its LOCK and its COMMIT
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, `LOCK sluice_lock`)
	require.NoError(t, err)
	st.LockWait = 100 * time.Millisecond
	require.ErrorIs(t, st.Reset(ctx, "a"), etl.ErrLocked)
	require.ErrorIs(t, st.Set(ctx, "a", int64(1)), etl.ErrLocked)
}

// Lineage names a table by cluster, region, database, schema and table, folded to
// lower case, with the schema resolved.
func TestDatasetsFollowOpenLineageNaming(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		dsn, schema, table, ns, name string
	}{
		{"postgres://u:secret@Examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com:5439/Dev", "", "Users",
			"redshift://examplecluster.us-west-2:5439", "dev.public.users"},
		{"postgres://u@wg1.123456789012.eu-west-1.redshift-serverless.amazonaws.com:5439/dev?search_path=Analytics,public", "", "t",
			"redshift://wg1.eu-west-1:5439", "dev.analytics.t"},
		{"postgres://u@10.0.0.5:5439/dev", "Sales", "Orders", "redshift://10.0.0.5:5439", "dev.sales.orders"},
	} {
		ds := (&redshift.FullRefresh{Target: redshift.Target{DSN: c.dsn, Schema: c.schema, Table: c.table}}).Datasets()
		require.Equal(t, []etl.Dataset{{Namespace: c.ns, Name: c.name}}, ds, c.dsn)
		require.NotContains(t, fmt.Sprint(ds), "secret")
	}
	require.Nil(t, (&redshift.FullRefresh{Target: redshift.Target{Table: "t"}}).Datasets())
}
