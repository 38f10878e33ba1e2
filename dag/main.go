package dag

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redact"
)

// Exit codes returned by [MainArgs].
const (
	// ExitOK means the command did what it was asked: every task of every run succeeded
	// or was skipped by its trigger rule.
	ExitOK = 0
	// ExitFailed means a task or a window failed, or the command could not do its work
	// (an unreachable store, say).
	ExitFailed = 1
	// ExitUsage means the command line was wrong; nothing ran.
	ExitUsage = 2
	// ExitLocked means another run of the DAG holds the lock (EX_TEMPFAIL from
	// sysexits.h): nothing ran, and cron can simply try again later.
	ExitLocked = 75
)

// StoreEnv names the environment variable that [MainArgs] reads the store's connection
// string from when --store is not given.
const StoreEnv = "SLUICE_DAG_STORE"

// Main makes a program a cron-ready command for d: it runs [MainArgs] with the process's
// arguments, standard streams and a context cancelled by SIGINT or SIGTERM, and exits with
// its code.
func Main(d *DAG) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := MainArgs(ctx, d, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: %[1]s [global flags] <command> [flags]

Commands:
  run       run the DAG once: over --window-start/--window-end, over the interval
            starting at --logical-date, or over every window due since the last success
  backfill  run every window in --from/--to, skipping windows that already succeeded
  graph     print the DAG as Mermaid (default) or DOT
  describe  print a Markdown page documenting the DAG
  history   list recent runs, or show one with --run ID
  prune     forget runs older than --older-than (a duration, such as 2160h), in the
            store and in whatever Config.PruneHooks name
  worker    run task attempts from the queue until SIGTERM (queue executors only)
  migrate   create or upgrade the queue's tables (queue executors only)
  ui        serve the queue's web UI and the DAG's runs on --addr (queue executors only)

Global flags (also accepted after the command):
  --store DSN         run history and lock: "memory" or a connection string
                      (default $SLUICE_DAG_STORE, else memory)
  --log-format F      text or json (default text)
  --log-level L       debug, info, warn or error (default info)
  --executor E        where tasks run: local, or a queue of Config.Queues
                      (default $SLUICE_DAG_EXECUTOR, else local); with a queue,
                      run and backfill take --detach to queue the command and return

Exit codes: 0 success, 1 failure, 2 usage, 75 another run holds the lock.
Run '%[1]s <command> --help' for a command's flags.
`

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

type mainEnv struct {
	d              *DAG // after setup, a copy with the command's store and logger
	stdout, stderr io.Writer
	store          string
	logFormat      string
	logLevel       string
	log            *slog.Logger
	opened         Store // the store setup opened, closed when the command ends
	queueEnv
}

func (m *mainEnv) common(fs *flag.FlagSet) {
	fs.StringVar(&m.store, "store", m.store, "run history and lock: memory or a connection string")
	fs.StringVar(&m.logFormat, "log-format", m.logFormat, "log format: text or json")
	fs.StringVar(&m.logLevel, "log-level", m.logLevel, "log level: debug, info, warn or error")
	fs.StringVar(&m.executor, "executor", m.executor, "where tasks run: local or a queue executor")
}

// MainArgs runs the command line args (without the program name) against d, writing
// results to stdout and logs to stderr, and returns the exit code: [ExitOK], [ExitFailed],
// [ExitUsage] or [ExitLocked]. [Main] wraps it; tests call it directly.
func MainArgs(ctx context.Context, d *DAG, args []string, stdout, stderr io.Writer) int {
	m := &mainEnv{d: d, stdout: stdout, stderr: stderr, store: os.Getenv(StoreEnv), logFormat: "text", logLevel: "info",
		queueEnv: queueEnv{executor: cmp.Or(os.Getenv(ExecutorEnv), "local")}}
	prog := d.name
	global := flag.NewFlagSet(prog, flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { fmt.Fprintf(stderr, usage, prog) }
	m.common(global)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	rest := global.Args()
	if len(rest) == 0 {
		global.Usage()
		return ExitUsage
	}
	cmd, rest := rest[0], rest[1:]
	if cmd == "help" {
		global.Usage()
		return ExitOK
	}
	sub := flag.NewFlagSet(prog+" "+cmd, flag.ContinueOnError)
	sub.SetOutput(stderr)
	m.common(sub)
	var run func(ctx context.Context) error
	switch cmd {
	case "run":
		run = m.cmdRun(sub)
	case "backfill":
		run = m.cmdBackfill(sub)
	case "graph":
		run = m.cmdGraph(sub)
	case "describe":
		run = func(context.Context) error { return d.WriteMarkdown(stdout) }
	case "history":
		run = m.cmdHistory(sub)
	case "prune":
		run = m.cmdPrune(sub)
	case "worker", "migrate", "ui":
		run = m.queueCommand(cmd, sub)
	default:
		fmt.Fprintf(stderr, "%s: unknown command %q\n", prog, cmd)
		global.Usage()
		return ExitUsage
	}
	if err := sub.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if sub.NArg() > 0 {
		fmt.Fprintf(stderr, "%s %s: unexpected arguments: %s\n", prog, cmd, strings.Join(sub.Args(), " "))
		return ExitUsage
	}
	// graph and describe read only the declaration: they work with the store down.
	needsStore := cmd != "graph" && cmd != "describe"
	if err := m.setup(ctx, needsStore, needsStore && m.usesQueue(cmd)); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		var ue *usageError
		if errors.As(err, &ue) {
			return ExitUsage
		}
		return ExitFailed
	}
	defer m.closeStore()
	err := run(ctx)
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s %s: %v\n", prog, cmd, err)
		return ExitUsage
	case errors.Is(err, etl.ErrLocked):
		m.log.Warn("another run holds the lock; nothing ran", slog.String("dag", d.name), slog.Any("error", err))
		return ExitLocked
	default:
		m.log.Error("command failed", slog.String("command", cmd), slog.Any("error", err))
		return ExitFailed
	}
}

// setup builds the logger and, when the command needs one, opens the store, and points
// m.d at a copy of the DAG that uses them.
func (m *mainEnv) setup(ctx context.Context, needsStore, needsQueue bool) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(m.logLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch m.logFormat {
	case "text":
		m.log = slog.New(slog.NewTextHandler(m.stderr, opts))
	case "json":
		m.log = slog.New(slog.NewJSONHandler(m.stderr, opts))
	default:
		return usagef("--log-format must be text or json, not %q", m.logFormat)
	}
	if m.d.cfg.Logger != nil {
		m.log = m.d.logger
	}
	store := m.d.store // Config.Store, or the in-memory default
	if needsStore && m.store != "" && m.store != "memory" {
		if m.d.cfg.OpenStore == nil {
			return usagef("--store %s: this program cannot open stores (set Config.OpenStore)", redact.DSN(m.store))
		}
		s, err := m.d.cfg.OpenStore(ctx, m.store)
		if err != nil {
			return fmt.Errorf("open store %s: %w", redact.DSN(m.store), err)
		}
		store, m.opened = s, s
	}
	var exec Executor
	if needsQueue {
		q, err := m.openQueue(ctx, store)
		if err != nil {
			return err
		}
		exec = q
	}
	m.d = m.d.withEnv(store, m.log, exec)
	return nil
}

func (m *mainEnv) closeStore() {
	m.closeQueue()
	if c, ok := m.opened.(io.Closer); ok {
		if err := c.Close(); err != nil {
			m.log.Warn("close store", slog.Any("error", err))
		}
	}
}

// ParseTime reads a time given on the command line: RFC 3339 ("2026-01-02T15:04:05Z"),
// a date and time without zone ("2026-01-02T15:04", taken as UTC), or a date
// ("2026-01-02", midnight UTC).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read time %q: want RFC 3339 or YYYY-MM-DD", s)
}

type timeFlag struct{ t *time.Time }

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f timeFlag) Set(s string) error {
	t, err := ParseTime(s)
	if err != nil {
		return err
	}
	*f.t = t
	return nil
}

func (m *mainEnv) cmdRun(fs *flag.FlagSet) func(context.Context) error {
	var start, end, logical time.Time
	var asJSON bool
	fs.Var(timeFlag{&start}, "window-start", "start of the window to run (RFC 3339 or YYYY-MM-DD)")
	fs.Var(timeFlag{&end}, "window-end", "end of the window to run, exclusive")
	fs.Var(timeFlag{&logical}, "logical-date", "run the interval that starts at this time")
	fs.BoolVar(&asJSON, "json", false, "print the run report as JSON")
	m.detachFlag(fs)
	return func(ctx context.Context) error {
		if m.detach {
			return m.submit(ctx, "run", fs)
		}
		var windows []etl.Window
		switch {
		case !logical.IsZero() && (!start.IsZero() || !end.IsZero()):
			return usagef("give either --logical-date or --window-start/--window-end")
		case !logical.IsZero():
			windows = []etl.Window{{Start: logical, End: logical.Add(m.d.every())}}
		case start.IsZero() != end.IsZero():
			return usagef("--window-start and --window-end go together")
		case !start.IsZero():
			w := etl.Window{Start: start, End: end}
			if err := w.Validate(); err != nil {
				return usagef("%v", err)
			}
			windows = []etl.Window{w}
		default:
			due, err := m.d.DueWindows(ctx)
			if err != nil {
				return err
			}
			if len(due) == 0 {
				m.log.Info("no window is due", slog.String("dag", m.d.name))
				return nil
			}
			windows = due
		}
		if len(windows) == 1 {
			rep, err := m.d.Run(ctx, windows[0])
			if rep != nil {
				m.printReport(rep, asJSON)
			}
			return err
		}
		// Catching up on several windows: one hold of the lock, oldest first.
		br, err := m.d.Backfill(ctx, windows[0].Start, windows[len(windows)-1].End, m.d.every(), BackfillOptions{})
		if br != nil {
			for _, wp := range br.Windows {
				if wp.Report != nil {
					m.printReport(wp.Report, asJSON)
				}
			}
		}
		return err
	}
}

func (m *mainEnv) printReport(rep *Report, asJSON bool) {
	if asJSON {
		_ = m.writeJSON(rep)
		return
	}
	_ = rep.WriteTable(m.stdout)
}

// writeJSON prints v as indented JSON, for the --json flags.
func (m *mainEnv) writeJSON(v any) error {
	enc := json.NewEncoder(m.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (m *mainEnv) cmdBackfill(fs *flag.FlagSet) func(context.Context) error {
	var from, to time.Time
	var every time.Duration
	var opt BackfillOptions
	var force, asJSON bool
	var reprocess string
	fs.Var(timeFlag{&from}, "from", "start of the first window (required)")
	fs.Var(timeFlag{&to}, "to", "end of the last window, exclusive (required)")
	fs.DurationVar(&every, "every", 0, "window length (default the DAG's interval, else 24h)")
	fs.IntVar(&opt.Parallel, "parallel", 1, "windows to run at once")
	fs.BoolVar(&force, "force", false, "run every window, even those that succeeded (--reprocess all)")
	fs.StringVar(&reprocess, "reprocess", "none", "windows to run again: none (never succeeded), failed, or all")
	fs.BoolVar(&opt.DryRun, "dry-run", false, "list the windows and why each would run, and run nothing")
	fs.BoolVar(&opt.StopOnFailure, "stop-on-failure", false, "start no more windows once one has failed")
	fs.BoolVar(&asJSON, "json", false, "print the backfill report as JSON")
	m.detachFlag(fs)
	return func(ctx context.Context) error {
		if from.IsZero() || to.IsZero() {
			return usagef("--from and --to are required")
		}
		if !to.After(from) {
			return usagef("--to must be after --from")
		}
		if m.detach {
			return m.submit(ctx, "backfill", fs)
		}
		opt.Reprocess = Reprocess(reprocess)
		switch opt.Reprocess {
		case ReprocessNone, ReprocessFailed, ReprocessAll:
		default:
			return usagef("--reprocess must be none, failed or all, not %q", reprocess)
		}
		if force {
			opt.Reprocess = ReprocessAll
		}
		br, err := m.d.Backfill(ctx, from, to, every, opt)
		if br == nil {
			return err
		}
		if asJSON {
			_ = m.writeJSON(br)
			return err
		}
		tw := tabwriter.NewWriter(m.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "WINDOW\tACTION\tSTATUS\tRUN\tREASON")
		for _, wp := range br.Windows {
			action, status, id := "skip", "-", "-"
			if wp.Run {
				action = "run"
				if opt.DryRun {
					action = "would run"
				}
			}
			if wp.Report != nil {
				status, id = string(wp.Report.Status), wp.Report.RunID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", wp.Window, action, status, id, wp.Reason)
		}
		tw.Flush()
		if !opt.DryRun {
			fmt.Fprintf(m.stdout, "%d succeeded, %d failed, %d skipped\n",
				br.Count(StatusSuccess), br.Count(StatusFailed), br.Count(StatusSkipped))
		}
		return err
	}
}

func (m *mainEnv) cmdGraph(fs *flag.FlagSet) func(context.Context) error {
	var format string
	fs.StringVar(&format, "format", "mermaid", "mermaid or dot")
	return func(context.Context) error {
		var s string
		var err error
		switch format {
		case "mermaid":
			s, err = m.d.Mermaid()
		case "dot":
			s, err = m.d.DOT()
		default:
			return usagef("--format must be mermaid or dot, not %q", format)
		}
		if err != nil {
			return err
		}
		_, err = io.WriteString(m.stdout, s)
		return err
	}
}

func (m *mainEnv) cmdHistory(fs *flag.FlagSet) func(context.Context) error {
	var q Query
	var runID string
	var asJSON, mermaid bool
	fs.BoolVar(&q.Failed, "failed", false, "only failed runs")
	fs.StringVar(&q.Task, "pipeline", "", "only runs that include this task (with --failed: in which it failed)")
	fs.StringVar(&q.Task, "task", "", "same as --pipeline")
	fs.IntVar(&q.Limit, "limit", 20, "most runs to list")
	fs.StringVar(&runID, "run", "", "show this run in full: every task, check, error and attempt count")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.BoolVar(&mermaid, "mermaid", false, "with --run: print the run as a Mermaid graph coloured by status")
	return func(ctx context.Context) error {
		store := m.d.Store()
		if runID != "" {
			rep, err := store.LoadRun(ctx, runID)
			if err != nil {
				return err
			}
			switch {
			case asJSON:
				return m.writeJSON(rep)
			case mermaid:
				_, err = io.WriteString(m.stdout, rep.Mermaid())
				return err
			}
			return rep.WriteDetail(m.stdout)
		}
		q.DAG = m.d.name
		runs, err := store.Runs(ctx, q)
		if err != nil {
			return err
		}
		if asJSON {
			if runs == nil {
				runs = []*Report{} // [] rather than null, for jq and friends
			}
			return m.writeJSON(runs)
		}
		if len(runs) == 0 {
			fmt.Fprintln(m.stdout, "no runs")
			return nil
		}
		tw := tabwriter.NewWriter(m.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tSTARTED\tSTATUS\tWINDOW\tROWS\tDURATION\tFAILED")
		for _, r := range runs {
			failed := "-"
			if f := r.FirstFailure(); f != nil {
				failed = f.Name
				if f.Step != "" {
					failed += " (" + f.Step + ")"
				}
				failed += ": " + firstLine(f.Error)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.RunID, r.Started.UTC().Format(time.RFC3339),
				r.Status, r.Window, r.Rows(), fmtDuration(r.Duration), failed)
		}
		return tw.Flush()
	}
}

func (m *mainEnv) cmdPrune(fs *flag.FlagSet) func(context.Context) error {
	var age time.Duration
	fs.DurationVar(&age, "older-than", 0, "forget finished runs that started longer ago than this (required)")
	return func(ctx context.Context) error {
		if age <= 0 {
			return usagef("--older-than must be a positive duration, such as 2160h")
		}
		p, ok := m.d.Store().(Pruner)
		if !ok {
			return fmt.Errorf("the store %T cannot prune", m.d.Store())
		}
		n, err := p.Prune(ctx, m.d.name, m.d.cfg.Now().Add(-age))
		if err != nil {
			return err
		}
		fmt.Fprintf(m.stdout, "pruned %d run(s)\n", n)
		// One failing hook does not keep the others from running.
		var errs []error
		for _, h := range m.d.cfg.PruneHooks {
			if h.Prune == nil {
				continue
			}
			n, err := h.Prune(ctx, age)
			if err != nil {
				errs = append(errs, fmt.Errorf("prune %s: %w", h.Name, err))
				continue
			}
			fmt.Fprintf(m.stdout, "pruned %d record(s) of %s\n", n, h.Name)
		}
		return errors.Join(errs...)
	}
}
