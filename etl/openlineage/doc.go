// Package openlineage emits OpenLineage run events (spec 2-0-2) for sluice runs, so that a
// lineage server such as Marquez learns which datasets each pipeline reads and writes.
//
// # Events
//
// An [Emitter] is an [etl.Observer]. It turns a run's START, COMPLETE and FAIL events into
// RunEvent JSON documents: eventType, eventTime, run.runId, the job's namespace and name,
// the inputs and outputs, and the producer and schemaURL fields, with these facets:
//
//   - schema, on a dataset whose columns are known (a source or sink's dataset takes the
//     columns of the stream it reads or writes);
//   - outputStatistics (rowCount, the rows written), on each output of a COMPLETE event;
//   - dataQualityAssertions, on each output of a COMPLETE or FAIL event: every check the
//     run made and whether it passed;
//   - parent, on the run of a pipeline started by another run (etl.Run.Parent, which
//     package dag sets to the DAG run);
//   - errorMessage, on the run of a FAIL event;
//   - documentation and ownership, on the job, from the pipeline's Meta.
//
// Datasets are named by their sources and sinks after OpenLineage's naming spec:
// "postgres://{host}:{port}" with "{database}.{schema}.{table}",
// "redshift://{cluster}.{region}:{port}" with "{database}.{schema}.{table}", "file" with
// an absolute path, "s3://{bucket}" with a key. Each facet names the published schema it
// follows; the tests validate every event against copies of those schemas. Progress
// events are not lineage and are ignored.
//
// # Transports
//
// Events go to an io.Writer as JSON lines ([NewWriter], for a file or stdout) or are POSTed
// to a lineage endpoint ([NewHTTP]). The HTTP transport sends from a goroutine with a
// bounded queue: an unreachable server never fails or slows a load; its errors are logged
// and the events dropped. Call [Emitter.Close] before exit to flush.
package openlineage
