package load

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README tells users which runs leave a row in sluice_runs; it must say what the
// protocol does: a record for every run that takes the lock, running until it ends,
// abandoned when killed, and none for a run that finds the lock held (the conformance
// suite's LockedRunWaitsOrLeavesNoRecord and AbandonedRunIsMarkedByTheNextRun hold the
// sinks to it).
func TestTheREADMEDescribesTheRunRecords(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	text := strings.Join(strings.Fields(string(b)), " ")
	require.NotContains(t, text, "Every run, successful or not, leaves a row", "a run that meets the lock leaves none")
	for _, want := range []string{
		"Every run that takes the pipeline's lock leaves a row in `sluice_runs`",
		"`running` from the moment it holds the lock",
		"marks rows still `running` as `abandoned`",
		"does nothing and leaves no row",
	} {
		require.Contains(t, text, want)
	}
	for _, status := range []string{StatusRunning, StatusSuccess, StatusFailed, StatusAbandoned} {
		require.Contains(t, text, "`"+status+"`", "the README names every status")
	}
}
