package etl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Pipeline wires a source, optional transforms and a sink into one runnable unit.
type Pipeline struct {
	// Name identifies the pipeline in locks, state, run records and logs. Required.
	Name string
	// Meta documents the pipeline: owner, description, lineage.
	Meta Meta
	// Source reads the input. Required.
	Source Extractor
	// Transforms are applied in order between source and sink.
	Transforms []Transformer
	// Sink writes the output. Required.
	Sink Loader
	// AllowEmpty lets a full refresh that read no rows empty the target. Defaults to false:
	// such a run fails with [ErrEmpty] and the target keeps its rows.
	AllowEmpty bool
	// Logger receives the run's logs: its start and end, each check's result, and a
	// progress line (rows, rows/s) every ProgressEvery while a sink loads. Defaults to
	// discarding them.
	Logger *slog.Logger
	// Observer receives the run's events. Defaults to none.
	Observer Observer
	// ProgressEvery is the interval between progress events (and progress log lines) on a
	// long load. Defaults to [DefaultProgressEvery].
	ProgressEvery time.Duration
	// CleanupTimeout bounds the cleanup after the run's context is cancelled: the sink's
	// rollback, the release of its lock and the failed-run record. Defaults to
	// [DefaultCleanupTimeout].
	CleanupTimeout time.Duration
}

// Result is what one [Pipeline.Run] did.
type Result struct {
	RunID  string
	Window Window
	Stats  Stats
	// Checks holds every check's result, passed or not.
	Checks []CheckResult
	// Rejects holds the first rejected records, if the source allowed any.
	Rejects []Reject
}

// FailureRecorder is implemented by sinks that keep run history. When a run fails before
// the sink's Load is reached (the source could not be opened, say), [Pipeline.Run] calls
// RecordFailure so that the failure still leaves a record.
type FailureRecorder interface {
	RecordFailure(ctx context.Context, run *Run, stats Stats, err error) error
}

// ErrNotRecorded is matched by the error of a failed run whose failed-run record could not
// be written, such as when the database stopped answering: the run's history then lacks
// its post-mortem. Test for it with errors.Is.
var ErrNotRecorded = errors.New("its failed-run record could not be written")

// StepError wraps an error with the step of the run that failed: "extract", "transform",
// "lock", "stage", "apply", "check", "state" or "commit". Run records name it.
type StepError struct {
	Step string
	Err  error
}

// Error implements the error interface.
func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *StepError) Unwrap() error { return e.Err }

// Step returns the step named by the outermost [StepError] in err's chain, or "".
func Step(err error) string {
	var se *StepError
	if errors.As(err, &se) {
		return se.Step
	}
	return ""
}

// WithStep wraps err in a [StepError] unless it already carries a step.
func WithStep(step string, err error) error {
	if err == nil || Step(err) != "" {
		return err
	}
	return &StepError{Step: step, Err: err}
}

// Validate reports a pipeline that lacks a name, a source or a sink.
func (p *Pipeline) Validate() error {
	switch {
	case p.Name == "":
		return errors.New("etl: pipeline has no name")
	case p.Source == nil:
		return fmt.Errorf("etl: pipeline %q has no source", p.Name)
	case p.Sink == nil:
		return fmt.Errorf("etl: pipeline %q has no sink", p.Name)
	}
	return nil
}

// Lineage returns the pipeline's inputs and outputs: those declared in Meta followed by
// those the source and sink report through [Lineage].
func (p *Pipeline) Lineage() (inputs, outputs []Dataset) {
	inputs = append(inputs, p.Meta.Inputs...)
	outputs = append(outputs, p.Meta.Outputs...)
	if l, ok := p.Source.(Lineage); ok {
		inputs = append(inputs, l.Datasets()...)
	}
	if l, ok := p.Sink.(Lineage); ok {
		outputs = append(outputs, l.Datasets()...)
	}
	return inputs, outputs
}

// Run executes the pipeline once over window w (the zero Window for all data). It streams
// rows from the source through the transforms into the sink, which loads them atomically.
// The source's declared Cursor and Deleted (see [Stream]) reach the sink through every
// transform whose output declares nothing of its own.
func (p *Pipeline) Run(ctx context.Context, w Window) (Result, error) {
	return p.RunWith(ctx, &Run{Pipeline: p.Name, Window: w})
}

// RunWith is [Pipeline.Run] with a Run the caller made, for a caller that needs to choose
// the run ID or observe the counters while the run goes on. Fields of run left zero are
// filled from the pipeline.
func (p *Pipeline) RunWith(ctx context.Context, run *Run) (res Result, err error) {
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	if err := run.Window.Validate(); err != nil {
		return Result{}, fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	if run.ID == "" {
		run.ID = NewRunID()
	}
	if run.Pipeline == "" {
		run.Pipeline = p.Name
	}
	if run.Started.IsZero() {
		run.Started = time.Now()
	}
	if run.Logger == nil {
		run.Logger = p.Logger
	}
	if run.Logger == nil {
		run.Logger = slog.New(slog.DiscardHandler)
	}
	if run.Observer == nil {
		run.Observer = p.Observer
	}
	if run.ProgressEvery == 0 {
		run.ProgressEvery = p.ProgressEvery
	}
	if run.CleanupTimeout == 0 {
		run.CleanupTimeout = p.CleanupTimeout
	}
	run.AllowEmpty = run.AllowEmpty || p.AllowEmpty
	// The datasets the source and the sink report, which take their columns from the
	// streams once these are known, for lineage's schema facets.
	var fromSource, fromSink []Dataset
	if run.Meta.Owner == "" && run.Meta.Description == "" && len(run.Meta.Inputs) == 0 && len(run.Meta.Outputs) == 0 {
		run.Meta = p.Meta
		run.Meta.Inputs, run.Meta.Outputs = p.Lineage()
		fromSource = run.Meta.Inputs[len(p.Meta.Inputs):]
		fromSink = run.Meta.Outputs[len(p.Meta.Outputs):]
	}

	res = Result{RunID: run.ID, Window: run.Window}
	run.Emit(ctx, Event{Kind: EventStart, Stats: run.Stats()})
	log := run.Log().With(slog.String("pipeline", p.Name), slog.String("run_id", run.ID))

	defer func() {
		res.Stats.Duration = time.Since(run.Started)
		res.Rejects = run.Rejects()
		if err != nil {
			err = fmt.Errorf("pipeline %q: %w", p.Name, cancelled(ctx, err))
			run.Emit(ctx, Event{Kind: EventFail, Stats: res.Stats, Err: err})
			return
		}
		run.Emit(ctx, Event{Kind: EventComplete, Stats: res.Stats})
	}()

	fail := func(step string, err error) (Result, error) {
		err = WithStep(step, err)
		res.Stats = run.Stats()
		if fr, ok := p.Sink.(FailureRecorder); ok {
			cctx, cancel := run.CleanupContext(ctx)
			rerr := fr.RecordFailure(cctx, run, res.Stats, err)
			cancel()
			if rerr != nil {
				log.Warn("could not record the failed run", slog.Any("error", rerr))
				err = notRecorded(err, rerr)
			}
		}
		return res, err
	}

	extract := p.Source.Extract
	if le, ok := p.Source.(LendingExtractor); ok && len(p.Transforms) == 0 {
		// Rows that go straight to a sink that keeps none of them may reuse their memory.
		if _, ok := p.Sink.(BorrowingLoader); ok {
			extract = le.ExtractLent
		}
	}
	in, err := extract(ctx, run)
	if err != nil {
		return fail("extract", err)
	}
	noteSchema(fromSource, in.Schema)
	in = countRead(run, in)
	for i, t := range p.Transforms {
		out, err := t.Transform(ctx, run, in)
		if err != nil {
			return fail("transform", fmt.Errorf("transform %d: %w", i+1, err))
		}
		// A transform that builds a new stream rarely thinks of the source's declaration;
		// dropping it would turn the source's soft deletes into upserted rows.
		in = out.declare(in)
	}
	noteSchema(fromSink, in.Schema)
	lr, err := p.Sink.Load(ctx, run, in)
	res.Stats = run.Stats()
	res.Stats.RowsWritten, res.Stats.RowsDeleted = lr.RowsWritten, lr.RowsDeleted
	res.Checks = lr.Checks
	return res, err
}

// cancelled makes err match ctx's error when ctx ended while the run failed: a statement
// cut short by a cancellation can fail with a network error ("use of closed network
// connection"), and a caller must still be able to tell a cancelled run with
// errors.Is(err, context.Canceled).
func cancelled(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	if cause := context.Cause(ctx); cause != cerr && !errors.Is(err, cause) {
		return fmt.Errorf("%w (%w: %w)", err, cerr, cause)
	}
	return fmt.Errorf("%w (%w)", err, cerr)
}

// notRecorded returns runErr with a note that its failed-run record could not be written
// because of recordErr. The result matches runErr and [ErrNotRecorded] for errors.Is,
// and keeps runErr's step; recordErr is kept as text only, so that a record that timed
// out does not make the run look timed out.
func notRecorded(runErr, recordErr error) error {
	return fmt.Errorf("%w (%w: %v)", runErr, ErrNotRecorded, recordErr)
}

// noteSchema gives datasets that do not know their columns those of the stream.
func noteSchema(ds []Dataset, schema Schema) {
	for i := range ds {
		if len(ds[i].Schema) == 0 {
			ds[i].Schema = schema
		}
	}
}

// countRead counts the rows a stream yields as read, and marks its errors as the extract
// step's.
func countRead(run *Run, in Stream) Stream {
	rows := in.Rows
	in.Rows = func(yield func(Row, error) bool) {
		var n int64
		defer func() { run.AddRead(n) }()
		for row, err := range rows {
			if err != nil {
				yield(nil, WithStep("extract", err))
				return
			}
			n++
			if n&1023 == 0 {
				run.AddRead(n)
				n = 0
			}
			if !yield(row, nil) {
				return
			}
		}
	}
	return in
}
