package mysql

import (
	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
)

var _ etl.CheckLister = (*Target)(nil)

// CheckNames names the target's checks for documentation, such as dag's describe; see
// etl.CheckLister.
func (t *Target) CheckNames() []string { return checks.Names(t.Checks, t.Key) }
