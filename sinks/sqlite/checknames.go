package sqlite

import (
	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
)

var (
	_ etl.CheckLister = FullRefresh{}
	_ etl.CheckLister = Merge{}
	_ etl.CheckLister = WindowReplace{}
)

// CheckNames names the loader's checks for documentation, such as dag's describe; see
// etl.CheckLister.
func (l FullRefresh) CheckNames() []string { return checks.Names(l.Checks, l.Key) }

// CheckNames names the loader's checks for documentation; see etl.CheckLister.
func (l Merge) CheckNames() []string { return checks.Names(l.Checks, l.Key) }

// CheckNames names the loader's checks for documentation; see etl.CheckLister.
func (l WindowReplace) CheckNames() []string { return checks.Names(l.Checks, l.Key) }
