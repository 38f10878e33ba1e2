package main

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/etl/etltest"
)

// pipelineOf runs the example's transform between an in-memory source and sink that has
// the example's in-stream checks, as a user's own pipeline test would.
func pipelineOf(src *etltest.Source, sink *etltest.Sink, maxBad int) *etl.Pipeline {
	return &etl.Pipeline{
		Name:       table,
		Source:     src,
		Transforms: []etl.Transformer{cleanNames("names.csv", maxBad)},
		Sink:       sink,
	}
}

// newSink returns an in-memory sink running the same checks as the real targets.
func newSink() *etltest.Sink {
	return &etltest.Sink{Table: table, Checks: []etltest.StreamCheck{
		checks.RowCount{Min: 1}, checks.UniqueKey("name"), checks.DuplicateRows{},
	}}
}

func TestCleanNamesTrimsAndRejects(t *testing.T) {
	t.Parallel()
	src := etltest.NewSource(schema,
		etl.Row{"  Adaleigh ", "F"},
		etl.Row{"Amryn", " Unisex\t"},
		etl.Row{"Zed", "X"},                        // unknown gender
		etl.Row{"   ", "M"},                        // empty once trimmed
		etl.Row{strings.Repeat("n", 33), "M"},      // longer than varchar(32)
		etl.Row{"Ömer", "M"},                       // 4 characters, 5 bytes: fits
		etl.Row{"Jo", "f"},                         // genders are case-sensitive
		etl.Row{strings.Repeat("é", 32), "Unisex"}, // 32 characters, 64 bytes: fits
		etl.Row{"Aryion", ""},                      // no gender
		etl.Row{"Apurva", "F"},
	)
	sink := newSink()

	res := etltest.Run(t, pipelineOf(src, sink, 10))

	etltest.RequireRows(t, []etl.Row{
		{"Adaleigh", "F"},
		{"Amryn", "Unisex"},
		{"Ömer", "M"},
		{strings.Repeat("é", 32), "Unisex"},
		{"Apurva", "F"},
	}, sink.Rows())
	etltest.RequireStats(t, etl.Stats{RowsRead: 10, RowsRejected: 5, RowsWritten: 5}, res.Stats)
	var rejects []string
	for _, r := range res.Rejects {
		rejects = append(rejects, r.Error())
	}
	require.Equal(t, []string{
		`names.csv:4: column "gender": gender "X" is not F, M or Unisex`,
		`names.csv:5: column "name": empty name`,
		`names.csv:6: column "name": name "` + strings.Repeat("n", 33) + `" is longer than 32 characters`,
		`names.csv:8: column "gender": gender "f" is not F, M or Unisex`,
		`names.csv:10: column "gender": gender "" is not F, M or Unisex`,
	}, rejects)
	for _, c := range res.Checks {
		require.True(t, c.Passed, "%+v", c)
	}
	etltest.RequireRows(t, []etl.Row{{"  Adaleigh ", "F"}}, src.Rows[:1], "the source's rows must stay as given")
}

func TestCleanNamesFailsPastMaxBadRows(t *testing.T) {
	t.Parallel()
	src := etltest.NewSource(schema, etl.Row{"Ann", "F"}, etl.Row{"Bob", "?"}, etl.Row{"Cy", "??"}, etl.Row{"Di", "F"})
	sink := newSink()
	sink.Seed(schema, etl.Row{"Old", "M"})

	_, err := etltest.RunErr(t, pipelineOf(src, sink, 1))
	require.ErrorContains(t, err, `2 rows rejected, more than the 1 allowed; the last: names.csv:4: column "gender": gender "??" is not F, M or Unisex`)
	etltest.RequireRows(t, []etl.Row{{"Old", "M"}}, sink.Rows(), "a failed load must leave the previous rows")

	// One bad row is within the limit.
	src.Rows = src.Rows[:3:3]
	src.Rows[2] = etl.Row{"Cy", "M"}
	res := etltest.Run(t, pipelineOf(src, sink, 1))
	etltest.RequireStats(t, etl.Stats{RowsRead: 3, RowsRejected: 1, RowsWritten: 2}, res.Stats)
}

func TestCleanNamesDuplicateFailsUniqueKey(t *testing.T) {
	t.Parallel()
	// " Ann" and "Ann" are the same name once trimmed: the transform runs before the check.
	src := etltest.NewSource(schema, etl.Row{"Ann", "F"}, etl.Row{"Bob", "M"}, etl.Row{" Ann", "Unisex"})
	sink := newSink()
	sink.Seed(schema, etl.Row{"Old", "M"})

	_, err := etltest.RunErr(t, pipelineOf(src, sink, 0))
	got := etltest.RequireCheckFailed(t, err, "unique_key")
	require.Equal(t, "unique_key(name)", got.Name)
	require.Equal(t, table, got.Table)
	require.Contains(t, strings.Join(got.Samples, "; "), "Ann")
	require.ErrorContains(t, err, "Ann")
	require.Empty(t, etltest.FailedChecks(err)[1:], "only the key check fails: the rows differ in gender")
	etltest.RequireRows(t, []etl.Row{{"Old", "M"}}, sink.Rows())
}

// recorder is a testing.TB that records failures instead of failing, so that a test can
// read the message an etltest assertion prints. FailNow ends the calling goroutine, as the
// testing package does, so capture runs the assertion on a goroutine of its own.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	msgs    []string
	stopped bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) FailNow() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	runtime.Goexit()
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

// TestFailingAssertionMessage shows what a user sees when the transform regresses: the
// row diff names the row that changed.
func TestFailingAssertionMessage(t *testing.T) {
	t.Parallel()
	src := etltest.NewSource(schema, etl.Row{"Ann", "F"}, etl.Row{" Bob ", "M"})
	sink := newSink()
	etltest.Run(t, pipelineOf(src, sink, 0))

	rec := capture(t, func(tb testing.TB) {
		// What the test would say if trimming were forgotten.
		etltest.RequireRows(tb, []etl.Row{{"Ann", "F"}, {" Bob ", "M"}}, sink.Rows(), "loading %s", table)
	})
	require.True(t, rec.stopped, "a failed RequireRows must stop the test")
	msg := rec.message()
	require.Contains(t, msg, "rows differ (in order): want 2, got 2")
	require.Contains(t, msg, `  ("Ann", "F")`)
	require.Contains(t, msg, `- (" Bob ", "M")`)
	require.Contains(t, msg, `+ ("Bob", "M")`)
	require.Contains(t, msg, "loading name_gender")

	rec = capture(t, func(tb testing.TB) {
		etltest.RequireStats(tb, etl.Stats{RowsRead: 2, RowsRejected: 1, RowsWritten: 1}, sink.Last().Stats)
	})
	require.True(t, rec.stopped)
	require.Contains(t, rec.message(), "RowsRejected: (int64) 1")
	require.Contains(t, rec.message(), "RowsRejected: (int64) 0")

	// And the passing forms pass.
	rec = capture(t, func(tb testing.TB) {
		etltest.RequireRows(tb, []etl.Row{{"Ann", "F"}, {"Bob", "M"}}, sink.Rows())
		etltest.RequireStats(tb, etl.Stats{RowsRead: 2, RowsWritten: 2}, sink.Last().Stats)
	})
	require.False(t, rec.stopped, rec.message())
	require.Empty(t, rec.message())
}
