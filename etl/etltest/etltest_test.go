package etltest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/etl/etltest"
)

// recorder is a testing.TB that records failures instead of failing, so that tests can
// check the messages the assertions print. FailNow ends the calling goroutine, as the
// testing package does; capture runs the assertion on a goroutine of its own.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	msgs    []string
	failed  bool
	stopped bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
	r.failed = true
}

func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recorder) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}

func (r *recorder) FailNow() {
	r.mu.Lock()
	r.failed, r.stopped = true, true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.FailNow()
}

func (r *recorder) Fatal(args ...any) {
	r.Error(args...)
	r.FailNow()
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) message() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

func capture(t *testing.T, fn func(tb testing.TB)) *recorder {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

var people = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "name", Type: etl.TypeText},
}

func pipeline(src etl.Extractor, sink etl.Loader, ts ...etl.Transformer) *etl.Pipeline {
	return &etl.Pipeline{Name: "people", Source: src, Sink: sink, Transforms: ts}
}

func TestFullRefreshThroughSourceAndSink(t *testing.T) {
	t.Parallel()
	src := etltest.NewSource(people, etl.Row{int64(1), "ann"}, etl.Row{int64(2), "bob"}, etl.Row{int64(3), nil})
	upper := etl.Map(nil, func(r etl.Row) (etl.Row, error) {
		if s, ok := r[1].(string); ok {
			r[1] = strings.ToUpper(s)
		}
		return r, nil
	})
	sink := &etltest.Sink{Checks: []etltest.StreamCheck{checks.UniqueKey("id"), checks.RowCount{Min: 1}}}
	p := pipeline(src, sink, upper, etl.Filter(func(r etl.Row) bool { return r[1] != nil }))

	res := etltest.Run(t, p)
	etltest.RequireStats(t, etl.Stats{RowsRead: 3, RowsFiltered: 1, RowsWritten: 2}, res.Stats)
	etltest.RequireRows(t, []etl.Row{{int64(1), "ANN"}, {int64(2), "BOB"}}, sink.Rows())
	require.Equal(t, people, sink.Schema())
	require.Len(t, res.Checks, 2)
	for _, c := range res.Checks {
		require.True(t, c.Passed, "%+v", c)
		require.Equal(t, "etltest", c.Table)
		require.Equal(t, etl.SeverityError, c.Severity)
	}
	etltest.RequireRows(t, []etl.Row{{int64(1), "ann"}, {int64(2), "bob"}, {int64(3), nil}}, src.Rows,
		"the pipeline must not modify the source's rows")

	// A second run replaces the contents: full refresh.
	src.Rows = []etl.Row{{int64(9), "zed"}}
	res = etltest.Run(t, p)
	etltest.RequireRows(t, []etl.Row{{int64(9), "ZED"}}, sink.Rows())
	require.Equal(t, int64(1), res.Stats.RowsWritten)
	require.Equal(t, 2, src.Extracts())

	loads := sink.Loads()
	require.Len(t, loads, 2)
	require.Equal(t, res.RunID, loads[1].Run.ID)
	require.Equal(t, sink.Last(), loads[1])
	require.NoError(t, loads[1].Err)
	etltest.RequireStats(t, etl.Stats{RowsRead: 1, RowsWritten: 1}, loads[1].Stats)
	require.Empty(t, sink.Failures())
}

func TestSourceReusesOneRow(t *testing.T) {
	t.Parallel()
	src := etltest.NewSource(people, etl.Row{int64(1), "a"}, etl.Row{int64(2), "b"})
	s, err := src.Extract(t.Context(), nil)
	require.NoError(t, err)
	var kept []etl.Row
	for row, err := range s.Rows {
		require.NoError(t, err)
		kept = append(kept, row)
	}
	require.Same(t, &kept[0][0], &kept[1][0], "a consumer that forgets Clone must see the row change")
	rows, err := etl.Collect(s)
	require.NoError(t, err)
	etltest.RequireRows(t, src.Rows, rows, "a Source may be extracted again")
}

func TestSourceFailures(t *testing.T) {
	t.Parallel()
	t.Run("extract error reaches the failure recorder", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("cannot open")
		sink := &etltest.Sink{}
		sink.Seed(people, etl.Row{int64(1), "old"})
		res, err := etltest.RunErr(t, pipeline(&etltest.Source{Err: boom}, sink))
		require.ErrorIs(t, err, boom)
		require.Equal(t, "extract", etl.Step(err))
		require.Empty(t, sink.Loads(), "Load is never reached")
		failures := sink.Failures()
		require.Len(t, failures, 1)
		require.Equal(t, res.RunID, failures[0].Run.ID)
		require.ErrorIs(t, failures[0].Err, boom)
		etltest.RequireRows(t, []etl.Row{{int64(1), "old"}}, sink.Rows())
	})
	t.Run("stream error leaves the contents", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("connection reset")
		src := etltest.NewSource(people, etl.Row{int64(2), "new"})
		src.StreamErr = boom
		sink := &etltest.Sink{}
		sink.Seed(people, etl.Row{int64(1), "old"})
		res, err := etltest.RunErr(t, pipeline(src, sink))
		require.ErrorIs(t, err, boom)
		require.Equal(t, "extract", etl.Step(err))
		require.Equal(t, int64(1), res.Stats.RowsRead)
		etltest.RequireRows(t, []etl.Row{{int64(1), "old"}}, sink.Rows())
		require.ErrorIs(t, sink.Last().Err, boom)
	})
	t.Run("ragged row", func(t *testing.T) {
		t.Parallel()
		src := etltest.NewSource(people, etl.Row{int64(1), "a"}, etl.Row{int64(2)})
		_, err := etltest.RunErr(t, pipeline(src, &etltest.Sink{}))
		require.ErrorContains(t, err, "etltest: source row 2 has 1 values, the schema has 2 columns")
	})
	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		s, err := etltest.NewSource(people, etl.Row{int64(1), "a"}).Extract(ctx, nil)
		require.NoError(t, err)
		_, err = etl.Collect(s)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestSourceOf(t *testing.T) {
	t.Parallel()
	type person struct {
		ID    int64   `db:"id"`
		Name  *string `db:"name"`
		Email string  `db:"-"`
	}
	ann := "ann"
	src := etltest.SourceOf(person{ID: 1, Name: &ann, Email: "x"}, person{ID: 2})
	require.Equal(t, etl.Schema{{Name: "id", Type: etl.TypeInt64, NotNull: true}, {Name: "name", Type: etl.TypeText}}, src.Schema)
	etltest.RequireRows(t, []etl.Row{{int64(1), "ann"}, {int64(2), nil}}, src.Rows)

	require.PanicsWithValue(t, "etltest.SourceOf: etl: int is not a struct; struct mapping needs a struct or a pointer to one",
		func() { etltest.SourceOf(1, 2) })
	require.PanicsWithValue(t, "etltest.SourceOf: etl: row 1: *etltest_test.person: is a nil pointer",
		func() { etltest.SourceOf[*person](nil) })
}

func TestSinkRefusesAnEmptyFullRefresh(t *testing.T) {
	t.Parallel()
	sink := &etltest.Sink{Table: "people"}
	sink.Seed(people, etl.Row{int64(1), "old"})
	p := pipeline(etltest.NewSource(people), sink)
	_, err := etltest.RunErr(t, p)
	require.ErrorIs(t, err, etl.ErrEmpty)
	require.Equal(t, "apply", etl.Step(err))
	require.ErrorContains(t, err, `etltest: sink "people": the extract returned no rows`)
	etltest.RequireRows(t, []etl.Row{{int64(1), "old"}}, sink.Rows())

	p.AllowEmpty = true
	res := etltest.Run(t, p)
	require.Empty(t, sink.Rows())
	etltest.RequireStats(t, etl.Stats{}, res.Stats)
}

func TestSinkCheckFailureKeepsContents(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []etl.EventKind
	var checked []string
	obs := etl.ObserverFunc(func(_ context.Context, e etl.Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e.Kind)
		if e.Check != nil {
			checked = append(checked, e.Check.Name)
		}
	})
	sink := &etltest.Sink{Table: "people", Checks: []etltest.StreamCheck{
		checks.RowCount{Max: 1, Level: etl.SeverityWarn},
		checks.UniqueKey("id"),
	}}
	sink.Seed(people, etl.Row{int64(1), "old"})
	src := etltest.NewSource(people, etl.Row{int64(7), "a"}, etl.Row{int64(7), "b"}, etl.Row{int64(8), "c"})
	p := pipeline(src, sink)
	p.Observer = obs

	res, err := etltest.RunErr(t, p)
	require.Equal(t, "check", etl.Step(err))
	r := etltest.RequireCheckFailed(t, err, "unique_key(id)")
	require.Equal(t, etl.CheckResult{
		Name: "unique_key(id)", Table: "people", Severity: etl.SeverityError,
		Expected: "no duplicate or NULL keys", Found: "1 duplicate keys", Samples: []string{"7 (2 rows)"},
	}, r)
	require.EqualError(t, err, `pipeline "people": check: check unique_key(id) failed on table people: expected no duplicate or NULL keys, found 1 duplicate keys (e.g. 7 (2 rows))`)
	etltest.RequireRows(t, []etl.Row{{int64(1), "old"}}, sink.Rows(), "a failed check leaves the previous contents")

	require.Len(t, res.Checks, 2, "every result is reported, passed or not")
	require.False(t, res.Checks[0].Passed, "the warning failed too")
	require.Equal(t, etl.SeverityWarn, res.Checks[0].Severity)
	require.Equal(t, []etl.EventKind{etl.EventStart, etl.EventCheck, etl.EventCheck, etl.EventFail}, events)
	require.Equal(t, []string{"row_count", "unique_key(id)"}, checked)

	// Fix the data: the failed warning alone does not stop the load.
	src.Rows = src.Rows[1:]
	res = etltest.Run(t, p)
	require.False(t, res.Checks[0].Passed)
	etltest.RequireRows(t, []etl.Row{{int64(7), "b"}, {int64(8), "c"}}, sink.Rows())
}

func TestCheckFuncAndLostRows(t *testing.T) {
	t.Parallel()
	// A transform that drops rows without etl.Filter breaks the row-count balance.
	drop := etl.TransformFunc(func(_ context.Context, _ *etl.Run, in etl.Stream) (etl.Stream, error) {
		return etl.Stream{Schema: in.Schema, Rows: func(yield func(etl.Row, error) bool) {
			for row, err := range in.Rows {
				if err == nil && row[0] == int64(2) {
					continue
				}
				if !yield(row, err) {
					return
				}
			}
		}}, nil
	})
	calls := 0
	count := etltest.CheckFunc(func(_ etl.Schema, rows []etl.Row, stats etl.Stats) etl.CheckResult {
		calls++
		return etl.CheckResult{Name: "custom", Passed: int64(len(rows)) == stats.RowsWritten}
	})
	sink := &etltest.Sink{Checks: []etltest.StreamCheck{count, checks.RowCount{}}}
	src := etltest.NewSource(people, etl.Row{int64(1), "a"}, etl.Row{int64(2), "b"})
	_, err := etltest.RunErr(t, pipeline(src, sink, drop))
	r := etltest.RequireCheckFailed(t, err, "row_count")
	require.Equal(t, "2 rows loaded (read 2 - rejected 0 - filtered 0)", r.Expected)
	require.Equal(t, 1, calls)
	custom := sink.Last().Checks[0]
	require.True(t, custom.Passed)
	require.Equal(t, etl.SeverityError, custom.Severity, "a check that names no severity is an error check")
	require.Equal(t, "etltest", custom.Table)
}

// fakeChecksError has the shape of package checks' *checks.Error.
type fakeChecksError struct{ r etl.CheckResult }

func (e *fakeChecksError) Error() string                { return "check " + e.r.Name + " failed" }
func (e *fakeChecksError) CheckResult() etl.CheckResult { return e.r }

func TestRequireCheckFailedFindsChecks(t *testing.T) {
	t.Parallel()
	unique := etl.CheckResult{Name: "unique_key(id)", Severity: etl.SeverityError}
	count := etl.CheckResult{Name: "row_count"}
	joined := fmt.Errorf("load: %w", errors.Join(
		errors.New("unrelated"),
		&fakeChecksError{r: unique},
		etl.WithStep("check", &multiFailure{results: []etl.CheckResult{count}}),
	))
	require.Equal(t, unique, etltest.RequireCheckFailed(t, joined, "unique_key(id)"))
	require.Equal(t, unique, etltest.RequireCheckFailed(t, joined, "unique_key"), "the name before the parenthesis matches")
	require.Equal(t, count, etltest.RequireCheckFailed(t, joined, "row_count"))
	require.Equal(t, []etl.CheckResult{unique, count}, etltest.FailedChecks(joined))
}

func TestRequireCheckFailedMessages(t *testing.T) {
	t.Parallel()
	passed := &fakeChecksError{r: etl.CheckResult{Name: "row_count", Passed: true}}
	other := &multiFailure{results: []etl.CheckResult{{Name: "unique_key(id)"}, {Name: "not_null(a)"}}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no error", nil, `expected check "row_count" to fail, but there was no error`},
		{"plain error", errors.New("disk full"), "expected check \"row_count\" to fail, but no failed check is in the error chain\n\t            \terror: disk full"},
		{"passed result", passed, `but no failed check is in the error chain`},
		{"passed among results", &multiFailure{results: []etl.CheckResult{{Name: "row_count", Passed: true}, {Name: "not_null(a)"}}},
			`expected check "row_count" to fail, but the failed checks are "not_null(a)"`},
		{"other checks failed", other, `expected check "row_count" to fail, but the failed checks are "unique_key(id)", "not_null(a)"`},
		{"prefix is not enough", &multiFailure{results: []etl.CheckResult{{Name: "row_count_x"}}}, `the failed checks are "row_count_x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := capture(t, func(tb testing.TB) { etltest.RequireCheckFailed(tb, tt.err, "row_count") })
			require.True(t, rec.stopped, "the assertion must stop the test")
			require.Contains(t, rec.message(), "Error Trace:")
			require.Contains(t, rec.message(), tt.want)
		})
	}
}

func TestRequireRows(t *testing.T) {
	t.Parallel()
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	rows := []etl.Row{{int64(1), "ann", when}, {int64(2), nil, []byte("x")}}
	shuffled := []etl.Row{rows[1], rows[0]}
	inTokyo := []etl.Row{{int64(1), "ann", when.In(time.FixedZone("JST", 9*3600))}, rows[1]}

	for name, fn := range map[string]func(tb testing.TB){
		"equal":             func(tb testing.TB) { etltest.RequireRows(tb, rows, rows) },
		"any order":         func(tb testing.TB) { etltest.RequireRowsAnyOrder(tb, rows, shuffled) },
		"times as instants": func(tb testing.TB) { etltest.RequireRows(tb, rows, inTokyo) },
		"both empty":        func(tb testing.TB) { etltest.RequireRows(tb, nil, []etl.Row{}) },
	} {
		rec := capture(t, fn)
		require.False(t, rec.Failed(), "%s: %s", name, rec.message())
	}

	tests := []struct {
		name      string
		want, got []etl.Row
		anyOrder  bool
		lines     []string
	}{
		{
			name: "changed value",
			want: []etl.Row{{int64(1), "ann"}, {int64(2), "bob"}, {int64(3), "cy"}},
			got:  []etl.Row{{int64(1), "ann"}, {int64(2), "bobby"}, {int64(3), "cy"}},
			lines: []string{
				"rows differ (in order): want 3, got 3",
				"--- want", "+++ got",
				`  (1, "ann")`, `- (2, "bob")`, `+ (2, "bobby")`, `  (3, "cy")`,
			},
		},
		{
			name:  "order matters by default",
			want:  []etl.Row{{int64(1)}, {int64(2)}},
			got:   []etl.Row{{int64(2)}, {int64(1)}},
			lines: []string{"rows differ (in order): want 2, got 2", "- (1)", "  (2)", "+ (1)"},
		},
		{
			name:  "types are shown",
			want:  []etl.Row{{int64(1), etl.Decimal("1.50"), 1.5, true, nil}},
			got:   []etl.Row{{1, "1.50", float32(1.5), "true", ""}},
			lines: []string{`- (1, decimal(1.50), float64(1.5), true, NULL)`, `+ (int(1), "1.50", float32(1.5), "true", "")`},
		},
		{
			name:     "missing and extra rows in any order",
			want:     []etl.Row{{int64(3)}, {int64(1)}, {int64(2)}},
			got:      []etl.Row{{int64(2)}, {int64(4)}, {int64(1)}, {int64(1)}},
			anyOrder: true,
			lines:    []string{"rows differ (in any order): want 3, got 4", "  (1)", "+ (1)", "  (2)", "- (3)", "+ (4)"},
		},
		{
			name:  "an empty byte slice is not a nil one",
			want:  []etl.Row{{int64(1), []byte{}}},
			got:   []etl.Row{{int64(1), []byte(nil)}},
			lines: []string{`- (1, bytes(""))`, `+ (1, bytes(nil))`},
		},
		{
			name:  "nothing loaded",
			want:  []etl.Row{{"a"}},
			got:   nil,
			lines: []string{"rows differ (in order): want 1, got 0", `- ("a")`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := capture(t, func(tb testing.TB) {
				if tt.anyOrder {
					etltest.RequireRowsAnyOrder(tb, tt.want, tt.got, "loading %s", "people")
				} else {
					etltest.RequireRows(tb, tt.want, tt.got, "loading %s", "people")
				}
			})
			require.True(t, rec.stopped, "RequireRows must stop the test")
			msg := rec.message()
			require.Contains(t, msg, "Error Trace:")
			require.Contains(t, msg, "Error:")
			require.Contains(t, msg, "Messages:   \tloading people")
			at := 0
			for _, line := range tt.lines {
				i := strings.Index(msg[at:], line)
				require.GreaterOrEqual(t, i, 0, "want %q after offset %d in:\n%s", line, at, msg)
				at += i + len(line)
			}
		})
	}
}

func TestRequireRowsElidesLongEqualRuns(t *testing.T) {
	t.Parallel()
	var want, got []etl.Row
	for i := range 100 {
		want = append(want, etl.Row{int64(i)})
		got = append(got, etl.Row{int64(i)})
	}
	got[50] = etl.Row{int64(-50)}
	rec := capture(t, func(tb testing.TB) { etltest.RequireRows(tb, want, got) })
	msg := rec.message()
	require.Contains(t, msg, "  ... 48 equal rows")
	require.Contains(t, msg, "  (49)\n\t            \t- (50)\n\t            \t+ (-50)\n\t            \t  (51)")
	require.Contains(t, msg, "  ... 47 equal rows")
	require.NotContains(t, msg, "(10)")
}

func TestRequireStats(t *testing.T) {
	t.Parallel()
	rec := capture(t, func(tb testing.TB) {
		etltest.RequireStats(tb, etl.Stats{RowsRead: 3, RowsWritten: 3}, etl.Stats{RowsRead: 3, RowsWritten: 3, Duration: time.Hour})
	})
	require.False(t, rec.Failed(), "Duration is ignored: %s", rec.message())

	rec = capture(t, func(tb testing.TB) {
		etltest.RequireStats(tb, etl.Stats{RowsRead: 3, RowsWritten: 3}, etl.Stats{RowsRead: 3, RowsWritten: 2, Duration: time.Hour})
	})
	require.True(t, rec.stopped)
	msg := rec.message()
	require.Contains(t, msg, "Not equal:")
	require.Contains(t, msg, "Diff:")
	require.Contains(t, msg, "- RowsWritten: (int64) 3,")
	require.Contains(t, msg, "+ RowsWritten: (int64) 2,")
	require.Contains(t, msg, "run stats differ (Duration is not compared)")
}

func TestRunFailsTheTest(t *testing.T) {
	t.Parallel()
	p := pipeline(&etltest.Source{Err: errors.New("no such file")}, &etltest.Sink{})
	rec := capture(t, func(tb testing.TB) { etltest.Run(tb, p) })
	require.True(t, rec.stopped)
	require.Contains(t, rec.message(), `pipeline run failed: pipeline "people": extract: no such file`)
	require.Contains(t, rec.message(), "failed step: extract")

	_, err := etltest.RunErr(t, &etl.Pipeline{Name: "x"})
	require.EqualError(t, err, `etl: pipeline "x" has no source`)
}

func TestSinkLoadWithoutPipeline(t *testing.T) {
	t.Parallel()
	sink := &etltest.Sink{}
	_, err := sink.Load(t.Context(), nil, etl.SliceStream(people, []etl.Row{{int64(1)}}))
	require.EqualError(t, err, `stage: etltest: sink "etltest": row 1 has 1 values, the schema has 2 columns`)
	_, err = sink.Load(t.Context(), nil, etl.Stream{Schema: people})
	require.EqualError(t, err, `stage: etltest: sink "etltest": the stream has no Rows`)
	res, err := sink.Load(t.Context(), nil, etl.SliceStream(people, []etl.Row{{int64(1), "a"}}))
	require.NoError(t, err)
	require.Equal(t, etl.LoadResult{RowsWritten: 1}, res)
	require.Equal(t, "etltest", sink.Last().Run.Pipeline)

	// A load whose context ends fails, as a SQL sink's statement does, and keeps the rows.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = sink.Load(ctx, nil, etl.SliceStream(people, []etl.Row{{int64(2), "b"}}))
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "stage", etl.Step(err))
	etltest.RequireRows(t, []etl.Row{{int64(1), "a"}}, sink.Rows())
}

// multiFailure is an error carrying several results, as a sink of your own may return.
type multiFailure struct{ results []etl.CheckResult }

func (m *multiFailure) Error() string                   { return "checks failed" }
func (m *multiFailure) CheckResults() []etl.CheckResult { return m.results }
