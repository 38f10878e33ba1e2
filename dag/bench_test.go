package dag_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

// randomDAG declares n no-op tasks, each after a random set of earlier tasks: 0 to 6,
// 3 on average.
func randomDAG(n int, cfg dag.Config) *dag.DAG {
	rng := rand.New(rand.NewPCG(1, 2))
	d := dag.New("bench", cfg)
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprint("t", i)
		t := d.Task(names[i], noop)
		if i == 0 {
			continue
		}
		for range rng.IntN(7) {
			t.After(names[rng.IntN(i)])
		}
	}
	return d
}

// BenchmarkRunner10k measures the runner's own cost per task on a DAG of 10,000 no-op
// tasks with random dependencies (average fan-in 3): building the graph, scheduling,
// the report and saving it to the in-memory store. It reports wall time per task, which
// is the target, and CPU time per task, which stays comparable on a busy machine.
func BenchmarkRunner10k(b *testing.B) {
	const n = 10_000
	d := randomDAG(n, dag.Config{Concurrency: runtime.GOMAXPROCS(0)})
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		rep, err := d.Run(ctx, etl.Window{})
		if err != nil || rep.Count(dag.StatusSuccess) != n {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/task")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/task")
	}
}

// TestRandomDAGOrder checks, on random graphs, that every task starts after each of its
// upstream tasks has ended, and that every task runs exactly once.
func TestRandomDAGOrder(t *testing.T) {
	t.Parallel()
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 7))
		rec := newRecorder()
		d := dag.New("random", dag.Config{Concurrency: 1 + rng.IntN(8)})
		const n = 300
		// Tasks are declared in an order unrelated to the graph's, so a runner that
		// ignored an edge would start tasks out of order. The edges are checked as
		// declared, not as the runner reads them back.
		perm := rng.Perm(n) // perm[k] is the task at topological position k
		tasks := make([]*dag.Task, n)
		for i := range n {
			tasks[i] = d.Task(fmt.Sprint("t", i), rec.task(noop))
		}
		var edges [][2]string
		for k := 1; k < n; k++ {
			down := tasks[perm[k]]
			for range rng.IntN(5) {
				up := tasks[perm[rng.IntN(k)]]
				edges = append(edges, [2]string{up.Name(), down.Name()})
				// Half the edges are declared from the upstream side.
				if rng.IntN(2) == 0 {
					down.After(up.Name())
				} else {
					up.Before(down.Name())
				}
			}
		}
		rep, err := d.Run(context.Background(), etl.Window{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.starts) != n || rep.Count(dag.StatusSuccess) != n {
			t.Fatalf("seed %d: %d tasks started, %d succeeded, want %d", seed, len(rec.starts), rep.Count(dag.StatusSuccess), n)
		}
		if len(edges) < n {
			t.Fatalf("seed %d: only %d edges", seed, len(edges))
		}
		for _, e := range edges {
			if rec.ends[e[0]] >= rec.starts[e[1]] {
				t.Fatalf("seed %d: %s started before %s ended", seed, e[1], e[0])
			}
		}
	}
}
