package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
)

var itemSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "name", Type: etl.TypeText},
	{Name: "qty", Type: etl.TypeInt64},
	{Name: "modified", Type: etl.TypeTimestamp},
	{Name: "deleted", Type: etl.TypeBool},
}

const itemTable = "CREATE TABLE `%s` (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(100), qty BIGINT, " +
	"modified DATETIME(6), deleted BOOLEAN)"

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func item(id int64, name string, qty int64, modified time.Time, deleted bool) etl.Row {
	return etl.Row{id, name, qty, modified, deleted}
}

// rowsSource streams rows in schema and advances the watermark to the latest modified
// it yielded, when the schema has that column.
func rowsSource(schema etl.Schema, rows ...etl.Row) etl.Extractor {
	return etl.ExtractFunc(func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: schema, Rows: func(yield func(etl.Row, error) bool) {
			m := schema.Index("modified")
			var latest time.Time
			for _, r := range rows {
				if m >= 0 {
					if t, ok := r[m].(time.Time); ok && t.After(latest) {
						latest = t
					}
				}
				if !yield(r.Clone(), nil) {
					return
				}
			}
			if !latest.IsZero() {
				run.Advance(latest)
			}
		}}, nil
	})
}

func runLoad(ctx context.Context, name string, sink etl.Loader, schema etl.Schema, rows ...etl.Row) (etl.Result, error) {
	p := &etl.Pipeline{Name: name, Source: rowsSource(schema, rows...), Sink: sink}
	return p.Run(ctx, etl.Window{})
}

func execSQL(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	_, err := db.ExecContext(context.Background(), q, args...)
	require.NoError(t, err, q)
}

// contents returns "id|name|qty" lines ordered by id.
func contents(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT id, COALESCE(name, 'NULL'), COALESCE(qty, 'NULL') FROM `"+table+"` ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id int64
		var name, qty string
		require.NoError(t, rows.Scan(&id, &name, &qty))
		out = append(out, fmt.Sprintf("%d|%s|%s", id, name, qty))
	}
	require.NoError(t, rows.Err())
	return out
}

// tables lists the database's tables, to find what a load left behind.
func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME")
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		out = append(out, n)
	}
	return out
}

// requireNoStray fails when a load left a table of its own behind.
func requireNoStray(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, n := range tables(t, db) {
		require.NotContains(t, n, "__sluice", "a load left %s behind", n)
	}
}

// blockingCheck is a check that tells the test it runs, inside the load's transaction,
// and waits until the test lets it go on.
type blockingCheck struct {
	reached chan struct{}
	release chan struct{}
}

func newBlockingCheck() *blockingCheck {
	return &blockingCheck{reached: make(chan struct{}), release: make(chan struct{})}
}

func (b *blockingCheck) Name() string           { return "blocking" }
func (b *blockingCheck) Severity() etl.Severity { return etl.SeverityError }
func (b *blockingCheck) Run(ctx context.Context, _ checks.Target) (etl.CheckResult, error) {
	close(b.reached)
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return etl.CheckResult{Name: "blocking", Passed: true, Severity: etl.SeverityError}, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
