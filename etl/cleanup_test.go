package etl_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

func TestCleanupContextOutlivesItsParentByTheBound(t *testing.T) {
	t.Parallel()
	run := &etl.Run{CleanupTimeout: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	cctx, done := run.CleanupContext(ctx)
	defer done()
	require.Equal(t, "v", cctx.Value(ctxKey{}), "values carry over")

	cancel()
	require.NoError(t, cctx.Err(), "cleanup goes on after the parent is cancelled")
	nested, nestedDone := run.CleanupContext(cctx)
	defer nestedDone()
	start := time.Now()
	select {
	case <-cctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the cleanup context outlived its bound")
	}
	require.Less(t, time.Since(start), 2*time.Second)
	require.ErrorIs(t, context.Cause(cctx), context.DeadlineExceeded)
	require.Error(t, nested.Err(), "a cleanup context made from another shares its bound")

	// Already cancelled: the bound counts from now.
	late, lateDone := run.CleanupContext(ctx)
	defer lateDone()
	require.NoError(t, late.Err())
	<-late.Done()

	// A parent that stays alive keeps its cleanup alive until cancel is called.
	alive, aliveDone := run.CleanupContext(context.Background())
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, alive.Err())
	aliveDone()
	require.Error(t, alive.Err())
}

type ctxKey struct{}

// closedConnSink fails the way a database driver does when a cancellation closes its
// connection in the middle of a statement.
type closedConnSink struct{}

func (closedConnSink) Load(ctx context.Context, _ *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	for range in.Rows {
	}
	<-ctx.Done()
	return etl.LoadResult{}, etl.WithStep("stage", errors.New("write tcp 127.0.0.1:5432: use of closed network connection"))
}

func TestACancelledRunMatchesContextCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p := &etl.Pipeline{Name: "p", Source: memSource(etl.Row{int64(1), "a"}), Sink: closedConnSink{}}
	_, err := p.Run(ctx, etl.Window{})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "stage", etl.Step(err), "the step survives")
	require.Contains(t, err.Error(), "use of closed network connection")

	ctx, stop := context.WithTimeoutCause(t.Context(), time.Millisecond, errors.New("task timed out"))
	defer stop()
	<-ctx.Done()
	_, err = p.Run(ctx, etl.Window{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "task timed out", "the cause is named")
}

// progressSink reports progress the way the SQL sinks do, through Run.Emit, when anyone
// listens.
type progressSink struct{ events int }

func (s *progressSink) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	var n int64
	for range in.Rows {
		n++
		if run.Observed() {
			st := run.Stats()
			st.RowsWritten = n
			run.Emit(ctx, etl.Event{Kind: etl.EventProgress, Stats: st})
			s.events++
		}
	}
	return etl.LoadResult{RowsWritten: n}, nil
}

func TestLoggerAndLogObserverLogEachLineOnce(t *testing.T) {
	t.Parallel()
	rows := []etl.Row{{int64(1), "a"}, {int64(2), "b"}, {int64(3), "c"}}
	count := func(out, msg string) int { return strings.Count(out, `msg=`+msg+` `) }

	t.Run("logger alone", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		l := slog.New(slog.NewTextHandler(&buf, nil))
		sink := &progressSink{}
		_, err := (&etl.Pipeline{Name: "p", Source: memSource(rows...), Sink: sink, Logger: l}).Run(t.Context(), etl.Window{})
		require.NoError(t, err)
		out := buf.String()
		require.Equal(t, 3, sink.events, "a logger alone makes the run observed")
		require.Equal(t, 3, count(out, "progress"), out)
		require.Contains(t, out, "rows_per_sec=")
		require.Equal(t, 1, count(out, `"run started"`), out)
		require.Equal(t, 1, count(out, `"run finished"`), out)
	})
	t.Run("logger and a LogObserver on it", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		l := slog.New(slog.NewTextHandler(&buf, nil))
		sink := &progressSink{}
		p := &etl.Pipeline{Name: "p", Source: memSource(rows...), Sink: sink, Logger: l,
			Observer: etl.Observers(etl.LogObserver(l), &eventLog{})}
		_, err := p.Run(t.Context(), etl.Window{})
		require.NoError(t, err)
		out := buf.String()
		require.Equal(t, 3, count(out, "progress"), out)
		require.Equal(t, 1, count(out, `"run started"`), out)
		require.Equal(t, 1, count(out, `"run finished"`), out)
	})
	t.Run("a LogObserver on another logger", func(t *testing.T) {
		t.Parallel()
		var mine, theirs bytes.Buffer
		p := &etl.Pipeline{Name: "p", Source: memSource(rows...), Sink: &progressSink{},
			Logger:   slog.New(slog.NewTextHandler(&mine, nil)),
			Observer: etl.LogObserver(slog.New(slog.NewJSONHandler(&theirs, nil)))}
		_, err := p.Run(t.Context(), etl.Window{})
		require.NoError(t, err)
		require.Equal(t, 3, count(mine.String(), "progress"))
		require.Equal(t, 3, strings.Count(theirs.String(), `"msg":"progress"`), "each destination gets its lines")
	})
	t.Run("handlers that are values holding what == cannot compare", func(t *testing.T) {
		t.Parallel()
		var a, b bytes.Buffer
		mine := slog.New(wrapped{fanout{hs: []slog.Handler{slog.NewTextHandler(&a, nil)}}})
		theirs := slog.New(wrapped{fanout{hs: []slog.Handler{slog.NewTextHandler(&b, nil)}}})
		p := &etl.Pipeline{Name: "p", Source: memSource(rows...), Sink: &progressSink{}, Logger: mine,
			Observer: etl.LogObserver(theirs)}
		_, err := p.Run(t.Context(), etl.Window{})
		require.NoError(t, err)
		require.Equal(t, 3, count(a.String(), "progress"))
		require.Equal(t, 3, count(b.String(), "progress"))
	})
	t.Run("neither", func(t *testing.T) {
		t.Parallel()
		sink := &progressSink{}
		_, err := (&etl.Pipeline{Name: "p", Source: memSource(rows...), Sink: sink}).Run(t.Context(), etl.Window{})
		require.NoError(t, err)
		require.Zero(t, sink.events, "an unobserved run counts nothing")
	})
}

// wrapped is a handler that is a comparable value holding another handler, which may
// not be comparable: Go's == panics on two wrapped fanouts.
type wrapped struct{ slog.Handler }

// fanout is a slog.Handler written as a value that holds a slice, as some handler
// libraries' are.
type fanout struct{ hs []slog.Handler }

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool { return f.hs[0].Enabled(ctx, l) }
func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range f.hs {
		if err := h.Handle(ctx, r.Clone()); err != nil {
			return err
		}
	}
	return nil
}
func (f fanout) WithAttrs(as []slog.Attr) slog.Handler { return f }
func (f fanout) WithGroup(string) slog.Handler         { return f }
