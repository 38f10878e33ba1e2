package sinks

import (
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// RunRecord is one row of a sink's sluice_runs table: what one load did, or why it
// failed. Every sink's State.Runs returns its history as RunRecords, newest first.
type RunRecord struct {
	// RunID is the run's etl.Run ID.
	RunID string
	// Pipeline is the pipeline's name.
	Pipeline string
	// Mode is "full_refresh", "merge" or "window_replace".
	Mode string
	// Target is the loaded table, as schema.table or table.
	Target string
	// Window is the run's data interval; zero for all data.
	Window etl.Window
	// Status is "success" or "failed".
	Status string
	// Step names the step that failed ("extract", "stage", "check", ...), and Error is its
	// message; both are empty after a success.
	Step, Error string
	// Stats counts what the run read, rejected, filtered, wrote and deleted; its Duration
	// is Finished - Started.
	Stats etl.Stats
	// Loaded counts the rows the database received in the stage step.
	Loaded int64
	// Checks holds every check's result, passed or not.
	Checks []etl.CheckResult
	// Rejects holds the first rejected records, as messages.
	Rejects []string
	// Watermark is the text of the watermark stored by a successful run, or "".
	Watermark string
	// Attempts counts the load's transaction attempts; 0 for a run that failed before
	// its load began.
	Attempts int
	// Owner is the pipeline's business owner (etl.Meta.Owner).
	Owner string
	// Started and Finished bound the run.
	Started, Finished time.Time
}
