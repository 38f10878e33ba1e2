package harness

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-etl/sluice/etl"
)

// Main is the body of a benchmark's main, after flag.Parse. It cancels on SIGINT or
// SIGTERM; in a re-executed child (childCase, the value of the -child flag, is set) it
// exits with child's status, otherwise it runs the driver with the report on stdout and
// exits 1, naming the command, on an error.
func Main(command, childCase string, child func(context.Context) int, run func(context.Context, io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if childCase != "" {
		os.Exit(child(ctx))
	}
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, command+":", err)
		os.Exit(1)
	}
}

// Usage returns a flag.Usage for the benchmark under ./bench/command that lists every
// flag but hidden (the ones the driver passes only to its children) with its default,
// passwords redacted.
func Usage(command string, hidden ...string) func() {
	return func() {
		out := flag.CommandLine.Output()
		fmt.Fprintf(out, "usage: go run ./bench/%s [flags]\n\n", command)
		flag.VisitAll(func(f *flag.Flag) {
			if slices.Contains(hidden, f.Name) {
				return
			}
			fmt.Fprintf(out, "  -%s\t%s (default %q)\n", f.Name, f.Usage, RedactDSN(f.DefValue))
		})
	}
}

// ExitUnknownChild reports a -child case the binary does not know and returns the exit
// status for it.
func ExitUnknownChild(name string) int {
	fmt.Fprintf(os.Stderr, "unknown child case %q\n", name)
	return 2
}

// FinishChild ends a sluice child: it reports err on stderr, or else writes res for the
// driver with [WriteChildResult], and returns the child's exit status.
func FinishChild(res etl.Result, err error, events int64, phases ...Phase) int {
	if err == nil {
		err = WriteChildResult(os.Stdout, res, events, phases...)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// SelectCases splits the -cases flag value and checks every name against known, the
// comma-separated list of the benchmark's cases.
func SelectCases(value, known string) ([]string, error) {
	cases := SplitList(value)
	for _, name := range cases {
		if !slices.Contains(SplitList(known), name) {
			return nil, fmt.Errorf("unknown case %q (known: %s)", name, known)
		}
	}
	return cases, nil
}

// ConnectAndClaim opens the driver's connection with [Connect] and takes schema with
// [Claim] on it. The caller closes the connection, which releases the claim.
func ConnectAndClaim(ctx context.Context, dsn, schema string) (*pgx.Conn, error) {
	conn, err := Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := Claim(ctx, conn, schema); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// WriteHeader starts a report: a Markdown title, then the client, server and sluice
// revision as list items (see [Environment]).
func WriteHeader(ctx context.Context, w io.Writer, conn *pgx.Conn, title string) {
	fmt.Fprintf(w, "# %s\n\n", title)
	for _, l := range Environment(ctx, conn) {
		fmt.Fprintln(w, "- "+l)
	}
}

// WriteFooter ends a report: the load average, then the targets' verdicts in a code
// block, and how many were not met when any.
func WriteFooter(w io.Writer, targets []Target) {
	fmt.Fprintln(w, "\nLoad average at the end: "+LoadAverage())
	fmt.Fprintln(w, "\nTargets:")
	fmt.Fprintln(w, "```")
	failed := WriteTargets(w, targets)
	fmt.Fprintln(w, "```")
	if failed > 0 {
		fmt.Fprintf(w, "\n%d of %d targets not met or not measured.\n", failed, len(targets))
	}
}

// MeasureSluiceChild re-executes the benchmark as the sluice child name with args (see
// [Child]) and measures it, with dsn's password redacted from any error.
func MeasureSluiceChild(ctx context.Context, dsn, name string, args ...string) (Sample, error) {
	cmd, err := Child(ctx, name, args...)
	if err != nil {
		return Sample{}, err
	}
	s, err := MeasureChild(cmd)
	return s, PSQL{DSN: dsn}.RedactErr(err)
}
