package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-etl/sluice/internal/redact"
)

// Sample is one timed execution of a case.
type Sample struct {
	// Wall is the time from process start to exit.
	Wall time.Duration
	// MaxRSS is the process's peak resident set in bytes (its VmHWM), 0 when unknown.
	MaxRSS int64
	// RusageMaxRSS is the kernel's ru_maxrss for the process, in bytes. It is an upper
	// bound only: the kernel folds the parent's peak at fork time into it (see Measure).
	RusageMaxRSS int64
	// CPU is the process's user plus system time.
	CPU time.Duration
	// Stdout is what the process printed to standard output.
	Stdout []byte
}

// MiB returns MaxRSS in mebibytes.
func (s Sample) MiB() float64 { return float64(s.MaxRSS) / (1 << 20) }

// pollEvery is how often Measure samples a running child's peak RSS.
const pollEvery = 10 * time.Millisecond

// Measure runs cmd to completion and returns its wall time, peak RSS and CPU time. It
// captures stdout and stderr; a failure's error carries the tail of stderr.
//
// The peak RSS is the child's VmHWM from /proc/<pid>/status, read every 10 ms while it
// runs: the high-water mark of the memory the child mapped after exec, so its own alone.
// The rusage ru_maxrss is kept too, but it is not the child's alone: at exec the kernel
// records the peak of the address space being replaced, which for a child forked (or
// vforked, as Go does) from the driver is the driver's. A child that reports its own
// VmHWM at exit, as the sluice children do with [WriteChildResult], is measured exactly
// by [MeasureChild].
func Measure(cmd *exec.Cmd) (Sample, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Sample{}, fmt.Errorf("%s: %w", filepath.Base(cmd.Path), err)
	}
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var hwm atomic.Int64
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		for {
			if v, err := readHWM(status); err == nil && v > hwm.Load() {
				hwm.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(done)
	<-polled
	s := Sample{Wall: wall, Stdout: stdout.Bytes(), MaxRSS: hwm.Load()}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			s.RusageMaxRSS = ru.Maxrss * 1024 // Linux reports KiB
		}
		s.CPU = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		return s, fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, tail(stderr.String(), 2000))
	}
	return s, nil
}

// MeasureChild is [Measure] for a sluice child: when the child reported its own peak RSS
// with [WriteChildResult], that exact figure replaces the polled one.
func MeasureChild(cmd *exec.Cmd) (Sample, error) {
	s, err := Measure(cmd)
	if err != nil {
		return s, err
	}
	if cr, rerr := ReadChildResult(s.Stdout); rerr == nil && cr.PeakRSS > 0 {
		s.MaxRSS = cr.PeakRSS
	}
	return s, nil
}

// readHWM returns the VmHWM line of a /proc status file in bytes.
func readHWM(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	_, rest, ok := bytes.Cut(b, []byte("VmHWM:"))
	if !ok {
		return 0, errors.New("no VmHWM")
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(line)), "kB")), 10, 64)
	if err != nil {
		return 0, err
	}
	return kb * 1024, nil
}

// OwnPeakRSS returns the calling process's VmHWM in bytes, or 0 when unknown.
func OwnPeakRSS() int64 {
	v, _ := readHWM("/proc/self/status")
	return v
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

// RedactDSN hides the passwords of a connection string in either form, as every sluice
// package does.
func RedactDSN(dsn string) string { return redact.DSN(dsn) }

// QuoteLiteral quotes s as a SQL (and psql \copy) string literal.
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// QuoteIdent quotes s as a SQL identifier.
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
