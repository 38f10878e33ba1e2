package pgtest_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// Every package with database tests announces their skips: its TestMain goes through
// pgtest.Main or pgtest.Run (directly, or through the benchmarks' harness), and it skips
// through pgtest.Require (pgtest.New, pgtest.URL and mysqltest do). Without that a
// package's skipped database tests look green under `go test ./...`.
func TestDatabasePackagesAnnounceTheirSkips(t *testing.T) {
	t.Parallel()
	// Packages that still lack the TestMain, to be given one where they are being changed.
	pending := map[string]bool{}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	uses := regexp.MustCompile(`\b(pgtest\.(New|URL|Require)|mysqltest\.(New|DSN))\(`)
	announces := regexp.MustCompile(`\bpgtest\.(Main|Run)\(|\bharness\.RunTestsOrChild\(`)
	tests := map[string][]string{} // directory -> its test files' text
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			tests[filepath.ToSlash(rel)] = append(tests[filepath.ToSlash(rel)], string(b))
		}
		return nil
	}))
	checked := 0
	for dir, files := range tests {
		if dir == "internal/pgtest" {
			continue
		}
		all := strings.Join(files, "\n")
		if !uses.MatchString(all) {
			continue
		}
		checked++
		if pending[dir] {
			require.False(t, announces.MatchString(all), "%s announces its skips now: take it off the pending list", dir)
			continue
		}
		require.True(t, announces.MatchString(all), "%s has database tests but no TestMain calling pgtest.Main (or pgtest.Run)", dir)
	}
	require.Greater(t, checked, 10, "found too few packages with database tests; is the module root right?")
	helper, err := os.ReadFile(filepath.Join(root, "internal/mysqltest/mysqltest.go"))
	require.NoError(t, err)
	require.Contains(t, string(helper), "pgtest.Require(", "mysqltest skips without counting the skip for the notice")
}
