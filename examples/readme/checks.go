package readme

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/sinks/postgres"
)

// PeopleSink is a full refresh of the table people guarded by the README's checks.
func PeopleSink(pool *pgxpool.Pool) *postgres.FullRefresh {
	return &postgres.FullRefresh{Target: postgres.Target{
		Pool: pool, Table: "people", Key: []string{"id"}, Create: true,
		// README: checks
		Checks: []checks.Check{
			checks.RowCount{Min: 1000},   // rows loaded = rows read - rejected - filtered, within bounds
			checks.UniqueKey("id"),       // no duplicate or NULL keys; Redshift does not enforce PRIMARY KEY
			checks.DuplicateRows{},       // no identical rows
			checks.NotNull("email"),      // no NULL emails
			checks.Shrink{Fraction: 0.5}, // fail if the table lost more than half its rows
			checks.SQL("known_gender", "SELECT id FROM {{table}} WHERE gender NOT IN ('F', 'M', 'Unisex')"),
			checks.Warn(checks.NotNull("country")), // recorded in the run record, does not roll back
		},
		// README end
	}}
}
