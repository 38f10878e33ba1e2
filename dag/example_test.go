package dag_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

// A DAG with a fan-out and a fan-in: extract passes its rows to two branches through a
// typed Output, and report reads what both branches computed.
func Example() {
	orders := dag.NewOutput[[]int]("orders")
	total := dag.NewOutput[int]("total")
	largest := dag.NewOutput[int]("largest")
	d := dag.New("shop", dag.Config{Concurrency: 2})
	d.Task("extract", func(ctx context.Context, r *dag.Run) error {
		orders.Set(r, []int{12, 30, 8})
		r.AddRows(3)
		return nil
	})
	d.Task("total", func(ctx context.Context, r *dag.Run) error {
		rows, err := orders.Must(r)
		if err != nil {
			return err
		}
		sum := 0
		for _, v := range rows {
			sum += v
		}
		total.Set(r, sum)
		return nil
	}).After("extract")
	d.Task("largest", func(ctx context.Context, r *dag.Run) error {
		rows, err := orders.Must(r)
		if err != nil {
			return err
		}
		largest.Set(r, slices.Max(rows))
		return nil
	}).After("extract")
	d.Task("report", func(ctx context.Context, r *dag.Run) error {
		t, err := total.Must(r)
		if err != nil {
			return err
		}
		l, err := largest.Must(r)
		if err != nil {
			return err
		}
		fmt.Printf("total %d, largest %d\n", t, l)
		return nil
	}).After("total", "largest")

	rep, err := d.Run(context.Background(), etl.Window{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range rep.Tasks {
		fmt.Println(t.Name, t.Status, t.Rows)
	}
	// Output:
	// total 50, largest 30
	// extract success 3
	// total success 0
	// largest success 0
	// report success 0
}

// A failure marks what is downstream upstream_failed; an AllDone task still runs.
func ExampleTrigger() {
	d := dag.New("nightly", dag.Config{})
	d.Task("load", func(ctx context.Context, r *dag.Run) error { return errors.New("disk full") })
	d.Task("report", func(ctx context.Context, r *dag.Run) error { return nil }).After("load")
	d.Task("cleanup", func(ctx context.Context, r *dag.Run) error { return nil }).After("load").Trigger(dag.AllDone)
	d.Task("alert", func(ctx context.Context, r *dag.Run) error { return nil }).After("load").Trigger(dag.OneFailed)

	rep, err := d.Run(context.Background(), etl.Window{})
	fmt.Println(errors.Is(err, dag.ErrRunFailed))
	for _, t := range rep.Tasks {
		fmt.Println(t.Name, t.Status)
	}
	// Output:
	// true
	// load failed
	// report upstream_failed
	// cleanup success
	// alert success
}

func ExampleDAG_Mermaid() {
	d := dag.New("fanout", dag.Config{})
	d.Task("extract", nil)
	d.Task("transform_a", nil).After("extract")
	d.Task("transform_b", nil).After("extract")
	m, _ := d.Mermaid()
	fmt.Print(m)
	// Output:
	// flowchart LR
	//   t0["extract"]
	//   t1["transform_a"]
	//   t2["transform_b"]
	//   t0 --> t1
	//   t0 --> t2
}

func ExampleCycleError() {
	d := dag.New("loop", dag.Config{})
	d.Task("a", nil).After("c")
	d.Task("b", nil).After("a")
	d.Task("c", nil).After("b")
	fmt.Println(d.Validate())
	// Output:
	// dag "loop": dependency cycle: a -> b -> c -> a
}

// Backfill a week; a second backfill skips the windows that already succeeded.
func ExampleDAG_Backfill() {
	d := dag.New("daily", dag.Config{Every: 24 * time.Hour})
	d.Task("load", func(ctx context.Context, r *dag.Run) error { return nil })
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	br, _ := d.Backfill(ctx, from, from.AddDate(0, 0, 7), 0, dag.BackfillOptions{Parallel: 3})
	fmt.Println(br.Count(dag.StatusSuccess), "windows ran")
	br, _ = d.Backfill(ctx, from, from.AddDate(0, 0, 8), 0, dag.BackfillOptions{DryRun: true})
	for _, w := range br.Windows[6:] {
		fmt.Println(w.Window.Start.Format("Jan 2"), w.Run, strings.Fields(w.Reason)[0])
	}
	// Output:
	// 7 windows ran
	// Jan 7 false succeeded
	// Jan 8 true never
}

// A SQL task runs a summary in the warehouse over the run's window. Here the Execer
// only prints; in a program it comes from sinks/postgres or dag/pgstore.
func ExampleSQL() {
	wh := dag.ExecFunc(func(ctx context.Context, sql string, args ...any) (int64, error) {
		fmt.Println(strings.Join(strings.Fields(sql), " "))
		fmt.Println(args[0].(time.Time).Format(time.DateOnly), args[1].(time.Time).Format(time.DateOnly))
		return 42, nil
	})
	d := dag.New("summary", dag.Config{})
	d.Task("daily_sales", dag.SQL(wh, `
		INSERT INTO daily_sales SELECT day, sum(amount) FROM orders
		WHERE day >= $1 AND day < $2 GROUP BY day`, dag.WindowStart, dag.WindowEnd))
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rep, _ := d.Run(context.Background(), etl.Window{Start: day, End: day.AddDate(0, 0, 1)})
	fmt.Println(rep.Tasks[0].Rows, "rows")
	// Output:
	// INSERT INTO daily_sales SELECT day, sum(amount) FROM orders WHERE day >= $1 AND day < $2 GROUP BY day
	// 2026-03-01 2026-03-02
	// 42 rows
}

// MainArgs is what dag.Main runs; here it prints the graph in DOT.
func ExampleMainArgs() {
	d := dag.New("fanout", dag.Config{})
	d.Task("extract", nil)
	d.Task("transform_a", nil).After("extract")
	code := dag.MainArgs(context.Background(), d, []string{"graph", "--format", "dot"}, os.Stdout, os.Stderr)
	fmt.Println("exit", code)
	// Output:
	// digraph "fanout" {
	//   rankdir=LR;
	//   node [shape=box];
	//   "extract";
	//   "transform_a";
	//   "extract" -> "transform_a";
	// }
	// exit 0
}
