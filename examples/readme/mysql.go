package readme

import (
	"context"
	"database/sql"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/mysql"
)

// PublishSummary replaces the product database's course_summary with what summary
// streams: the README's MySQL example. db was opened with dsn.
func PublishSummary(ctx context.Context, summary etl.Extractor, db *sql.DB, dsn string) error {
	// README: mysql
	sink := &mysql.FullRefresh{
		Target: mysql.Target{
			DB:     db,  // a *sql.DB from sql.Open("mysql", dsn), dsn such as "app:secret@tcp(db:3306)/product"
			DSN:    dsn, // names the table for lineage: mysql://db:3306, product.course_summary
			Table:  "course_summary",
			Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey("courseid")},
		},
		Strategy: mysql.Delete, // the default; or mysql.Swap
	}
	publish := &etl.Pipeline{Name: "publish_course_summary", Source: summary, Sink: sink}
	if _, err := publish.Run(ctx, etl.Window{}); err != nil {
		return err // the table kept its old rows; MySQL's sluice_runs says why
	}
	// README end
	return nil
}
