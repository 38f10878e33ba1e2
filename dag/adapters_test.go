package dag_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

func TestPipelineTask(t *testing.T) {
	t.Parallel()
	nums := dag.NewOutput[[]int64]("nums")
	schema := etl.Schema{{Name: "n", Type: etl.TypeInt64}}
	var loaded []int64
	var runIDs []string
	p := &etl.Pipeline{
		Name: "evens",
		Meta: etl.Meta{Owner: "ops", Inputs: []etl.Dataset{{Namespace: "mem", Name: "nums"}}},
		Source: etl.ExtractFunc(func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
			r, ok := dag.FromContext(ctx)
			if !ok {
				return etl.Stream{}, errors.New("no dag run in context")
			}
			ns, err := nums.Must(r)
			if err != nil {
				return etl.Stream{}, err
			}
			rows := make([]etl.Row, len(ns))
			for i, n := range ns {
				rows[i] = etl.Row{n}
			}
			return etl.SliceStream(schema, rows), nil
		}),
		Transforms: []etl.Transformer{etl.Filter(func(r etl.Row) bool { return r[0].(int64)%2 == 0 })},
		Sink: etl.LoadFunc(func(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
			runIDs = append(runIDs, run.ID)
			rows, err := etl.Collect(in)
			for _, r := range rows {
				loaded = append(loaded, r[0].(int64))
			}
			check := etl.CheckResult{Name: "row_count", Passed: len(rows) == 2, Expected: "2", Found: "2"}
			return etl.LoadResult{RowsWritten: int64(len(rows)), Checks: []etl.CheckResult{check}}, err
		}),
	}
	d := dag.New("pipe", dag.Config{})
	d.Task("produce", func(ctx context.Context, r *dag.Run) error { nums.Set(r, []int64{1, 2, 3, 4}); return nil })
	task := d.Pipeline(p).After("produce")
	require.Equal(t, "evens", task.Name())
	require.Equal(t, "ops", task.Meta().Owner)
	require.Equal(t, []etl.Dataset{{Namespace: "mem", Name: "nums"}}, task.Meta().Inputs)

	rep, err := d.Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	require.Equal(t, []int64{2, 4}, loaded)
	tr := rep.Task("evens")
	require.EqualValues(t, 2, tr.Rows)
	require.Len(t, tr.Checks, 1)
	require.Len(t, runIDs, 1)
	require.NotEqual(t, rep.RunID, runIDs[0], "each pipeline attempt has its own run ID")

	// A failing pipeline names its step in the report.
	bad := dag.New("bad", dag.Config{})
	bad.Task("p", dag.Pipeline(&etl.Pipeline{
		Name: "broken",
		Source: etl.ExtractFunc(func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
			return etl.Stream{}, errors.New("cannot open")
		}),
		Sink: p.Sink,
	}))
	rep, err = bad.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Equal(t, "extract", rep.Tasks[0].Step)
	require.Contains(t, rep.Tasks[0].Error, "cannot open")
}

// trim stands for a retention job of another package: a value with a Run method.
type trim struct {
	rows int64
	err  error
}

type trimResult struct{ Deleted int64 }

func (r trimResult) RowsAffected() int64 { return r.Deleted }

func (t trim) Run(context.Context) (trimResult, error) { return trimResult{Deleted: t.rows}, t.err }

// sweep's result counts nothing.
type sweep struct{ ran *bool }

func (s sweep) Run(context.Context) (string, error) { *s.ran = true; return "swept", nil }

func TestJobAndFuncTasks(t *testing.T) {
	t.Parallel()
	var swept, called bool
	d := dag.New("cleanup", dag.Config{})
	d.Task("trim", dag.Job(trim{rows: 7}))
	d.Task("sweep", dag.Job(sweep{ran: &swept}))
	d.Task("func", dag.Func(func(context.Context) error { called = true; return nil })).After("trim")
	rep, err := d.Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	require.True(t, swept)
	require.True(t, called)
	rows := map[string]int64{}
	for _, tr := range rep.Tasks {
		rows[tr.Name] = tr.Rows
	}
	require.Equal(t, map[string]int64{"trim": 7, "sweep": 0, "func": 0}, rows)

	failing := dag.New("cleanup", dag.Config{})
	failing.Task("trim", dag.Job(trim{rows: 3, err: errors.New("disk full")}))
	rep, err = failing.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Contains(t, rep.Tasks[0].Error, "disk full")
	require.Equal(t, int64(3), rep.Tasks[0].Rows, "a failed job still counts what it committed")
}
