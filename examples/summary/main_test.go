package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	pgsource "github.com/sluice-etl/sluice/sources/postgres"
)

// mysqlDB gives the test its own MySQL database, or skips when MySQL is not configured.
func mysqlDB(t *testing.T) (dsn string, db *sql.DB) {
	t.Helper()
	base := pgtest.Require(t, "SLUICE_TEST_MYSQL_URL", "root@tcp(127.0.0.1:3306)/test")
	admin, err := sql.Open("mysql", base)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "sluice_test_" + hex.EncodeToString(b[:])
	_, err = admin.Exec("CREATE DATABASE " + name)
	require.NoError(t, err, "is MariaDB up at %s?", base)
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE " + name) })
	dsn = base[:strings.LastIndex(base, "/")+1] + name
	db, err = sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return dsn, db
}

func summary(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT courseid, students, reviews, COALESCE(avg_rating, 'null') FROM course_summary ORDER BY courseid")
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, students, reviews int64
		var avg string
		require.NoError(t, rows.Scan(&id, &students, &reviews, &avg))
		out = append(out, fmt.Sprintf("%d|%d|%d|%s", id, students, reviews, avg))
	}
	require.NoError(t, rows.Err())
	return out
}

func TestRollupThenPublishToMySQL(t *testing.T) {
	t.Parallel()
	pg := pgtest.New(t)
	dsn, my := mysqlDB(t)
	ctx := context.Background()

	d, cleanup, err := build(ctx, pg.URL, dsn, true)
	require.NoError(t, err)
	defer cleanup()

	want := []string{"1|2|3|4.000", "2|1|1|2.000", "3|0|0|null"}
	for i := range 2 { // re-running the job leaves the same table
		var out, errOut bytes.Buffer
		code := dag.MainArgs(ctx, d, []string{"run"}, &out, &errOut)
		require.Equal(t, dag.ExitOK, code, "run %d: %s%s", i+1, out.String(), errOut.String())
		require.Equal(t, want, summary(t, my), "run %d", i+1)
	}

	// The warehouse summary was built by SQL there, not by this program.
	var n int
	require.NoError(t, pg.Pool.QueryRow(ctx, "SELECT count(*) FROM course_summary").Scan(&n))
	require.Equal(t, 3, n)
}

func TestFailedCheckKeepsTheProductionTable(t *testing.T) {
	t.Parallel()
	pg := pgtest.New(t)
	dsn, my := mysqlDB(t)
	ctx := context.Background()
	d, cleanup, err := build(ctx, pg.URL, "", true)
	require.NoError(t, err)
	defer cleanup()
	var out bytes.Buffer
	require.Equal(t, dag.ExitOK, dag.MainArgs(ctx, d, []string{"run"}, &out, &out), out.String())

	_, err = my.Exec(productDDL)
	require.NoError(t, err)
	src, err := pgsource.New(pg.Pool, pgsource.Config{Table: "course_summary"})
	require.NoError(t, err)
	publish := func(cs ...checks.Check) error {
		p := &etl.Pipeline{Name: "publish", Source: src, Sink: publishSink(my, dsn, cs...)}
		_, err := p.Run(ctx, etl.Window{})
		return err
	}
	require.NoError(t, publish(checks.UniqueKey("courseid")))
	before := summary(t, my)
	require.Len(t, before, 3)

	// Course 3 has no reviews, so its average is NULL: a not-null check on it must fail
	// and roll the production table back to what it was.
	_, err = my.Exec("UPDATE course_summary SET students = 99 WHERE courseid = 1")
	require.NoError(t, err)
	before = summary(t, my)
	err = publish(checks.NotNull("avg_rating"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "not_null(avg_rating)")
	require.Equal(t, before, summary(t, my))
}

func TestNeedsAWarehouse(t *testing.T) {
	t.Parallel()
	_, _, err := build(context.Background(), "", "", false)
	require.ErrorContains(t, err, "SLUICE_WAREHOUSE_URL")
}

// TestRunClosesItsConnections: the program's warehouse connections are closed when run
// returns, as they would not be after dag.Main, which exits.
func TestRunClosesItsConnections(t *testing.T) {
	// t.Setenv: not parallel.
	pg := pgtest.New(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	app := "summary_test_" + hex.EncodeToString(b[:])
	u, err := url.Parse(pg.URL)
	require.NoError(t, err, "the test URL must be a URL")
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	t.Setenv("SLUICE_WAREHOUSE_URL", u.String())
	t.Setenv("SLUICE_MYSQL_URL", "")
	t.Setenv("SLUICE_SUMMARY_SEED", "1")
	t.Setenv(dag.StoreEnv, "")

	var out, errOut bytes.Buffer
	code := run([]string{"run"}, &out, &errOut)
	require.Equal(t, dag.ExitOK, code, "%s%s", out.String(), errOut.String())
	// A backend leaves pg_stat_activity a moment after its client hangs up.
	require.Eventually(t, func() bool {
		var open int
		require.NoError(t, pg.Pool.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&open))
		return open == 0
	}, 2*time.Second, 20*time.Millisecond, "the warehouse connections outlive the run")
}
