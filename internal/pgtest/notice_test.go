package pgtest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

// `go test ./...` without a database says, once per package and without -v, that the
// database tests skipped and how to run them: go test hides a passing package's output,
// so the notice must get past it.
func TestSkippedDatabaseTestsAreAnnounced(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go test")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goBin, "test", "-count=1", "-run", "^TestNewGivesAnIsolatedSchema$", "./...")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, pgtest.EnvVar+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	want := "internal/pgtest: 1 database tests skipped: set " + pgtest.EnvVar + "=postgres://postgres@127.0.0.1:5432/test to run them\n"
	require.Equal(t, 1, strings.Count(text, want), "%s", text)
	require.Contains(t, text, "ok  \tgithub.com/sluice-etl/sluice/internal/pgtest")
}
