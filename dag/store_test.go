package dag_test

import (
	"testing"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/dagtest"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	dagtest.ExerciseStore(t, func(t *testing.T) dag.Store { return dag.NewMemoryStore() })
}

func TestMemoryStoreZeroValue(t *testing.T) {
	t.Parallel()
	dagtest.ExerciseStore(t, func(t *testing.T) dag.Store { return new(dag.MemoryStore) })
}
