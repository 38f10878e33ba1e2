package etl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

var testSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "name", Type: etl.TypeText},
}

// memSource yields rows through one reused Row, as real sources do, and rejects the rows
// whose name is "bad" through the Run.
func memSource(rows ...etl.Row) etl.Extractor {
	return etl.ExtractFunc(func(_ context.Context, run *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: testSchema, Rows: func(yield func(etl.Row, error) bool) {
			buf := make(etl.Row, len(testSchema))
			for i, r := range rows {
				if r[1] == "bad" {
					run.Reject(etl.Reject{Source: "mem", Line: int64(i + 1), Column: "name", Err: errors.New("bad name")})
					continue
				}
				copy(buf, r)
				if !yield(buf, nil) {
					return
				}
			}
		}}, nil
	})
}

// memSink collects the rows it is given and records failures reported to it.
type memSink struct {
	mu       sync.Mutex
	rows     []etl.Row
	checks   []etl.CheckResult
	loadErr  error
	failures []error
	failRun  *etl.Run
	failStat etl.Stats
}

func (s *memSink) Load(_ context.Context, _ *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	rows, err := etl.Collect(in)
	if err != nil {
		return etl.LoadResult{}, err
	}
	if s.loadErr != nil {
		return etl.LoadResult{Checks: s.checks}, s.loadErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = rows
	return etl.LoadResult{RowsWritten: int64(len(rows)), RowsDeleted: 1, Checks: s.checks}, nil
}

func (s *memSink) RecordFailure(_ context.Context, run *etl.Run, stats etl.Stats, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, err)
	s.failRun, s.failStat = run, stats
	return errors.New("the run table is gone") // the run's error says so
}

// eventLog records the kinds of the events it observes.
type eventLog struct {
	mu     sync.Mutex
	kinds  []etl.EventKind
	events []etl.Event
}

func (l *eventLog) Observe(_ context.Context, e etl.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kinds = append(l.kinds, e.Kind)
	l.events = append(l.events, e)
}

func TestPipelineRun(t *testing.T) {
	t.Parallel()
	sink := &memSink{checks: []etl.CheckResult{{Name: "row_count", Passed: true}}}
	events := &eventLog{}
	p := &etl.Pipeline{
		Name:   "people",
		Meta:   etl.Meta{Owner: "analytics"},
		Source: memSource(etl.Row{int64(1), "ann"}, etl.Row{int64(2), "bad"}, etl.Row{int64(3), "bob"}, etl.Row{int64(4), "cy"}),
		Transforms: []etl.Transformer{
			etl.Map(nil, func(r etl.Row) (etl.Row, error) {
				r[1] = strings.ToUpper(r[1].(string))
				return r, nil
			}),
			etl.Filter(func(r etl.Row) bool { return r[0] != int64(3) }),
		},
		Sink:     sink,
		Observer: events,
	}
	res, err := p.Run(t.Context(), etl.Window{})
	require.NoError(t, err)
	require.NotEmpty(t, res.RunID)
	require.True(t, res.Window.IsZero())
	require.Positive(t, res.Stats.Duration)
	res.Stats.Duration = 0
	require.Equal(t, etl.Stats{RowsRead: 4, RowsRejected: 1, RowsFiltered: 1, RowsWritten: 2, RowsDeleted: 1}, res.Stats)
	require.Equal(t, res.Stats.RowsWritten, res.Stats.RowsExpected(), "read - rejected - filtered balances")
	require.Equal(t, []etl.Row{{int64(1), "ANN"}, {int64(4), "CY"}}, sink.rows)
	require.Equal(t, sink.checks, res.Checks)
	require.Len(t, res.Rejects, 1)
	require.Equal(t, `mem:2: column "name": bad name`, res.Rejects[0].Error())
	require.Empty(t, sink.failures, "a successful run records no failure")

	require.Equal(t, []etl.EventKind{etl.EventStart, etl.EventComplete}, events.kinds)
	for _, e := range events.events {
		require.Equal(t, res.RunID, e.Run.ID)
		require.False(t, e.Time.IsZero())
		require.Equal(t, "analytics", e.Run.Meta.Owner)
	}
	require.Equal(t, int64(2), events.events[1].Stats.RowsWritten)
}

func TestPipelineLogs(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	p := &etl.Pipeline{
		Name:   "people",
		Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) { return etl.Stream{}, errors.New("no file") }),
		Sink:   &memSink{},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	res, err := p.RunWith(t.Context(), &etl.Run{})
	require.Error(t, err)
	out := logs.String()
	require.Contains(t, out, `msg="run started"`)
	require.Contains(t, out, `msg="run failed" pipeline=people run_id=`+res.RunID+` step=extract`)
	require.Contains(t, out, `msg="could not record the failed run"`)
}

func TestPipelineRunLogsToItsLogger(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	p := &etl.Pipeline{Name: "people", Source: memSource(), Sink: &memSink{}, AllowEmpty: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	_, err := p.Run(t.Context(), etl.Window{})
	require.NoError(t, err)
	require.Contains(t, logs.String(), `msg="run finished"`)
}

func TestPipelineRunCountsManyRows(t *testing.T) {
	t.Parallel()
	// The read counter is flushed in batches of 1024; a count that is not a multiple must
	// still come out exact.
	rows := make([]etl.Row, 2500)
	for i := range rows {
		rows[i] = etl.Row{int64(i), "x"}
	}
	res, err := (&etl.Pipeline{Name: "many", Source: memSource(rows...), Sink: &memSink{}}).Run(t.Context(), etl.Window{})
	require.NoError(t, err)
	require.Equal(t, int64(2500), res.Stats.RowsRead)
	require.Equal(t, int64(2500), res.Stats.RowsWritten)
}

func TestPipelineFailures(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	failingTransform := etl.TransformFunc(func(context.Context, *etl.Run, etl.Stream) (etl.Stream, error) {
		return etl.Stream{}, boom
	})
	brokenStream := etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: testSchema, Rows: func(yield func(etl.Row, error) bool) {
			if yield(etl.Row{int64(1), "a"}, nil) {
				yield(nil, boom)
			}
		}}, nil
	})
	tests := []struct {
		name       string
		source     etl.Extractor
		transforms []etl.Transformer
		loadErr    error
		step       string
		msg        string
		recorded   bool
		read       int64
	}{
		{
			name:     "extract fails",
			source:   etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) { return etl.Stream{}, boom }),
			step:     "extract",
			msg:      `pipeline "p": extract: boom`,
			recorded: true,
		},
		{
			name:       "transform fails",
			source:     memSource(etl.Row{int64(1), "a"}),
			transforms: []etl.Transformer{etl.Filter(func(etl.Row) bool { return true }), failingTransform},
			step:       "transform",
			msg:        `pipeline "p": transform: transform 2: boom`,
			recorded:   true,
		},
		{
			name:   "stream fails half-way",
			source: brokenStream,
			step:   "extract",
			msg:    `pipeline "p": extract: boom`,
			read:   1,
		},
		{
			name:    "load fails",
			source:  memSource(etl.Row{int64(1), "a"}),
			loadErr: &etl.StepError{Step: "check", Err: boom},
			step:    "check",
			msg:     `pipeline "p": check: boom`,
			read:    1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &memSink{loadErr: tt.loadErr}
			events := &eventLog{}
			p := &etl.Pipeline{Name: "p", Source: tt.source, Transforms: tt.transforms, Sink: sink, Observer: events}
			res, err := p.Run(t.Context(), etl.Window{})
			require.ErrorIs(t, err, boom)
			want := tt.msg
			if tt.recorded {
				want += " (its failed-run record could not be written: the run table is gone)"
				require.ErrorIs(t, err, etl.ErrNotRecorded)
			} else {
				require.NotErrorIs(t, err, etl.ErrNotRecorded)
			}
			require.EqualError(t, err, want)
			require.Equal(t, tt.step, etl.Step(err))
			require.Equal(t, tt.read, res.Stats.RowsRead)
			require.Equal(t, []etl.EventKind{etl.EventStart, etl.EventFail}, events.kinds)
			require.ErrorIs(t, events.events[1].Err, boom)
			if !tt.recorded {
				require.Empty(t, sink.failures, "a sink that was reached records its own failure")
				return
			}
			require.Len(t, sink.failures, 1, "a run that fails before the sink must still leave a record")
			require.Equal(t, tt.step, etl.Step(sink.failures[0]))
			require.Equal(t, res.RunID, sink.failRun.ID)
			require.Equal(t, "p", sink.failRun.Pipeline)
		})
	}
}

func TestMapErrorStopsTheStream(t *testing.T) {
	t.Parallel()
	boom := errors.New("cannot parse")
	seen := 0
	m := etl.Map(etl.Schema{{Name: "n"}}, func(r etl.Row) (etl.Row, error) {
		seen++
		if r[0] == int64(2) {
			return nil, boom
		}
		return etl.Row{r[0]}, nil
	})
	out, err := m.Transform(t.Context(), etl.NewRun("p", etl.Window{}), etl.SliceStream(testSchema, []etl.Row{{int64(1), "a"}, {int64(2), "b"}, {int64(3), "c"}}))
	require.NoError(t, err)
	require.Equal(t, etl.Schema{{Name: "n"}}, out.Schema, "Map's schema replaces the input's")
	rows, err := etl.Collect(out)
	require.ErrorIs(t, err, boom)
	require.Equal(t, []etl.Row{{int64(1)}}, rows)
	require.Equal(t, 2, seen, "nothing after the failing row is mapped")
}

func TestFilterPassesErrorsAndStopsEarly(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	in := etl.Stream{Schema: testSchema, Rows: func(yield func(etl.Row, error) bool) {
		if yield(etl.Row{int64(1), "a"}, nil) && yield(etl.Row{int64(2), "b"}, nil) {
			yield(nil, boom)
		}
	}}
	run := etl.NewRun("p", etl.Window{})
	out, err := etl.Filter(func(r etl.Row) bool { return r[0] == int64(2) }).Transform(t.Context(), run, in)
	require.NoError(t, err)
	rows, err := etl.Collect(out)
	require.ErrorIs(t, err, boom)
	require.Equal(t, []etl.Row{{int64(2), "b"}}, rows)
	require.Equal(t, int64(1), run.Stats().RowsFiltered)

	n := 0
	for range out.Rows {
		n++
		break
	}
	require.Equal(t, 1, n)
}

func TestPipelineValidate(t *testing.T) {
	t.Parallel()
	src, sink := memSource(), &memSink{}
	tests := []struct {
		p    etl.Pipeline
		want string
	}{
		{etl.Pipeline{Source: src, Sink: sink}, "etl: pipeline has no name"},
		{etl.Pipeline{Name: "p", Sink: sink}, `etl: pipeline "p" has no source`},
		{etl.Pipeline{Name: "p", Source: src}, `etl: pipeline "p" has no sink`},
	}
	for _, tt := range tests {
		require.EqualError(t, tt.p.Validate(), tt.want)
		_, err := tt.p.Run(t.Context(), etl.Window{})
		require.EqualError(t, err, tt.want)
	}
	p := etl.Pipeline{Name: "p", Source: src, Sink: sink}
	require.NoError(t, p.Validate())
	day := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	_, err := p.Run(t.Context(), etl.Window{Start: day, End: day})
	require.EqualError(t, err, `pipeline "p": etl: window end 2024-01-02T00:00:00Z is not after start 2024-01-02T00:00:00Z`)
}

type namedSource struct{ etl.Extractor }

func (namedSource) Datasets() []etl.Dataset {
	return []etl.Dataset{{Namespace: "file://", Name: "people.csv"}}
}

type namedSink struct{ *memSink }

func (namedSink) Datasets() []etl.Dataset {
	return []etl.Dataset{{Namespace: "postgres://db:5432", Name: "app.public.people"}}
}

func TestRunWithFillsTheRun(t *testing.T) {
	t.Parallel()
	var got *etl.Run
	sink := etl.LoadFunc(func(_ context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
		got = run
		_, err := etl.Collect(in)
		return etl.LoadResult{}, err
	})
	declared := etl.Dataset{Name: "declared"}
	p := &etl.Pipeline{
		Name: "people", AllowEmpty: true,
		Meta:   etl.Meta{Owner: "ops", Inputs: []etl.Dataset{declared}},
		Source: namedSource{memSource()}, Sink: sink,
	}
	w := etl.Window{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
	run := &etl.Run{ID: "my-id", Window: w}
	res, err := p.RunWith(t.Context(), run)
	require.NoError(t, err)
	require.Same(t, run, got)
	require.Equal(t, "my-id", res.RunID)
	require.Equal(t, w, res.Window)
	require.Equal(t, "people", run.Pipeline)
	require.True(t, run.AllowEmpty)
	require.NotNil(t, run.Logger)
	require.False(t, run.Started.IsZero())
	require.Equal(t, "ops", run.Meta.Owner)
	require.Len(t, run.Meta.Inputs, 2)
	require.Equal(t, declared, run.Meta.Inputs[0], "declared datasets are left as declared")
	require.Equal(t, "file:///people.csv", run.Meta.Inputs[1].String())
	require.Equal(t, []string{"id", "name"}, run.Meta.Inputs[1].Schema.Names(), "the source's dataset takes the stream's columns")

	in, out := (&etl.Pipeline{Source: namedSource{memSource()}, Sink: namedSink{&memSink{}}}).Lineage()
	require.Equal(t, "file:///people.csv", in[0].String())
	require.Equal(t, "postgres://db:5432/app.public.people", out[0].String())
	require.Equal(t, "bare", etl.Dataset{Name: "bare"}.String())
}

func TestSentinelsSurviveThePipeline(t *testing.T) {
	t.Parallel()
	for _, sentinel := range []error{etl.ErrEmpty, etl.ErrLocked} {
		sink := etl.LoadFunc(func(context.Context, *etl.Run, etl.Stream) (etl.LoadResult, error) {
			return etl.LoadResult{}, etl.WithStep("lock", fmt.Errorf("table people: %w", sentinel))
		})
		_, err := (&etl.Pipeline{Name: "p", Source: memSource(), Sink: sink}).Run(t.Context(), etl.Window{})
		require.ErrorIs(t, err, sentinel)
		require.Equal(t, "lock", etl.Step(err))
	}
}

func TestStepErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	require.NoError(t, etl.WithStep("stage", nil))
	require.Equal(t, "", etl.Step(nil))
	require.Equal(t, "", etl.Step(boom))

	staged := etl.WithStep("stage", boom)
	require.EqualError(t, staged, "stage: boom")
	require.Same(t, staged, etl.WithStep("commit", staged), "an error keeps the step it has")
	wrapped := fmt.Errorf("loading: %w", staged)
	require.Equal(t, "stage", etl.Step(wrapped))
	require.Equal(t, "stage", etl.Step(etl.WithStep("commit", wrapped)))
	require.ErrorIs(t, wrapped, boom)
}

func TestObservers(t *testing.T) {
	t.Parallel()
	require.Nil(t, etl.Observers())
	require.Nil(t, etl.Observers(nil, nil))
	a := &eventLog{}
	require.Same(t, a, etl.Observers(nil, a))
	b := &eventLog{}
	both := etl.Observers(a, nil, b)
	both.Observe(t.Context(), etl.Event{Kind: etl.EventStart})
	require.Equal(t, []etl.EventKind{etl.EventStart, etl.EventStart}, append(a.kinds, b.kinds...))

	run := etl.NewRun("p", etl.Window{})
	run.Emit(t.Context(), etl.Event{Kind: etl.EventProgress}) // no observer: nothing happens
	run.Observer = a
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	run.Emit(t.Context(), etl.Event{Kind: etl.EventProgress, Time: at})
	require.Equal(t, at, a.events[1].Time, "a time given is kept")
	require.Same(t, run, a.events[1].Run)
}

func TestWindows(t *testing.T) {
	t.Parallel()
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name     string
		from, to time.Time
		every    time.Duration
		want     []etl.Window
	}{
		{"exact days", day(1), day(4), 24 * time.Hour, []etl.Window{{day(1), day(2)}, {day(2), day(3)}, {day(3), day(4)}}},
		{"short last window", day(1), day(2).Add(12 * time.Hour), 24 * time.Hour, []etl.Window{{day(1), day(2)}, {day(2), day(2).Add(12 * time.Hour)}}},
		{"one window longer than the range", day(1), day(2), 48 * time.Hour, []etl.Window{{day(1), day(2)}}},
		{"empty range", day(1), day(1), time.Hour, nil},
		{"reversed range", day(2), day(1), time.Hour, nil},
		{"zero step", day(1), day(2), 0, nil},
		{"negative step", day(1), day(2), -time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := etl.Windows(tt.from, tt.to, tt.every)
			require.Equal(t, tt.want, got)
			for i, w := range got {
				require.NoError(t, w.Validate())
				if i > 0 {
					require.Equal(t, got[i-1].End, w.Start, "windows are contiguous")
				}
			}
		})
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	w := etl.Window{Start: start, End: start.Add(time.Hour)}
	require.True(t, w.Contains(start), "start is inside")
	require.True(t, w.Contains(start.Add(59*time.Minute)))
	require.False(t, w.Contains(start.Add(time.Hour)), "end is outside")
	require.False(t, w.Contains(start.Add(-time.Nanosecond)))
	require.True(t, etl.Window{}.Contains(start), "the zero window holds everything")
	require.Equal(t, "2024-01-01T00:00:00Z/2024-01-01T01:00:00Z", w.String())
	require.Equal(t, "2024-01-01T00:00:00Z/2024-01-01T01:00:00Z", etl.Window{Start: start.In(time.FixedZone("X", 3600)), End: w.End}.String(), "printed in UTC")
	require.Equal(t, "all", etl.Window{}.String())
	require.True(t, etl.Window{}.IsZero())
	require.False(t, w.IsZero())
	require.NoError(t, etl.Window{}.Validate())
	require.Error(t, etl.Window{Start: start}.Validate(), "a window with only a start is invalid")
}

func TestSchemaValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema etl.Schema
		want   string
	}{
		{"valid", etl.Schema{{Name: "a"}, {Name: "A"}, {Name: "with space"}}, ""},
		{"empty", nil, "etl: schema has no columns"},
		{"unnamed column", etl.Schema{{Name: "a"}, {}}, "etl: column 2 has no name"},
		{"duplicate", etl.Schema{{Name: "a"}, {Name: "b"}, {Name: "a"}}, `etl: column "a" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.schema.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.want)
		})
	}
	s := etl.Schema{{Name: "id"}, {Name: "name"}}
	require.Equal(t, 1, s.Index("name"))
	require.Equal(t, -1, s.Index("Name"), "names are case-sensitive")
	require.Equal(t, []string{"id", "name"}, s.Names())
}

func TestParseTypeRoundTrip(t *testing.T) {
	t.Parallel()
	all := []etl.Type{etl.TypeText, etl.TypeInt64, etl.TypeFloat64, etl.TypeNumeric, etl.TypeBool,
		etl.TypeTimestamp, etl.TypeDate, etl.TypeBytes, etl.TypeJSON}
	seen := map[string]bool{}
	for _, typ := range all {
		name := typ.String()
		require.False(t, seen[name], "type names are distinct")
		seen[name] = true
		got, err := etl.ParseType(name)
		require.NoError(t, err)
		require.Equal(t, typ, got)
		got, err = etl.ParseType(strings.ToUpper(name))
		require.NoError(t, err, "ParseType ignores case")
		require.Equal(t, typ, got)
	}
	require.Equal(t, "Type(0)", etl.Type(0).String())
	require.Equal(t, "Type(200)", etl.Type(200).String())
	for _, bad := range []string{"", "Type(0)", "varchar", "int"} {
		_, err := etl.ParseType(bad)
		require.EqualError(t, err, fmt.Sprintf("etl: unknown column type %q", bad))
	}
}

func TestRowCloneAndCollect(t *testing.T) {
	t.Parallel()
	b := []byte("abc")
	r := etl.Row{int64(1), b, nil}
	c := r.Clone()
	b[0] = 'X'
	r[0] = int64(2)
	require.Equal(t, etl.Row{int64(1), []byte("abc"), nil}, c, "Clone copies the row and its byte slices")

	// Collect must clone: the source reuses its row.
	s, err := memSource(etl.Row{int64(1), "a"}, etl.Row{int64(2), "b"}).Extract(t.Context(), etl.NewRun("p", etl.Window{}))
	require.NoError(t, err)
	rows, err := etl.Collect(s)
	require.NoError(t, err)
	require.Equal(t, []etl.Row{{int64(1), "a"}, {int64(2), "b"}}, rows)

	n := 0
	for range etl.SliceStream(testSchema, rows).Rows {
		n++
		break
	}
	require.Equal(t, 1, n, "SliceStream stops when the consumer does")
}

func TestRunCounters(t *testing.T) {
	t.Parallel()
	run := etl.NewRun("p", etl.Window{})
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, run.ID)
	require.NotEqual(t, run.ID, etl.NewRunID())
	run.AddRead(3)
	for i := range 150 {
		run.Reject(etl.Reject{Source: "f.csv", Line: int64(i + 1), Err: errors.New("bad")})
	}
	s := run.Stats()
	require.Equal(t, int64(153), s.RowsRead, "a reject counts as read")
	require.Equal(t, int64(150), s.RowsRejected)
	rejects := run.Rejects()
	require.Len(t, rejects, 100, "only the first 100 rejects are kept")
	require.Equal(t, int64(1), rejects[0].Line)
	require.Equal(t, "f.csv:1: bad", rejects[0].Error())
	require.Equal(t, "f.csv: bad", etl.Reject{Source: "f.csv", Err: errors.New("bad")}.Error())
	require.Equal(t, int64(3), etl.Stats{RowsRead: 10, RowsRejected: 2, RowsFiltered: 5}.RowsExpected())
	require.NotNil(t, (&etl.Run{}).Log(), "a bare Run still logs somewhere")
}

// The watermark travels sink -> source -> sink through the Run: the sink sets the stored
// value before reading the stream, the source reads it when its stream starts, and the
// sink stores what the source advanced to.
func TestWatermarkFlow(t *testing.T) {
	t.Parallel()
	type event struct {
		id       int64
		modified time.Time
	}
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	events := []event{{1, day(1)}, {2, day(2)}, {3, day(3)}, {4, day(4)}}

	// incremental yields the events modified after the stored watermark.
	incremental := etl.ExtractFunc(func(_ context.Context, run *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: etl.Schema{{Name: "id", Type: etl.TypeInt64}}, Rows: func(yield func(etl.Row, error) bool) {
			from, ok := run.Watermark() // read lazily, after the sink set it
			var high time.Time
			for _, e := range events {
				if ok && !e.modified.After(from.(time.Time)) {
					continue
				}
				if e.modified.After(high) {
					high = e.modified
				}
				if !yield(etl.Row{e.id}, nil) {
					return
				}
			}
			if !high.IsZero() {
				run.Advance(high)
			}
		}}, nil
	})

	var stored any // the "target's" state table
	var loaded []int64
	sink := etl.LoadFunc(func(_ context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
		run.SetWatermark(stored)
		rows, err := etl.Collect(in)
		if err != nil {
			return etl.LoadResult{}, err
		}
		for _, r := range rows {
			loaded = append(loaded, r[0].(int64))
		}
		if next, ok := run.NextWatermark(); ok {
			stored = next
		}
		return etl.LoadResult{RowsWritten: int64(len(rows))}, nil
	})
	p := &etl.Pipeline{Name: "events", Source: incremental, Sink: sink, AllowEmpty: true}

	res, err := p.Run(t.Context(), etl.Window{})
	require.NoError(t, err)
	require.Equal(t, int64(4), res.Stats.RowsWritten)
	require.Equal(t, day(4), stored)

	res, err = p.Run(t.Context(), etl.Window{})
	require.NoError(t, err)
	require.Equal(t, int64(0), res.Stats.RowsWritten, "nothing new")
	require.Equal(t, day(4), stored, "a run that advanced nothing keeps the stored watermark")

	events = append(events, event{5, day(5)})
	_, err = p.Run(t.Context(), etl.Window{})
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2, 3, 4, 5}, loaded)
	require.Equal(t, day(5), stored)
}

func TestWatermarkAccessors(t *testing.T) {
	t.Parallel()
	run := etl.NewRun("p", etl.Window{})
	_, ok := run.Watermark()
	require.False(t, ok)
	_, ok = run.NextWatermark()
	require.False(t, ok)

	run.SetWatermark(int64(10))
	v, ok := run.Watermark()
	require.True(t, ok)
	require.Equal(t, int64(10), v)
	v, ok = run.NextWatermark()
	require.True(t, ok)
	require.Equal(t, int64(10), v, "with no advance the next watermark is the stored one")

	run.Advance(int64(12))
	run.Advance(int64(11))
	v, _ = run.NextWatermark()
	require.Equal(t, int64(11), v, "the last Advance wins")
	v, _ = run.Watermark()
	require.Equal(t, int64(10), v, "Advance leaves the stored watermark alone")

	run.SetWatermark(nil)
	_, ok = run.Watermark()
	require.False(t, ok, "nil means none stored")
	run.Advance(nil)
	_, ok = run.NextWatermark()
	require.False(t, ok)
}

func TestMapErrorsBelongToTheTransformStep(t *testing.T) {
	t.Parallel()
	boom := errors.New("bad gender")
	p := &etl.Pipeline{
		Name: "m",
		Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(etl.Schema{{Name: "g"}}, []etl.Row{{"X"}}), nil
		}),
		Transforms: []etl.Transformer{etl.Map(nil, func(etl.Row) (etl.Row, error) { return nil, boom })},
		Sink: etl.LoadFunc(func(_ context.Context, _ *etl.Run, in etl.Stream) (etl.LoadResult, error) {
			for _, err := range in.Rows {
				if err != nil {
					return etl.LoadResult{}, etl.WithStep("stage", err)
				}
			}
			return etl.LoadResult{}, nil
		}),
	}
	_, err := p.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, boom)
	require.Equal(t, "transform", etl.Step(err), "the sink must not be blamed for a transform's error")
}

func TestCloneKeepsEmptyBytesDistinctFromNull(t *testing.T) {
	t.Parallel()
	orig := etl.Row{[]byte{}, []byte(nil), []byte("ab")}
	c := orig.Clone()
	require.NotNil(t, c[0], "an empty bytea is a value, not NULL")
	require.Len(t, c[0], 0)
	require.Nil(t, c[1])
	orig[2].([]byte)[0] = 'z'
	require.Equal(t, []byte("ab"), c[2], "the clone must not share memory")
}

func TestValidateRejectsWithoutCountingRowsTwice(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "gender"}}
	rows := []etl.Row{{"F"}, {"X"}, {"M"}, {"?"}}
	known := func(r etl.Row) error {
		if g := r[0].(string); g != "F" && g != "M" {
			return etl.Reject{Column: "gender", Err: fmt.Errorf("unknown gender %q", g)}
		}
		return nil
	}
	var got []etl.Row
	p := &etl.Pipeline{
		Name:       "v",
		Source:     etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) { return etl.SliceStream(schema, rows), nil }),
		Transforms: []etl.Transformer{etl.Validate(2, known)},
		Sink: etl.LoadFunc(func(_ context.Context, _ *etl.Run, in etl.Stream) (etl.LoadResult, error) {
			var err error
			got, err = etl.Collect(in)
			return etl.LoadResult{RowsWritten: int64(len(got))}, err
		}),
	}
	res, err := p.Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	require.Equal(t, []etl.Row{{"F"}, {"M"}}, got)
	require.Equal(t, int64(4), res.Stats.RowsRead, "a refused row was read once")
	require.Equal(t, int64(2), res.Stats.RowsRejected)
	require.Equal(t, res.Stats.RowsWritten, res.Stats.RowsExpected(), "read - rejected balances with written")
	require.Len(t, res.Rejects, 2)
	require.Contains(t, res.Rejects[0].Error(), `column "gender": unknown gender "X"`)

	p.Transforms = []etl.Transformer{etl.Validate(1, known)}
	res, err = p.Run(context.Background(), etl.Window{})
	require.ErrorContains(t, err, `2 rows rejected, more than the 1 allowed; the last: column "gender": unknown gender "?"`)
	require.Equal(t, "transform", etl.Step(err))
	require.Equal(t, int64(2), res.Stats.RowsRejected, "the error and the run's count agree")
	require.Len(t, res.Rejects, 2)
}

func TestValidateCountsTheSourcesRejectsToo(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "g"}}
	p := &etl.Pipeline{
		Name: "v",
		Source: etl.ExtractFunc(func(_ context.Context, run *etl.Run) (etl.Stream, error) {
			return etl.Stream{Schema: schema, Rows: func(yield func(etl.Row, error) bool) {
				if !yield(etl.Row{"X"}, nil) {
					return
				}
				run.Reject(etl.Reject{Source: "in.csv", Line: 3, Err: errors.New("ragged row")})
			}}, nil
		}),
		Transforms: []etl.Transformer{etl.Validate(1, func(etl.Row) error { return errors.New("unknown") })},
		Sink: etl.LoadFunc(func(_ context.Context, _ *etl.Run, in etl.Stream) (etl.LoadResult, error) {
			_, err := etl.Collect(in)
			return etl.LoadResult{}, err
		}),
	}
	_, err := p.Run(context.Background(), etl.Window{})
	require.ErrorContains(t, err, "2 rows rejected, more than the 1 allowed")
}

// Map, Filter and Validate pass the source's positions on: they yield each row as they
// receive it, so the position of the row last yielded is still the source's.
func TestTransformsPassPositionsOn(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "n", Type: etl.TypeInt64}}
	var line int64
	src := etl.Stream{Schema: schema, Position: func() etl.Position { return etl.Position{Source: "in.csv", Line: line} },
		Rows: func(yield func(etl.Row, error) bool) {
			for i := int64(1); i <= 6; i++ {
				line = 10 * i
				if !yield(etl.Row{i}, nil) {
					return
				}
			}
		}}
	ctx := context.Background()
	run := etl.NewRun("p", etl.Window{})
	s, err := etl.Map(nil, func(r etl.Row) (etl.Row, error) { return r, nil }).Transform(ctx, run, src)
	require.NoError(t, err)
	s, err = etl.Filter(func(r etl.Row) bool { return r[0].(int64)%2 == 0 }).Transform(ctx, run, s)
	require.NoError(t, err)
	s, err = etl.Validate(5, func(r etl.Row) error {
		if r[0].(int64) == 4 {
			return errors.New("four")
		}
		return nil
	}).Transform(ctx, run, s)
	require.NoError(t, err)
	require.NotNil(t, s.Position)
	var got []string
	for row, err := range s.Rows {
		require.NoError(t, err)
		got = append(got, fmt.Sprintf("%d@%s", row[0], s.Position()))
	}
	require.Equal(t, []string{"2@in.csv: line 20", "6@in.csv: line 60"}, got)
}
