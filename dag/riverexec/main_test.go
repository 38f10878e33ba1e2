package riverexec_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/dag/riverexec"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
	pgsource "github.com/sluice-etl/sluice/sources/postgres"
)

// The test binary doubles as the program under test: with mainEnv set, TestMain runs
// dag.Main on the DAG named by dagEnv, so the tests start workers and `run` commands as
// separate processes without building anything.
const (
	mainEnv   = "RIVEREXEC_TEST_MAIN"
	dagEnv    = "RIVEREXEC_TEST_DAG"    // which DAG to declare
	dsnEnv    = "RIVEREXEC_TEST_DSN"    // the test schema's connection string
	schemaEnv = "RIVEREXEC_TEST_SCHEMA" // the test schema
	workerEnv = "RIVEREXEC_TEST_WORKER" // the worker's ID
	slowEnv   = "RIVEREXEC_TEST_SLOW"   // extract sleeps this long per 1,000 rows
	holdEnv   = "RIVEREXEC_TEST_HOLD"   // extract first waits for this advisory lock key
)

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		d, closeFn := declare(os.Getenv(dagEnv), os.Getenv(dsnEnv), os.Getenv(schemaEnv))
		code := dag.MainArgs(signalContext(), d, os.Args[1:], os.Stdout, os.Stderr)
		closeFn()
		os.Exit(code)
	}
	pgtest.Main(m) // says, once, when database tests skipped and how to run them
}

// execConfig is the executor's configuration in tests: quick checks, so that a killed
// worker is noticed in a fraction of a second rather than in one.
func execConfig() riverexec.Config {
	return riverexec.Config{
		CheckInterval: 100 * time.Millisecond,
		CancelGrace:   5 * time.Second,
		WorkerID:      os.Getenv(workerEnv),
	}
}

// declare builds the named test DAG on a pool of its own. Every DAG's store and queue
// live in the test schema.
func declare(name, dsn, schema string) (*dag.DAG, func()) {
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		panic(err)
	}
	pcfg.MaxConns = 40 // each running pipeline holds a connection to load and one to read
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		panic(err)
	}
	cfg := dag.Config{
		Concurrency: 8,
		Retries:     2,
		RetryDelay:  10 * time.Millisecond,
		Every:       24 * time.Hour,
		Start:       time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Now:         func() time.Time { return time.Date(2026, 1, 4, 1, 0, 0, 0, time.UTC) },
		OpenStore: func(ctx context.Context, dsn string) (dag.Store, error) {
			return pgstore.OpenConfig(ctx, dsn, pgstore.Config{Schema: schema})
		},
		Queues: map[string]dag.OpenQueue{"river": riverexec.Open(execConfig())},
	}
	var d *dag.DAG
	switch name {
	case "fan":
		d = fanDAG(pool, cfg)
	case "kill":
		d = killDAG(pool, cfg)
	default:
		panic("unknown test DAG " + name)
	}
	return d, pool.Close
}

var rawSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64},
	{Name: "grp", Type: etl.TypeInt64},
	{Name: "amount", Type: etl.TypeInt64},
	{Name: "day", Type: etl.TypeText},
}

// extract generates n rows for the run's window, deterministically; with slowEnv set it
// sleeps as it goes, so that a test can kill the worker in the middle of the COPY.
func extract(n int) etl.ExtractFunc {
	return func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
		day := "all"
		if !run.Window.IsZero() {
			day = run.Window.Start.Format(time.DateOnly)
		}
		slow, _ := time.ParseDuration(os.Getenv(slowEnv))
		return etl.Stream{Schema: rawSchema, Rows: func(yield func(etl.Row, error) bool) {
			for i := range int64(n) {
				if slow > 0 && i%1000 == 0 {
					select {
					case <-ctx.Done():
						yield(nil, ctx.Err())
						return
					case <-time.After(slow):
					}
				}
				if !yield(etl.Row{i, i % groups, (i * 7919) % 1000, day}, nil) {
					return
				}
			}
		}}, nil
	}
}

const groups = 24

// held makes e wait, with holdEnv set, until it can take the advisory lock holdEnv names,
// which a test holds to keep a run in the middle of its load for as long as it needs.
func held(pool *pgxpool.Pool, e etl.ExtractFunc) etl.ExtractFunc {
	return func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
		if key := os.Getenv(holdEnv); key != "" {
			if _, err := pool.Exec(ctx, `SELECT pg_advisory_lock($1::bigint), pg_advisory_unlock($1::bigint)`, key); err != nil {
				return etl.Stream{}, err
			}
		}
		return e(ctx, run)
	}
}

func target(pool *pgxpool.Pool, table string, key ...string) postgres.Target {
	return postgres.Target{Pool: pool, Table: table, Create: true, Key: key}
}

func query(pool *pgxpool.Pool, name, sql string) *pgsource.Source {
	s, err := pgsource.New(pool, pgsource.Config{Query: sql, QueryName: name})
	if err != nil {
		panic(err)
	}
	return s
}

// fanDAG has 50 tasks: extract loads raw, 24 part_i tasks fan out over its groups, each
// followed by a sum_i, and total fans in over every sum. Data passes through tables only.
func fanDAG(pool *pgxpool.Pool, cfg dag.Config) *dag.DAG {
	d := dag.New("fan", cfg)
	d.Pipeline(&etl.Pipeline{Name: "extract", Source: extract(5000),
		Sink: &postgres.FullRefresh{Target: target(pool, "raw", "id")}})
	var sums []string
	for g := range groups {
		part, sum := fmt.Sprintf("part_%02d", g), fmt.Sprintf("sum_%02d", g)
		d.Pipeline(&etl.Pipeline{Name: part,
			Source: query(pool, part, fmt.Sprintf(`SELECT id, amount * 2 AS amount, day FROM raw WHERE grp = %d`, g)),
			Sink:   &postgres.FullRefresh{Target: target(pool, part, "id")},
		}).After("extract")
		d.Pipeline(&etl.Pipeline{Name: sum,
			Source: query(pool, sum, fmt.Sprintf(`SELECT %d::bigint AS grp, count(*) AS n, sum(amount)::bigint AS total FROM %s`, g, part)),
			Sink:   &postgres.FullRefresh{Target: target(pool, sum, "grp")},
		}).After(part)
		sums = append(sums, sum)
	}
	var union []string
	for _, s := range sums {
		union = append(union, "SELECT grp, n, total FROM "+s)
	}
	d.Pipeline(&etl.Pipeline{Name: "total",
		Source: query(pool, "total", `SELECT 1::bigint AS k, count(*) AS parts, sum(n)::bigint AS n, sum(total)::bigint AS total FROM (`+
			strings.Join(union, " UNION ALL ")+`) s`),
		Sink: &postgres.FullRefresh{Target: target(pool, "total", "k")},
	}).After(sums...)
	return d
}

// killDAG is a load worth killing a worker in: extract writes 20,000 rows slowly (see
// slowEnv), then check reads them back.
func killDAG(pool *pgxpool.Pool, cfg dag.Config) *dag.DAG {
	d := dag.New("kill", cfg)
	d.Pipeline(&etl.Pipeline{Name: "extract", Source: held(pool, extract(20000)),
		Sink: &postgres.FullRefresh{Target: target(pool, "raw", "id")}}).Retries(3)
	d.Pipeline(&etl.Pipeline{Name: "check",
		Source: query(pool, "check", `SELECT count(*) AS n, sum(amount)::bigint AS total FROM raw`),
		Sink:   &postgres.FullRefresh{Target: target(pool, "raw_check", "n")},
	}).After("extract")
	return d
}

// cluster is a test schema and the processes that run against it.
type cluster struct {
	t   *testing.T
	db  *pgtest.DB
	dag string

	mu      sync.Mutex
	workers map[string]*proc
}

func newCluster(t *testing.T, dagName string) *cluster {
	t.Helper()
	c := &cluster{t: t, db: pgtest.New(t), dag: dagName, workers: map[string]*proc{}}
	t.Cleanup(c.stopAll)
	r := c.run(nil, "migrate")
	require.Equal(t, 0, r.code, r.stderr)
	return c
}

func (c *cluster) env(extra []string) []string {
	self := []string{mainEnv + "=1", dagEnv + "=" + c.dag, dsnEnv + "=" + c.db.URL, schemaEnv + "=" + c.db.Schema,
		dag.StoreEnv + "=" + c.db.URL, dag.ExecutorEnv + "=river",
		// Under -race a process sleeps 1 s at exit (atexit_sleep_ms) unless told not to.
		"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
	return slices.Concat(os.Environ(), self, extra)
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the program to its end.
func (c *cluster) run(env []string, args ...string) result {
	c.t.Helper()
	self, err := os.Executable()
	require.NoError(c.t, err)
	cmd := exec.Command(self, args...)
	cmd.Env = c.env(env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.t.Fatalf("run %v: %v", args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// proc is a program running in the background.
type proc struct {
	cmd    *exec.Cmd
	id     string
	stderr *lockedBuffer
	done   chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startWorker starts a worker process with the given ID and returns once it takes
// attempts.
func (c *cluster) startWorker(id string, env ...string) *proc {
	c.t.Helper()
	self, err := os.Executable()
	require.NoError(c.t, err)
	cmd := exec.Command(self, "worker", "--grace", "5s", "--log-level", "debug")
	cmd.Env = c.env(append(env, workerEnv+"="+id))
	p := &proc{cmd: cmd, id: id, stderr: &lockedBuffer{}, done: make(chan struct{})}
	pipe, err := cmd.StderrPipe()
	require.NoError(c.t, err)
	require.NoError(c.t, cmd.Start())
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			_, _ = io.WriteString(p.stderr, line+"\n")
			if strings.Contains(line, "worker taking attempts") {
				once.Do(func() { close(ready) })
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
	case <-p.done:
		c.t.Fatalf("worker %s exited: %s", id, p.stderr.String())
	case <-time.After(30 * time.Second):
		c.t.Fatalf("worker %s did not start: %s", id, p.stderr.String())
	}
	c.mu.Lock()
	c.workers[id] = p
	c.mu.Unlock()
	return p
}

func (c *cluster) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.workers {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func signalContext() context.Context {
	ctx, _ := signalNotify()
	return ctx
}

// tableDump returns a table's rows as text, sorted, for comparing two schemas.
func tableDump(t *testing.T, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT t::text FROM `+table+` t ORDER BY 1`)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}
