package dag

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ExecutorEnv names the environment variable that [MainArgs] reads the executor from when
// --executor is not given: "local", or a name in [Config.Queues].
const ExecutorEnv = "SLUICE_DAG_EXECUTOR"

// queueEnv is what the commands of a [Queue] add to mainEnv.
type queueEnv struct {
	executor string // --executor
	cmd      string // the command being run
	queue    Queue  // the queue setup opened, closed when the command ends
	detach   bool   // --detach of run and backfill
}

// usesQueue reports whether cmd runs on the queue: the queue's own commands always, and
// run and backfill when --executor names a queue.
func (m *mainEnv) usesQueue(cmd string) bool {
	m.cmd = cmd
	switch cmd {
	case "worker", "migrate", "ui":
		return true
	case "run", "backfill":
		return m.executor != "local" || m.detach
	}
	return false
}

// openQueue opens the queue --executor names. The queue's own commands may leave
// --executor out when the program declares a single queue.
func (m *mainEnv) openQueue(ctx context.Context, store Store) (Queue, error) {
	name := m.executor
	names := slices.Sorted(maps.Keys(m.d.cfg.Queues))
	if name == "local" {
		if len(names) != 1 || (m.cmd == "run" || m.cmd == "backfill") && !m.detach {
			what := m.cmd
			if m.detach {
				what += " --detach"
			}
			if len(names) == 0 {
				return nil, usagef("%s needs a queue executor, and this program declares none (set Config.Queues)", what)
			}
			return nil, usagef("%s needs a queue executor: give --executor %s", what, strings.Join(names, " or "))
		}
		name = names[0]
	}
	open, ok := m.d.cfg.Queues[name]
	if !ok {
		return nil, usagef("--executor %q: want local or %s", name, strings.Join(names, ", "))
	}
	q, err := open(ctx, store, m.log)
	if err != nil {
		return nil, fmt.Errorf("open executor %s: %w", name, err)
	}
	m.queue = q
	return q, nil
}

func (m *mainEnv) closeQueue() {
	if c, ok := m.queue.(io.Closer); ok {
		if err := c.Close(); err != nil {
			m.log.Warn("close executor", slog.Any("error", err))
		}
	}
}

func (m *mainEnv) detachFlag(fs *flag.FlagSet) {
	fs.BoolVar(&m.detach, "detach", false, "queue the command for a worker and return at once (queue executors only)")
}

// submit queues the command with the flags given to it, less the global ones: a worker
// runs it with its own store and executor, and no connection string travels in the queue.
func (m *mainEnv) submit(ctx context.Context, cmd string, fs *flag.FlagSet) error {
	args := []string{cmd}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "store", "log-format", "log-level", "executor", "detach":
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	id, err := m.queue.Submit(ctx, m.d, args)
	if err != nil {
		return err
	}
	m.log.Info("command queued for a worker", slog.String("dag", m.d.name), slog.String("command", strings.Join(args, " ")), slog.String("id", id))
	_, err = fmt.Fprintf(m.stdout, "queued %s as %s\n", strings.Join(args, " "), id)
	return err
}

// runQueued runs a command a worker took from the queue, with the worker's store,
// executor and logger, printing to stdout.
func (m *mainEnv) runQueued(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("empty command")
	}
	c := *m
	c.stdout = stdout
	fs := flag.NewFlagSet(m.d.name+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var run func(context.Context) error
	switch args[0] {
	case "run":
		run = c.cmdRun(fs)
	case "backfill":
		run = c.cmdBackfill(fs)
	default:
		return fmt.Errorf("a worker runs queued run and backfill commands only, not %q", args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("queued command %q: %w", strings.Join(args, " "), err)
	}
	c.detach = false
	return run(ctx)
}

func (m *mainEnv) queueCommand(cmd string, fs *flag.FlagSet) func(context.Context) error {
	switch cmd {
	case "worker":
		var opts WorkOptions
		fs.IntVar(&opts.Concurrency, "concurrency", 0, "attempts to run at once (default: the executor's)")
		fs.DurationVar(&opts.Grace, "grace", 30*time.Second,
			"after SIGTERM, how long running attempts may finish before they are cancelled and handed back")
		return func(ctx context.Context) error {
			opts.Command, opts.Stdout = m.runQueued, m.stdout
			m.log.Info("worker started", slog.String("dag", m.d.name))
			err := m.queue.Work(ctx, m.d, opts)
			m.log.Info("worker stopped", slog.String("dag", m.d.name))
			return err
		}
	case "migrate":
		return func(ctx context.Context) error { return m.queue.Migrate(ctx, m.stdout) }
	default: // ui
		var addr string
		fs.StringVar(&addr, "addr", "127.0.0.1:8080", "address to serve the UI on")
		return func(ctx context.Context) error { return m.serveUI(ctx, addr) }
	}
}

// serveUI serves the queue's UI until ctx is cancelled.
func (m *mainEnv) serveUI(ctx context.Context, addr string) error {
	h, err := m.queue.Handler(ctx, m.d)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(m.stdout, "serving the UI of dag %s on http://%s/\n", m.d.name, ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return srv.Shutdown(stopCtx)
}
