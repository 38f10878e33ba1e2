package load_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

// fakeClock advances by step on every reading, so a load "runs" as long as the test says
// without sleeping.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

type recorder struct {
	mu     sync.Mutex
	events []etl.Event
}

func (r *recorder) Observe(_ context.Context, e etl.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) kinds(k etl.EventKind) []etl.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []etl.Event
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func TestLongLoadsReportProgress(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"))
	require.NoError(t, err)
	defer db.Close()
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}}
	const rows = 5000
	source := etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: schema, Rows: func(yield func(etl.Row, error) bool) {
			row := etl.Row{int64(0)}
			for i := range rows {
				row[0] = int64(i)
				if !yield(row, nil) {
					return
				}
			}
		}}, nil
	})
	rec := &recorder{}
	// The protocol reads the clock every 256 rows; at 1s a reading and a 5s interval, a
	// 5000-row load spans about 20 readings and must report several times.
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), step: time.Second}
	p := &etl.Pipeline{Name: "progress", Source: source, Observer: rec, ProgressEvery: 5 * time.Second,
		Sink: &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", Key: []string{"id"}, Create: true}}}
	run := &etl.Run{Now: clock.Now}
	_, err = p.RunWith(context.Background(), run)
	require.NoError(t, err)

	progress := rec.kinds(etl.EventProgress)
	require.GreaterOrEqual(t, len(progress), 2, "a load longer than the interval reports progress")
	last := int64(0)
	for _, e := range progress {
		require.Greater(t, e.Stats.RowsWritten, last, "progress counts rows staged so far, rising")
		require.Positive(t, e.Stats.Duration)
		last = e.Stats.RowsWritten
	}
	require.Less(t, last, int64(rows))
	require.Len(t, rec.kinds(etl.EventComplete), 1)
}

func TestShortLoadsStayQuiet(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"))
	require.NoError(t, err)
	defer db.Close()
	rec := &recorder{}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} // time stands still
	p := &etl.Pipeline{Name: "quiet", Observer: rec, ProgressEvery: time.Second,
		Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			rows := make([]etl.Row, 3000)
			for i := range rows {
				rows[i] = etl.Row{int64(i)}
			}
			return etl.SliceStream(etl.Schema{{Name: "id", Type: etl.TypeInt64}}, rows), nil
		}),
		Sink: &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", Key: []string{"id"}, Create: true}}}
	_, err = p.RunWith(context.Background(), &etl.Run{Now: clock.Now})
	require.NoError(t, err)
	require.Empty(t, rec.kinds(etl.EventProgress))
}
