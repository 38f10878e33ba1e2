package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Sample is one timed execution of a case.
type Sample struct {
	// Wall is the time from process start to exit.
	Wall time.Duration
	// MaxRSS is the process's peak resident set in bytes, 0 when unknown.
	MaxRSS int64
	// CPU is the process's user plus system time.
	CPU time.Duration
	// Stdout is what the process printed to standard output.
	Stdout []byte
}

// MiB returns MaxRSS in mebibytes.
func (s Sample) MiB() float64 { return float64(s.MaxRSS) / (1 << 20) }

// Measure runs cmd to completion and returns its wall time, peak RSS and CPU time. It
// captures stdout and stderr; a failure's error carries the tail of stderr.
func Measure(cmd *exec.Cmd) (Sample, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	s := Sample{Wall: time.Since(start), Stdout: stdout.Bytes()}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			s.MaxRSS = ru.Maxrss * 1024 // Linux reports KiB
		}
		s.CPU = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		return s, fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, tail(stderr.String(), 2000))
	}
	return s, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// ChildFlag is the hidden flag by which a benchmark binary recognises that it was
// re-executed as the sluice loader.
const ChildFlag = "child"

// Child returns a command that re-executes the running binary with -child name and args,
// so that the sluice side of a case runs, and is measured, as a process of its own.
func Child(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the benchmark binary to re-execute: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{"-" + ChildFlag, name}, args...)...)
	cmd.Env = os.Environ()
	return cmd, nil
}

// PSQL runs psql against one database. Every invocation ignores ~/.psqlrc and stops at the
// first error.
type PSQL struct {
	// DSN is the connection string, passed to psql as its database argument.
	DSN string
	// Path is the psql binary. Defaults to "psql" on PATH.
	Path string
}

func (p PSQL) command(ctx context.Context, args ...string) *exec.Cmd {
	path := p.Path
	if path == "" {
		path = "psql"
	}
	base := []string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", p.DSN}
	cmd := exec.CommandContext(ctx, path, append(base, args...)...)
	cmd.Env = append(os.Environ(), "PGAPPNAME=sluice-bench-psql")
	return cmd
}

// Exec runs sql with psql -c, untimed, and returns what psql printed.
func (p PSQL) Exec(ctx context.Context, sql string) (string, error) {
	s, err := Measure(p.command(ctx, "-c", sql))
	if err != nil {
		return "", p.RedactErr(err)
	}
	return string(s.Stdout), nil
}

// Script runs script (psql commands, such as \copy, and SQL) with psql -f from a temporary
// file, and measures the psql process.
func (p PSQL) Script(ctx context.Context, script string) (Sample, error) {
	f, err := os.CreateTemp("", "sluice-bench-*.psql")
	if err != nil {
		return Sample{}, err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(script)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Sample{}, err
	}
	s, err := Measure(p.command(ctx, "-f", f.Name()))
	return s, p.RedactErr(err)
}

// RedactErr removes the DSN's password from an error that may quote it.
func (p PSQL) RedactErr(err error) error {
	if err == nil {
		return nil
	}
	if r := RedactDSN(p.DSN); r != p.DSN {
		return errors.New(strings.ReplaceAll(err.Error(), p.DSN, r))
	}
	return err
}

// RedactDSN replaces the password of a URL-form connection string with "xxxxx".
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); !ok {
		return dsn
	}
	u.User = url.UserPassword(u.User.Username(), "xxxxx")
	return u.String()
}

// QuoteLiteral quotes s as a SQL (and psql \copy) string literal.
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// QuoteIdent quotes s as a SQL identifier.
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
