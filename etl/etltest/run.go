package etltest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

// Run runs p once over all data (the zero [etl.Window]) with the test's context, and
// fails the test, naming the pipeline and the failed step, when the run fails.
func Run(tb testing.TB, p *etl.Pipeline) etl.Result {
	tb.Helper()
	res, err := p.Run(tb.Context(), etl.Window{})
	if err != nil {
		msg := "pipeline run failed: " + err.Error()
		if step := etl.Step(err); step != "" {
			msg += "\nfailed step: " + step
		}
		require.Fail(tb, msg)
	}
	return res
}

// RunErr runs p once over all data with the test's context and returns what it did, for
// tests that expect the run to fail.
func RunErr(tb testing.TB, p *etl.Pipeline) (etl.Result, error) {
	tb.Helper()
	return p.Run(tb.Context(), etl.Window{})
}
