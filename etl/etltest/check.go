package etltest

import (
	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
)

// StreamCheck is a data check over the rows of one load, held in memory: the in-stream
// form that the checks of package checks implement, such as checks.UniqueKey,
// checks.RowCount, checks.DuplicateRows and checks.NotNull. A [Sink] runs its checks after
// reading the stream and before replacing its contents, with stats holding the run's
// counters and RowsWritten set to len(rows).
type StreamCheck = checks.RowsChecker

// CheckFunc adapts a function to [StreamCheck], for a check of your own.
type CheckFunc func(schema etl.Schema, rows []etl.Row, stats etl.Stats) etl.CheckResult

// CheckRows calls f(schema, rows, stats).
func (f CheckFunc) CheckRows(schema etl.Schema, rows []etl.Row, stats etl.Stats) etl.CheckResult {
	return f(schema, rows, stats)
}
