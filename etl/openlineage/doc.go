// Package openlineage emits OpenLineage run events (spec 2-0-2) for sluice runs, so that a
// lineage server such as Marquez learns which datasets each pipeline reads and writes.
//
// # Events
//
// An [Emitter] is an [etl.Observer]. It turns a run's START, COMPLETE and FAIL events into
// RunEvent JSON documents: eventType, eventTime, run.runId, the job's namespace and name,
// the inputs and outputs with a schema facet where the columns are known, and the producer
// and schemaURL fields. A FAIL event carries the error in an errorMessage run facet.
// Progress and check events are not lineage and are ignored.
//
// # Transports
//
// Events go to an io.Writer as JSON lines ([NewWriter], for a file or stdout) or are POSTed
// to a lineage endpoint ([NewHTTP]). The HTTP transport sends from a goroutine with a
// bounded queue: an unreachable server never fails or slows a load; its errors are logged
// and the events dropped. Call [Emitter.Close] before exit to flush.
package openlineage
