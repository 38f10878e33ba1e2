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

func TestRandomDAGRuns(t *testing.T) {
	t.Parallel()
	d := randomDAG(2000, dag.Config{Concurrency: 8})
	rep, err := d.Run(context.Background(), etl.Window{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Count(dag.StatusSuccess); got != 2000 {
		t.Fatalf("%d tasks succeeded, want 2000", got)
	}
}
