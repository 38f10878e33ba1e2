package readme

import (
	"context"
	"database/sql"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/mysql"
)

// PublishSummary replaces the product database's course_summary with what summary
// streams: the README's MySQL example.
func PublishSummary(ctx context.Context, summary etl.Extractor, db *sql.DB) error {
	// README: mysql
	sink := &mysql.FullRefresh{
		Target: mysql.Target{
			DB:     db, // a *sql.DB from sql.Open("mysql", "app:secret@tcp(db:3306)/product")
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
