package etl

// ParentRun names the run that started a run, such as the DAG run whose task runs a
// pipeline. Lineage observers link the two (OpenLineage's parent run facet).
type ParentRun struct {
	// RunID is the parent run's ID, a UUID.
	RunID string
	// Namespace is the parent job's namespace. Defaults to the observer's own.
	Namespace string
	// Job is the parent job's name, such as the DAG's.
	Job string
}
