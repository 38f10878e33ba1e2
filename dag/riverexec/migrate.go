package riverexec

import (
	"context"
	"fmt"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// migrateRiver applies river's pending migrations through river's migration API.
func migrateRiver(ctx context.Context, e *Executor) ([]rivermigrate.MigrateVersion, error) {
	m, err := rivermigrate.New(riverpgxv5.New(e.pool), &rivermigrate.Config{Schema: e.schema, Logger: e.log})
	if err != nil {
		return nil, fmt.Errorf("riverexec: migrate: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("riverexec: river migrations in schema %q: %w", e.schema, err)
	}
	return res.Versions, nil
}
