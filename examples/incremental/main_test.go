package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/etl/etltest"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
)

// env is a source schema and a target schema of the test server, each the test's own.
type env struct {
	src, dst *pgtest.DB
	vars     map[string]string
}

func newEnv(t *testing.T, lookBack string) *env {
	t.Helper()
	e := &env{src: pgtest.New(t), dst: pgtest.New(t)}
	e.vars = map[string]string{
		"SLUICE_SOURCE_URL":    e.src.URL,
		"SLUICE_SOURCE_SCHEMA": e.src.Schema,
		"SLUICE_TARGET_URL":    e.dst.URL,
		"SLUICE_TARGET_SCHEMA": e.dst.Schema,
		"SLUICE_LOOKBACK":      lookBack,
	}
	return e
}

// sync runs the program once in process and returns what it printed.
func (e *env) sync(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, func(k string) string { return e.vars[k] }, &stdout, &stderr)
	if err == nil {
		require.Empty(t, stderr.String(), "a clean run logs nothing")
	}
	return stdout.String(), err
}

// exec runs SQL on the source, as the application would; each call is its own
// transaction, so each gets its own now().
func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := e.src.Pool.Exec(t.Context(), sql, args...)
	require.NoError(t, err)
}

func rows(t *testing.T, db *pgtest.DB, query string) []etl.Row {
	t.Helper()
	rs, err := db.Pool.Query(t.Context(), query)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (etl.Row, error) {
		v, err := r.Values()
		return etl.Row(v), err
	})
	require.NoError(t, err)
	return out
}

// requireInSync checks that the target holds exactly the source's live rows, value for
// value.
func (e *env) requireInSync(t *testing.T) []etl.Row {
	t.Helper()
	const cols = "SELECT id, name, email, modified, deleted FROM customers "
	want := rows(t, e.src, cols+"WHERE NOT deleted ORDER BY id")
	got := rows(t, e.dst, cols+"ORDER BY id")
	etltest.RequireRows(t, want, got, "the target must equal the source minus deleted rows")
	return got
}

func (e *env) watermark(t *testing.T) any {
	t.Helper()
	wm, err := (&postgres.State{Pool: e.dst.Pool, MetaSchema: e.dst.Schema}).Watermark(t.Context(), "sync_customers")
	require.NoError(t, err)
	return wm
}

func TestSyncInsertsUpdatesAndDeletes(t *testing.T) {
	t.Parallel()
	// No look-back, so each run reads exactly what changed since the last and the counts
	// below are exact.
	e := newEnv(t, "0s")

	// Batch 1: the sample table, created by -setup.
	out, err := e.sync(t, "-setup")
	require.NoError(t, err)
	require.Contains(t, out, "sync_customers: synced\n")
	require.Contains(t, out, "  rows       3 changed rows read, 3 upserted, 0 deleted\n")
	require.Contains(t, out, "  watermark  none -> ")
	require.Contains(t, out, "  checks     passed: row_count, unique_key(id)\n")
	require.Len(t, e.requireInSync(t), 3)

	// Batch 2: two inserts and an update.
	e.exec(t, `INSERT INTO customers (id, name, email) VALUES (4, 'Aryion', NULL), (5, 'Bo', 'bo@example.com')`)
	e.exec(t, `UPDATE customers SET email = 'amryn@example.com', modified = now() WHERE id = 2`)
	out, err = e.sync(t)
	require.NoError(t, err)
	require.Contains(t, out, "  rows       3 changed rows read, 3 upserted, 0 deleted\n")
	require.Len(t, e.requireInSync(t), 5)

	// Batch 3: a soft delete, an update, and a row created and deleted between two syncs,
	// which must never appear in the target.
	e.exec(t, `UPDATE customers SET deleted = true, modified = now() WHERE id = 1`)
	e.exec(t, `UPDATE customers SET name = 'Bo D.', modified = now() WHERE id = 5`)
	e.exec(t, `INSERT INTO customers (id, name) VALUES (6, 'Gone')`)
	e.exec(t, `UPDATE customers SET deleted = true, modified = now() WHERE id = 6`)
	out, err = e.sync(t)
	require.NoError(t, err)
	require.Contains(t, out, "  rows       3 changed rows read, 1 upserted, 1 deleted\n")
	got := e.requireInSync(t)
	require.Len(t, got, 4)
	require.Equal(t, []any{int64(2), int64(3), int64(4), int64(5)}, []any{got[0][0], got[1][0], got[2][0], got[3][0]})

	// Batch 4: a deleted row comes back (undeleted), which is an ordinary update.
	e.exec(t, `UPDATE customers SET deleted = false, modified = now() WHERE id = 1`)
	out, err = e.sync(t)
	require.NoError(t, err)
	require.Contains(t, out, "  rows       1 changed rows read, 1 upserted, 0 deleted\n")
	require.Len(t, e.requireInSync(t), 5)

	// A re-run with nothing changed is a no-op: nothing read, nothing written, the
	// watermark where it was.
	wm := e.watermark(t)
	require.IsType(t, time.Time{}, wm)
	out, err = e.sync(t)
	require.NoError(t, err)
	require.Contains(t, out, "  rows       0 changed rows read, 0 upserted, 0 deleted\n")
	require.Equal(t, wm, e.watermark(t))
	require.Len(t, e.requireInSync(t), 5)
}

func TestReRunWithLookBackChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "") // the default look-back, 5 minutes
	_, err := e.sync(t, "-setup")
	require.NoError(t, err)
	e.exec(t, `UPDATE customers SET deleted = true, modified = now() WHERE id = 3`)
	_, err = e.sync(t)
	require.NoError(t, err)
	first := e.requireInSync(t)
	wm := e.watermark(t)

	// Every row is within the look-back, so the re-run reads them all again, tombstone
	// included, and the merge leaves the same table.
	out, err := e.sync(t)
	require.NoError(t, err)
	require.Contains(t, out, "  rows       3 changed rows read, 2 upserted, 0 deleted\n")
	require.Contains(t, out, "(look-back 5m0s)")
	etltest.RequireRows(t, first, e.requireInSync(t))
	require.Equal(t, wm, e.watermark(t), "the watermark never moves back")
}

// TestFailedRunKeepsTheWatermark shows the watermark committing with the rows: a load that
// fails leaves both as they were, and the next good run picks the rows up.
func TestFailedRunKeepsTheWatermark(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "0s")
	_, err := e.sync(t, "-setup")
	require.NoError(t, err)
	before := e.requireInSync(t)
	wm := e.watermark(t)

	// The target refuses a value the source allows.
	_, err = e.dst.Pool.Exec(t.Context(), `ALTER TABLE customers ADD CONSTRAINT no_test_names CHECK (name <> 'Test')`)
	require.NoError(t, err)
	e.exec(t, `INSERT INTO customers (id, name) VALUES (10, 'Ok'), (11, 'Test')`)
	out, err := e.sync(t)
	require.Error(t, err)
	require.Contains(t, err.Error(), "no_test_names")
	require.Contains(t, out, "sync_customers: FAILED at apply, target and watermark unchanged\n")
	etltest.RequireRows(t, before, rows(t, e.dst, "SELECT id, name, email, modified, deleted FROM customers ORDER BY id"))
	require.Equal(t, wm, e.watermark(t))

	_, err = e.dst.Pool.Exec(t.Context(), `ALTER TABLE customers DROP CONSTRAINT no_test_names`)
	require.NoError(t, err)
	out, err = e.sync(t)
	require.NoError(t, err)
	require.Contains(t, out, "  rows       2 changed rows read, 2 upserted, 0 deleted\n")
	require.Len(t, e.requireInSync(t), 5)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	_, err := readConfig(get(nil))
	var ce *configError
	require.ErrorAs(t, err, &ce)
	require.ErrorContains(t, err, "SLUICE_SOURCE_URL")

	c, err := readConfig(get(map[string]string{"SLUICE_SOURCE_URL": "postgres://a/b"}))
	require.NoError(t, err)
	require.Equal(t, config{sourceURL: "postgres://a/b", targetURL: "postgres://a/b", targetSchema: "replica",
		table: "customers", lookBack: 5 * time.Minute}, c)

	_, err = readConfig(get(map[string]string{"SLUICE_SOURCE_URL": "postgres://a/b", "SLUICE_SOURCE_SCHEMA": "replica"}))
	require.ErrorContains(t, err, "the same table")
	_, err = readConfig(get(map[string]string{"SLUICE_SOURCE_URL": "postgres://a/b", "SLUICE_LOOKBACK": "soon"}))
	require.ErrorAs(t, err, &ce)
}

func TestPasswordsAreNotPrinted(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	vars := map[string]string{"SLUICE_SOURCE_URL": "postgres://app:s3cret@127.0.0.1:1/app?connect_timeout=5"}
	err := run(t.Context(), nil, func(k string) string { return vars[k] }, &stdout, &stderr)
	require.Error(t, err)
	require.NotContains(t, err.Error()+stdout.String()+stderr.String(), "s3cret")
}
