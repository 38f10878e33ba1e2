package etl

import (
	"context"
	"log/slog"
	"reflect"
)

// LogObserver returns an Observer that logs every event to l with typed attributes:
// progress at the interval the sink reports it (rows read, rows written, rows/s), each
// check's result, and the run's start and end. A run logs the same lines to its own
// Logger; when the Observer is a LogObserver on that same logger, the lines are written
// once, not twice.
func LogObserver(l *slog.Logger) Observer { return logObserver{l: l} }

type logObserver struct{ l *slog.Logger }

func (o logObserver) Observe(ctx context.Context, e Event) { logEvent(ctx, o.l, e) }

// logEvent writes e as one log line.
func logEvent(ctx context.Context, l *slog.Logger, e Event) {
	attrs := []slog.Attr{
		slog.String("pipeline", e.Run.Pipeline),
		slog.String("run_id", e.Run.ID),
	}
	counts := []slog.Attr{
		slog.Int64("rows_read", e.Stats.RowsRead),
		slog.Int64("rows_written", e.Stats.RowsWritten),
	}
	switch e.Kind {
	case EventStart:
		l.LogAttrs(ctx, slog.LevelInfo, "run started", append(attrs, slog.String("window", e.Run.Window.String()))...)
	case EventProgress:
		rate := 0.0
		if s := e.Stats.Duration.Seconds(); s > 0 {
			rate = float64(e.Stats.RowsWritten) / s
		}
		l.LogAttrs(ctx, slog.LevelInfo, "progress", append(append(attrs, counts...), slog.Float64("rows_per_sec", rate))...)
	case EventCheck:
		level := slog.LevelInfo
		if !e.Check.Passed {
			level = slog.LevelWarn
		}
		attrs = append(attrs, slog.String("check", e.Check.Name), slog.Bool("passed", e.Check.Passed),
			slog.String("found", e.Check.Found))
		if e.Check.Severity == SeverityWarn {
			attrs = append(attrs, slog.String("severity", string(e.Check.Severity)))
		}
		l.LogAttrs(ctx, level, "check", attrs...)
	case EventComplete:
		l.LogAttrs(ctx, slog.LevelInfo, "run finished", append(append(attrs, counts...), slog.Duration("duration", e.Stats.Duration))...)
	case EventFail:
		l.LogAttrs(ctx, slog.LevelError, "run failed", append(append(attrs, slog.String("step", Step(e.Err)), slog.Any("error", e.Err)), counts...)...)
	}
}

// logsTo reports whether o is, or fans out to, a LogObserver writing to the same place as l.
func logsTo(o Observer, l *slog.Logger) bool {
	switch o := o.(type) {
	case logObserver:
		return sameLogger(o.l, l)
	case observers:
		for _, x := range o {
			if logsTo(x, l) {
				return true
			}
		}
	}
	return false
}

// sameLogger reports whether a and b write through one handler. A handler that cannot be
// compared is taken to differ: the worst case is a line logged twice.
func sameLogger(a, b *slog.Logger) (same bool) {
	if a == nil || b == nil {
		return false
	}
	if a == b {
		return true
	}
	ha, hb := a.Handler(), b.Handler()
	if reflect.TypeOf(ha) != reflect.TypeOf(hb) || !reflect.TypeOf(ha).Comparable() {
		return false
	}
	// A comparable type can still hold one that is not (a struct with a Handler field
	// holding a handler that is a struct with a slice), and == then panics.
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return ha == hb
}
