package etl

import (
	"context"
	"log/slog"
)

// LogObserver returns an Observer that logs every event to l with typed attributes:
// progress at the interval the sink reports it (rows read, rows written, rows/s), each
// check's result, and the run's end. It is what a cron-run binary usually wants.
func LogObserver(l *slog.Logger) Observer {
	return ObserverFunc(func(ctx context.Context, e Event) {
		attrs := []slog.Attr{
			slog.String("pipeline", e.Run.Pipeline),
			slog.String("run_id", e.Run.ID),
			slog.Int64("rows_read", e.Stats.RowsRead),
			slog.Int64("rows_written", e.Stats.RowsWritten),
		}
		switch e.Kind {
		case EventStart:
			l.LogAttrs(ctx, slog.LevelInfo, "run started", append(attrs[:2], slog.String("window", e.Run.Window.String()))...)
		case EventProgress:
			rate := 0.0
			if s := e.Stats.Duration.Seconds(); s > 0 {
				rate = float64(e.Stats.RowsWritten) / s
			}
			l.LogAttrs(ctx, slog.LevelInfo, "progress", append(attrs, slog.Float64("rows_per_sec", rate))...)
		case EventCheck:
			level := slog.LevelInfo
			if !e.Check.Passed {
				level = slog.LevelWarn
			}
			l.LogAttrs(ctx, level, "check", append(attrs[:2], slog.String("check", e.Check.Name),
				slog.Bool("passed", e.Check.Passed), slog.String("found", e.Check.Found))...)
		case EventComplete:
			l.LogAttrs(ctx, slog.LevelInfo, "run complete", append(attrs, slog.Duration("duration", e.Stats.Duration))...)
		case EventFail:
			l.LogAttrs(ctx, slog.LevelError, "run failed", append(attrs, slog.String("step", Step(e.Err)), slog.Any("error", e.Err))...)
		}
	})
}
