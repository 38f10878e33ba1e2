package etl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultProgressEvery is how often a long load reports progress unless the run says
// otherwise.
const DefaultProgressEvery = 10 * time.Second

// DefaultCleanupTimeout is how long the cleanup after a cancelled run may take unless the
// run says otherwise: rolling back, releasing the pipeline's lock, writing the failed-run
// record.
const DefaultCleanupTimeout = 5 * time.Second

// maxKeptRejects bounds the rejects a Run keeps for its record; all are counted.
const maxKeptRejects = 100

// Run is one execution of a pipeline. Every stage of the pipeline receives the same *Run.
// Its counters are safe for concurrent use.
type Run struct {
	// ID is unique per run; sinks key their run records by it.
	ID string
	// Pipeline is the pipeline's name; sinks key their lock and state by it.
	Pipeline string
	// Window is the data interval of the run; zero means all data.
	Window Window
	// Meta is the pipeline's documentation and lineage.
	Meta Meta
	// AllowEmpty permits a full refresh that read no rows to empty the target.
	AllowEmpty bool
	// Started is when the run began.
	Started time.Time
	// Logger receives the run's logs. Never nil on a Run made by [NewRun].
	Logger *slog.Logger
	// Observer receives the run's events, or nil.
	Observer Observer
	// ProgressEvery is the interval between progress events while a sink loads. Defaults to
	// DefaultProgressEvery.
	ProgressEvery time.Duration
	// Now is the run's clock, for progress events. Defaults to time.Now; tests set a fake.
	Now func() time.Time
	// CleanupTimeout bounds the cleanup that follows the cancellation of the run's context
	// (see [Run.CleanupContext]), so that a process told to stop does stop even when its
	// database no longer answers. Defaults to [DefaultCleanupTimeout].
	CleanupTimeout time.Duration
	// Parent is the run that started this one, such as a DAG run, or nil.
	Parent *ParentRun

	read, rejected, filtered atomic.Int64

	mu                      sync.Mutex
	rejects                 []Reject
	watermark, next         any
	haveWatermark, haveNext bool

	logOnce sync.Once
	logs    bool // Emit writes events to Logger
}

// NewRun returns a Run of the named pipeline over window w, with a fresh random ID and a
// logger that discards everything.
func NewRun(pipeline string, w Window) *Run {
	return &Run{
		ID:       NewRunID(),
		Pipeline: pipeline,
		Window:   w,
		Started:  time.Now(),
		Logger:   slog.New(slog.DiscardHandler),
	}
}

// NewRunID returns a random version 4 UUID, such as
// "1b4e28ba-2fa1-41d2-883f-0016d3cca427". OpenLineage requires run IDs in this form.
func NewRunID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// AddRead counts n records read from the source. [Pipeline.Run] calls it; a source need not.
func (r *Run) AddRead(n int64) { r.read.Add(n) }

func (r *Run) addFiltered(n int64) {
	if r != nil {
		r.filtered.Add(n)
	}
}

// Reject records a bad record that a source skipped. The record counts as read and as
// rejected, and the first 100 rejects are kept for the run record.
func (r *Run) Reject(rej Reject) {
	r.read.Add(1)
	r.reject(rej)
}

// reject records a rejected row that was already counted as read.
func (r *Run) reject(rej Reject) {
	r.rejected.Add(1)
	r.mu.Lock()
	if len(r.rejects) < maxKeptRejects {
		r.rejects = append(r.rejects, rej)
	}
	r.mu.Unlock()
}

// Rejects returns the kept rejects, oldest first.
func (r *Run) Rejects() []Reject {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Reject(nil), r.rejects...)
}

// Stats returns the run's counters so far: rows read, rejected and filtered, and the time
// since it started. Sinks add what they wrote.
func (r *Run) Stats() Stats {
	return Stats{
		RowsRead:     r.read.Load(),
		RowsRejected: r.rejected.Load(),
		RowsFiltered: r.filtered.Load(),
		Duration:     time.Since(r.Started),
	}
}

// Emit sends e to the run's observer, filling in its Run and Time, and logs it to the
// run's Logger in the form [LogObserver] uses, unless the observer already is a
// LogObserver on that logger. It does nothing when neither is set, so an unobserved run
// pays nothing for events.
func (r *Run) Emit(ctx context.Context, e Event) {
	logs := r.logsEvents()
	if r.Observer == nil && !logs {
		return
	}
	e.Run = r
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if logs {
		logEvent(ctx, r.Logger, e)
	}
	if r.Observer != nil {
		r.Observer.Observe(ctx, e)
	}
}

// Observed reports whether progress events reach anyone: an observer, or a logger that
// writes informational lines. A sink counts rows for progress only when they do.
func (r *Run) Observed() bool {
	return r.Observer != nil || r.logsEvents() && r.Logger.Enabled(context.Background(), slog.LevelInfo)
}

// logsEvents reports whether Emit logs to the run's Logger: it has one that writes
// somewhere, and the observer does not log the same lines to it already.
func (r *Run) logsEvents() bool {
	r.logOnce.Do(func() {
		r.logs = r.Logger != nil && r.Logger.Handler() != slog.DiscardHandler && !logsTo(r.Observer, r.Logger)
	})
	return r.logs
}

type cleanupKey struct{}

// CleanupContext returns a context for the cleanup that follows work done under ctx: the
// rollback, the release of a lock, the record of a failure. It keeps ctx's values but is
// not cancelled with it; instead it ends CleanupTimeout after ctx is done (counted from
// now when ctx is done already), so that cleanup after a cancellation is bounded even
// when the database has stopped answering. A cleanup context made from another shares
// its bound rather than extending it. Call cancel when the cleanup is over.
func (r *Run) CleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Value(cleanupKey{}) != nil {
		return context.WithCancel(ctx)
	}
	timeout := r.CleanupTimeout
	if timeout <= 0 {
		timeout = DefaultCleanupTimeout
	}
	c, cancel := context.WithCancelCause(context.WithValue(context.WithoutCancel(ctx), cleanupKey{}, true))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(fmt.Errorf("cleanup after the run was cancelled took longer than %s: %w", timeout, context.DeadlineExceeded))
		case <-c.Done():
		}
	})
	return c, func() {
		stop()
		cancel(context.Canceled)
	}
}

// Clock returns the run's clock: Now, or time.Now when it is unset.
func (r *Run) Clock() func() time.Time {
	if r.Now == nil {
		return time.Now
	}
	return r.Now
}

// Log returns the run's logger, or a discarding one when none is set.
func (r *Run) Log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}
