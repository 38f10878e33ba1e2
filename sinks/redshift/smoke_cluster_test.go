package redshift_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
	"github.com/sluice-etl/sluice/sinks/redshift"
)

// smokeCluster is one test's schema on the real cluster.
type smokeCluster struct {
	dsn     string
	staging redshift.StageConfig
	schema  string
	conn    *pgx.Conn
}

func newSmokeCluster(t *testing.T) *smokeCluster {
	dsn, staging := smokeConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	c := &smokeCluster{dsn: dsn, staging: staging, schema: "sluice_smoke_" + hex.EncodeToString(b[:])}
	conn, err := redshift.Connect(ctx, dsn)
	require.NoError(t, err)
	c.conn = conn
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	c.exec(t, "CREATE SCHEMA "+redshiftcopy.QuoteIdentifier(c.schema))
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+redshiftcopy.QuoteIdentifier(c.schema)+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", c.schema, err)
		}
	})
	c.exec(t, "SET search_path TO "+redshiftcopy.QuoteIdentifier(c.schema))
	return c
}

func (c *smokeCluster) exec(t *testing.T, sql string) {
	t.Helper()
	_, err := c.conn.Exec(context.Background(), sql)
	require.NoError(t, err, sql)
}

func (c *smokeCluster) strings(t *testing.T, sql string) []string {
	t.Helper()
	rows, err := c.conn.Query(context.Background(), sql)
	require.NoError(t, err, sql)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err, sql)
	return out
}

func (c *smokeCluster) target(table string, key ...string) redshift.Target {
	return redshift.Target{DSN: c.dsn, Staging: c.staging, Schema: c.schema, Table: table, Key: key, RetryBackoff: 100 * time.Millisecond}
}

// TestSmokeCluster checks, on a real cluster, each behaviour the sink was changed for
// after reading the Developer Guide, so that a first run there confirms or refutes the
// guide's reading that the harness encodes.
func TestSmokeCluster(t *testing.T) {
	smokeConfig(t)
	ctx := context.Background()

	t.Run("NumericScaleRoundsAsInsertDoes", func(t *testing.T) {
		c := newSmokeCluster(t)
		c.exec(t, "CREATE TABLE prices (id BIGINT, amount NUMERIC(8,2))")
		schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "amount", Type: etl.TypeNumeric}}
		_, err := loadRows(ctx, "smoke_prices", &redshift.FullRefresh{Target: c.target("prices")}, schema,
			[]etl.Row{{int64(1), etl.Decimal("20.259")}, {int64(2), etl.Decimal("-20.259")}, {int64(3), etl.Decimal("0.005")}})
		require.NoError(t, err)
		require.Equal(t, []string{"20.26", "-20.26", "0.01"}, c.strings(t, "SELECT amount::varchar FROM prices ORDER BY id"))
	})

	t.Run("DatesAndTimestampsInAnyZone", func(t *testing.T) {
		c := newSmokeCluster(t)
		c.exec(t, "CREATE TABLE events (id BIGINT, day DATE, at TIMESTAMP, atz TIMESTAMPTZ)")
		tokyo, err := time.LoadLocation("Asia/Tokyo")
		require.NoError(t, err)
		noon := time.Date(2026, 2, 28, 12, 0, 0, 0, tokyo)
		schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "day", Type: etl.TypeDate},
			{Name: "at", Type: etl.TypeTimestamp}, {Name: "atz", Type: etl.TypeTimestamp}}
		_, err = loadRows(ctx, "smoke_events", &redshift.FullRefresh{Target: c.target("events")}, schema,
			[]etl.Row{{int64(1), time.Date(2024, 3, 10, 0, 0, 0, 0, tokyo), noon, noon}})
		require.NoError(t, err)
		require.Equal(t, []string{"2024-03-10 2026-02-28 03:00:00 2026-02-28 03:00:00"},
			c.strings(t, "SELECT to_char(day, 'YYYY-MM-DD') || ' ' || to_char(at, 'YYYY-MM-DD HH24:MI:SS') || ' ' || to_char(atz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM events"))
	})

	t.Run("NamesFoldToLowerCase", func(t *testing.T) {
		c := newSmokeCluster(t)
		c.exec(t, "CREATE TABLE users (id BIGINT, name VARCHAR(64))")
		schema := etl.Schema{{Name: "ID", Type: etl.TypeInt64}, {Name: "Name", Type: etl.TypeText}}
		_, err := loadRows(ctx, "smoke_users", &redshift.Merge{Target: c.target("Users", "id")}, schema, []etl.Row{{int64(1), "Ann"}})
		require.NoError(t, err)
		require.Equal(t, []string{"Ann"}, c.strings(t, "SELECT name FROM users"))
		clash := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "Name", Type: etl.TypeText}, {Name: "NAME", Type: etl.TypeText}}
		_, err = loadRows(ctx, "smoke_clash", &redshift.FullRefresh{Target: c.target("users")}, clash, []etl.Row{{int64(1), "a", "b"}})
		require.ErrorContains(t, err, "same column on Redshift")
	})

	t.Run("VarcharBytesAndTheLoadErrorLog", func(t *testing.T) {
		c := newSmokeCluster(t)
		c.exec(t, "CREATE TABLE names (id BIGINT, name VARCHAR(6))")
		tg := c.target("names")
		tg.Staging.KeepFailed = time.Hour
		schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name", Type: etl.TypeText}}
		_, err := loadRows(ctx, "smoke_names", &redshift.FullRefresh{Target: tg}, schema,
			[]etl.Row{{int64(1), "abcdef"}, {int64(2), "日本語"}})
		var le *redshift.LoadError
		require.True(t, errors.As(err, &le), "%v", err)
		require.Equal(t, "name", le.Column)
		require.Equal(t, 1204, le.Code)
		require.Contains(t, le.File, ".csv.gz")
		require.Positive(t, le.Line)
		require.False(t, le.KeptUntil.IsZero())
		runs, err := (&redshift.State{DSN: c.dsn, MetaSchema: c.schema}).Runs(ctx, "smoke_names", 1)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		require.Contains(t, runs[0].Error, "String length exceeds DDL length")

		// The kept files are swept once their time is up.
		sweep := redshift.Sweep{Stage: tg.Staging, OlderThan: 24 * time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
		res, err := sweep.Run(ctx)
		require.NoError(t, err)
		require.Positive(t, res.Deleted)
	})

	t.Run("ConflictsAreRetriedAndMetaWritesSerialised", func(t *testing.T) {
		c := newSmokeCluster(t)
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			table := fmt.Sprintf("t%d", i)
			c.exec(t, "CREATE TABLE "+table+" (id BIGINT, name VARCHAR(256), modified TIMESTAMPTZ, deleted BOOLEAN)")
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = runNamed(ctx, table, &redshift.FullRefresh{Target: c.target(table)}, userRows(1, 2, 3))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "pipeline t%d", i)
		}
		got := c.strings(t, "SELECT pipeline || ':' || status || ':' || attempts FROM sluice_runs ORDER BY pipeline")
		want := make([]string, n)
		for i := range n {
			want[i] = fmt.Sprintf("t%d:success:1", i)
		}
		require.Equal(t, want, got, "loads sharing the meta schema commit at their first attempt")
		require.True(t, strings.HasPrefix(c.strings(t, "SELECT watermark FROM sluice_state WHERE pipeline = 't0'")[0], "3"))
	})
}
