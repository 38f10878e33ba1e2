// Command river measures what the river executor (dag/riverexec) costs against running
// tasks in process, and how its throughput grows with worker processes:
//
//   - latency: a chain of -tasks no-op tasks, each starting when the one before ended,
//     run in process and then on one river worker; the difference per task is the latency
//     the queue adds to a task;
//   - throughput: -tasks independent tasks, each sleeping -sleep, on 1, 2 and 4 worker
//     processes (-workers), each running -worker-concurrency attempts at once.
//
// Workers are this binary re-executed with -child. The report, in Markdown, goes to
// stdout; progress to stderr. See bench/README.md for the method and the figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/bench/internal/harness"
	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/dag/riverexec"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redact"
)

type options struct {
	dsn, schema       string
	tasks, runs       int
	workers           []int
	workerConcurrency int
	sleep             time.Duration
	child             string
	cooldown          time.Duration
}

func main() {
	var o options
	var workers string
	flag.StringVar(&o.dsn, "dsn", harness.DSNFromEnv(), "PostgreSQL connection string (defaults to $SLUICE_TEST_DATABASE_URL)")
	flag.StringVar(&o.schema, "schema", "sluice_bench_river", "scratch schema, dropped and recreated")
	flag.IntVar(&o.tasks, "tasks", 1000, "tasks per DAG")
	flag.IntVar(&o.runs, "runs", 3, "runs of each case; the report gives medians")
	flag.StringVar(&workers, "workers", "1,2,4", "worker process counts for the throughput cases; empty skips them")
	flag.IntVar(&o.workerConcurrency, "worker-concurrency", 4, "attempts each worker runs at once")
	flag.DurationVar(&o.sleep, "sleep", 20*time.Millisecond, "what each task of the throughput cases does: sleep this long")
	flag.DurationVar(&o.cooldown, "fetch-cooldown", 0, "riverexec.Config.FetchCooldown (default: the executor's)")
	flag.StringVar(&o.child, "child", "", "internal: run as a worker for this DAG (chain or wide)")
	flag.Usage = harness.Usage("river", "child") // the -dsn default, password hidden
	flag.Parse()
	for _, w := range strings.Split(workers, ",") {
		if strings.TrimSpace(w) == "" && strings.TrimSpace(workers) == "" {
			break
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 {
			log.Fatalf("-workers: %q is not a positive count", w)
		}
		o.workers = append(o.workers, n)
	}
	if err := run(context.Background(), o, os.Stdout); err != nil {
		log.Fatal(redact.DSN(err.Error()))
	}
}

// appName tags the benchmark's connections, so that the driver can add up the CPU time
// of the PostgreSQL backends serving them.
const appName = "sluice_bench_river"

func run(ctx context.Context, o options, out io.Writer) error {
	pcfg, err := pgxpool.ParseConfig(o.dsn)
	if err != nil {
		return err
	}
	pcfg.ConnConfig.RuntimeParams["application_name"] = appName
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if o.child != "" {
		return work(ctx, o, pool)
	}
	return drive(ctx, o, pool, out)
}

// declare builds the benchmark's DAGs: chain, a line of no-op tasks, and wide,
// independent tasks that each sleep.
func declare(name string, o options, cfg dag.Config) *dag.DAG {
	d := dag.New(name, cfg)
	sleep := o.sleep
	for i := range o.tasks {
		task := fmt.Sprintf("t%05d", i)
		switch name {
		case "chain":
			t := d.Task(task, func(context.Context, *dag.Run) error { return nil })
			if i > 0 {
				t.After(fmt.Sprintf("t%05d", i-1))
			}
		default:
			d.Task(task, func(ctx context.Context, _ *dag.Run) error {
				if sleep <= 0 {
					return nil
				}
				select {
				case <-time.After(sleep):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		}
	}
	return d
}

func executor(o options, pool *pgxpool.Pool, id string) (*riverexec.Executor, *pgstore.Store, error) {
	store := pgstore.New(pool, pgstore.Config{Schema: o.schema})
	x, err := riverexec.New(store, riverexec.Config{WorkerID: id, Concurrency: o.workerConcurrency, FetchCooldown: o.cooldown})
	return x, store, err
}

// work is a worker process: it runs attempts of the named DAG until SIGTERM.
func work(ctx context.Context, o options, pool *pgxpool.Pool) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	x, store, err := executor(o, pool, fmt.Sprintf("bench-%d", os.Getpid()))
	if err != nil {
		return err
	}
	defer x.Close()
	d := declare(o.child, o, dag.Config{Store: store})
	fmt.Fprintln(os.Stderr, "worker ready")
	return x.Work(ctx, d, dag.WorkOptions{})
}

type sample struct {
	name    string
	seconds []float64
}

func (s sample) median() float64 {
	c := slices.Clone(s.seconds)
	slices.Sort(c)
	return c[len(c)/2]
}

func drive(ctx context.Context, o options, pool *pgxpool.Pool, out io.Writer) error {
	for _, q := range []string{
		`DROP SCHEMA IF EXISTS ` + pgx.Identifier{o.schema}.Sanitize() + ` CASCADE`,
		`CREATE SCHEMA ` + pgx.Identifier{o.schema}.Sanitize(),
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return err
		}
	}
	x, store, err := executor(o, pool, "bench-driver")
	if err != nil {
		return err
	}
	defer x.Close()
	if err := x.Migrate(ctx, io.Discard); err != nil {
		return err
	}
	remote := dag.Config{Store: store, Executor: x, Concurrency: 256}
	local := dag.Config{Store: store, Concurrency: 256}

	// Latency: the chain, in process and on one worker, interleaved. CPU time is taken
	// for each process involved: this one, the worker and the PostgreSQL backends.
	chainLocal, chainRiver := sample{name: "chain, in process"}, sample{name: "chain, river, 1 worker"}
	workers, stop, err := startWorkers(o, "chain", 1)
	if err != nil {
		return err
	}
	var cpu cpuSplit
	for r := range o.runs {
		for _, c := range []struct {
			s   *sample
			cfg dag.Config
		}{{&chainLocal, local}, {&chainRiver, remote}} {
			before, err := takeCPU(ctx, pool, workers)
			if err != nil {
				stop()
				return err
			}
			secs, err := timeRun(ctx, declare("chain", o, c.cfg))
			if err != nil {
				stop()
				return err
			}
			after, err := takeCPU(ctx, pool, workers)
			if err != nil {
				stop()
				return err
			}
			c.s.seconds = append(c.s.seconds, secs)
			if c.s == &chainRiver {
				cpu.add(after.sub(before))
			}
			log.Printf("run %d: %s: %.3fs", r+1, c.s.name, secs)
		}
	}
	stop()

	// Throughput: the wide DAG on 1, 2 and 4 workers.
	var wide []sample
	for _, n := range o.workers {
		s := sample{name: fmt.Sprintf("%d worker(s)", n)}
		_, stop, err := startWorkers(o, "wide", n)
		if err != nil {
			return err
		}
		for r := range o.runs {
			secs, err := timeRun(ctx, declare("wide", o, remote))
			if err != nil {
				stop()
				return err
			}
			s.seconds = append(s.seconds, secs)
			log.Printf("run %d: wide on %s: %.3fs", r+1, s.name, secs)
		}
		stop()
		wide = append(wide, s)
	}

	n := float64(o.tasks)
	fmt.Fprintf(out, "## River executor: %d tasks, medians of %d runs\n\n", o.tasks, o.runs)
	fmt.Fprintln(out, "| latency case | median s | per task |")
	fmt.Fprintln(out, "|---|---|---|")
	for _, s := range []sample{chainLocal, chainRiver} {
		fmt.Fprintf(out, "| %s | %.3f | %.2f ms |\n", s.name, s.median(), s.median()/n*1000)
	}
	added := (chainRiver.median() - chainLocal.median()) / n * 1000
	fmt.Fprintf(out, "\nAdded latency per task: %.2f ms (target < 5 ms): %s\n\n", added, passFail(added < 5))
	per := float64(o.runs) * n / 1000 // ms per task
	fmt.Fprintf(out, "CPU time per task on the river chain: scheduler %.2f ms, worker %.2f ms, PostgreSQL backends %.2f ms; total %.2f ms.\n\n",
		cpu.driver.Seconds()/per, cpu.worker.Seconds()/per, cpu.postgres.Seconds()/per, cpu.total().Seconds()/per)
	if len(wide) == 0 {
		return nil
	}
	fmt.Fprintf(out, "| throughput: %d tasks sleeping %s, %d attempts per worker | median s | tasks/s |\n", o.tasks, o.sleep, o.workerConcurrency)
	fmt.Fprintln(out, "|---|---|---|")
	for _, s := range wide {
		fmt.Fprintf(out, "| %s | %.3f | %.0f |\n", s.name, s.median(), n/s.median())
	}
	return nil
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func timeRun(ctx context.Context, d *dag.DAG) (float64, error) {
	t0 := time.Now()
	rep, err := d.Run(ctx, etl.Window{})
	secs := time.Since(t0).Seconds()
	if err != nil {
		return 0, err
	}
	if rep.Count(dag.StatusSuccess) != len(rep.Tasks) {
		return 0, fmt.Errorf("dag %s: %d of %d tasks succeeded", rep.DAG, rep.Count(dag.StatusSuccess), len(rep.Tasks))
	}
	return secs, nil
}

// startWorkers starts n worker processes for the named DAG and returns once each is
// ready; stop ends them with SIGTERM.
func startWorkers(o options, name string, n int) (pids []int, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}
	for range n {
		cmd := exec.Command(self, "-child", name, "-dsn", o.dsn, "-schema", o.schema, "-tasks", strconv.Itoa(o.tasks),
			"-sleep", o.sleep.String(), "-worker-concurrency", strconv.Itoa(o.workerConcurrency), "-fetch-cooldown", o.cooldown.String())
		cmd.Env = append(os.Environ(), childEnv+"=1")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			stop()
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			stop()
			return nil, nil, err
		}
		cmds = append(cmds, cmd)
		pids = append(pids, cmd.Process.Pid)
		buf := make([]byte, 4096)
		var seen strings.Builder
		for !strings.Contains(seen.String(), "worker ready") {
			k, err := stderr.Read(buf)
			if err != nil {
				stop()
				return nil, nil, fmt.Errorf("worker did not start: %s", seen.String())
			}
			seen.Write(buf[:k])
		}
		go func() { _, _ = io.Copy(io.Discard, stderr) }()
	}
	return pids, stop, nil
}

// childEnv marks a worker process, for the test binary's TestMain.
const childEnv = "SLUICE_BENCH_RIVER_CHILD"

// cpuSplit is CPU time (user + system) by process.
type cpuSplit struct{ driver, worker, postgres time.Duration }

func (c *cpuSplit) add(d cpuSplit) {
	c.driver += d.driver
	c.worker += d.worker
	c.postgres += d.postgres
}

func (c cpuSplit) sub(d cpuSplit) cpuSplit {
	return cpuSplit{c.driver - d.driver, c.worker - d.worker, c.postgres - d.postgres}
}

func (c cpuSplit) total() time.Duration { return c.driver + c.worker + c.postgres }

// takeCPU reads the CPU time so far of this process, the workers and the PostgreSQL
// backends of the benchmark's connections, from /proc: the server must run on this
// machine. A backend that went away takes its time with it, so pools keep theirs open.
func takeCPU(ctx context.Context, pool *pgxpool.Pool, workers []int) (cpuSplit, error) {
	var c cpuSplit
	c.driver = procCPU(os.Getpid())
	for _, pid := range workers {
		c.worker += procCPU(pid)
	}
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, appName)
	if err != nil {
		return c, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return c, err
	}
	for _, pid := range pids {
		c.postgres += procCPU(int(pid))
	}
	return c, nil
}

// procCPU returns a process's user + system time from /proc/<pid>/stat, or 0.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux.
const clockTicks = 100
