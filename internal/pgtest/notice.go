package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// skips counts the tests skipped for each unset environment variable, and remembers
// an example value for it.
var skips struct {
	mu      sync.Mutex
	count   map[string]int
	example map[string]string
}

// Require returns the value of the environment variable name, or skips tb, saying how to
// set it (example is a value that works with the servers CI runs), and counts the skip
// for the notice [Run] prints.
func Require(tb testing.TB, name, example string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		skips.mu.Lock()
		if skips.count == nil {
			skips.count, skips.example = map[string]int{}, map[string]string{}
		}
		skips.count[name]++
		skips.example[name] = example
		skips.mu.Unlock()
		tb.Skipf("database tests are off: set %s=%s to run them", name, example)
	}
	return v
}

// Main is a TestMain for a package with database tests: it runs the tests with [Run] and
// exits with their code.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the package's tests and returns their exit code. When tests skipped because a
// database's environment variable is unset, it prints one line saying how many and how to
// enable them, so that `go test ./...` without a database does not look fully green.
func Run(m *testing.M) int {
	code := m.Run()
	skips.mu.Lock()
	defer skips.mu.Unlock()
	names := make([]string, 0, len(skips.count))
	for n := range skips.count {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		notice(fmt.Sprintf("%s: %d database tests skipped: set %s=%s to run them",
			packageName(), skips.count[n], n, shellQuote(skips.example[n])))
	}
	return code
}

// notice prints msg where the person running go test sees it. With -v go test shows the
// package's output, so msg goes to standard error. Without -v, `go test ./...` throws
// away the output of a package that passed, so msg goes to go test's own standard error
// instead (the parent process's, on Linux), or else to the terminal.
func notice(msg string) {
	if testing.Verbose() {
		fmt.Fprintln(os.Stderr, msg)
		return
	}
	var paths []string
	if runtime.GOOS == "linux" {
		paths = append(paths, fmt.Sprintf("/proc/%d/fd/2", os.Getppid()))
	}
	paths = append(paths, "/dev/tty")
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			continue
		}
		_, err = fmt.Fprintln(f, msg)
		_ = f.Close()
		if err == nil {
			return
		}
	}
	fmt.Fprintln(os.Stderr, msg) // shown on failure, or in directory mode
}

// packageName returns the tested package's directory relative to the module root, such
// as "sinks/postgres": go test runs a package's tests in its directory.
func packageName() string {
	wd, err := os.Getwd()
	if err != nil {
		return filepath.Base(os.Args[0])
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if rel, err := filepath.Rel(dir, wd); err == nil {
				return filepath.ToSlash(rel)
			}
			break
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return filepath.Base(wd)
}

// shellQuote quotes v for a POSIX shell when it needs it, as a MySQL DSN's parentheses do.
func shellQuote(v string) string {
	if strings.ContainsAny(v, "()&;|<>$`\\\"' \t*?[]#~") {
		return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
	}
	return v
}
