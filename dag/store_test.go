package dag_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/dagtest"
	"github.com/sluice-etl/sluice/etl"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	dagtest.ExerciseStore(t, func(t *testing.T) dag.Store { return dag.NewMemoryStore() })
}

func TestMemoryStoreZeroValue(t *testing.T) {
	t.Parallel()
	dagtest.ExerciseStore(t, func(t *testing.T) dag.Store { return new(dag.MemoryStore) })
}

// TestMemoryStoreCopies changes every part of the reports it saved and got back: the
// stored run stays as saved.
func TestMemoryStoreCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dag.NewMemoryStore()
	rep := &dag.Report{RunID: "r", DAG: "d", Status: dag.StatusFailed, Tasks: []dag.TaskReport{{
		Name: "b", Upstream: []string{"a"}, Status: dag.StatusFailed,
		Checks: []etl.CheckResult{{Name: "unique", Passed: false}},
	}}}
	require.NoError(t, s.SaveRun(ctx, rep))
	scribble := func(r *dag.Report) {
		r.Status = dag.StatusSuccess
		r.Tasks[0].Status = dag.StatusSuccess
		r.Tasks[0].Upstream[0] = "x"
		r.Tasks[0].Checks[0].Passed = true
	}
	scribble(rep)
	got, err := s.LoadRun(ctx, "r")
	require.NoError(t, err)
	scribble(got)
	runs, err := s.Runs(ctx, dag.Query{})
	require.NoError(t, err)
	scribble(runs[0])

	got, err = s.LoadRun(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, dag.StatusFailed, got.Status)
	require.Equal(t, dag.StatusFailed, got.Tasks[0].Status)
	require.Equal(t, []string{"a"}, got.Tasks[0].Upstream)
	require.False(t, got.Tasks[0].Checks[0].Passed)
}

// A store without MarkAbandoned gets its abandoned runs marked through Runs and SaveRun.
func TestAbandonedRunsOfAPlainStore(t *testing.T) {
	t.Parallel()
	s := plainStore{dag.NewMemoryStore()} // hides the optional methods
	_, ok := dag.Store(s).(dag.Abandoner)
	require.False(t, ok)
	dagtest.Abandoned(t, s)
}
