package readme

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/mysqltest"
)

// The MySQL snippet, as written, replaces the product's table and keeps it when a check
// fails.
func TestPublishSummaryToMySQL(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := t.Context()
	_, err := db.DB.ExecContext(ctx, "CREATE TABLE course_summary (courseid BIGINT PRIMARY KEY, students BIGINT NOT NULL, avg_rating DECIMAL(6,3))")
	require.NoError(t, err)
	schema := etl.Schema{{Name: "courseid", Type: etl.TypeInt64}, {Name: "students", Type: etl.TypeInt64}, {Name: "avg_rating", Type: etl.TypeNumeric}}
	summary := func(rows ...etl.Row) etl.Extractor {
		return etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) { return etl.SliceStream(schema, rows), nil })
	}
	count := func() int {
		var n int
		require.NoError(t, db.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM course_summary").Scan(&n))
		return n
	}
	for range 2 {
		require.NoError(t, PublishSummary(ctx, summary(etl.Row{int64(1), int64(2), etl.Decimal("4.000")},
			etl.Row{int64(2), int64(1), nil}), db.DB, db.DSN))
		require.Equal(t, 2, count())
	}
	err = PublishSummary(ctx, summary(), db.DB, db.DSN)
	require.ErrorIs(t, err, etl.ErrEmpty)
	require.Equal(t, 2, count(), "an empty extract keeps the table")
}
