package httpjson_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
	"github.com/sluice-etl/sluice/sources/httpjson"
)

type order struct {
	id      int64
	status  string
	updated time.Time
	deleted bool
}

// ordersAPI lists the orders changed since a time (inclusive, as many APIs are), oldest
// change first, two to a page, with a keyset cursor: the next page starts after the last
// order of this one. onPage runs before a page is served, so a test can change an order
// while a run pages through, as happens for real.
type ordersAPI struct {
	mu     sync.Mutex
	orders map[int64]*order
	since  []string
	onPage func(after string)
	stale  string // a record the last page repeats, as a lagging replica might serve it
}

func (a *ordersAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	after := r.URL.Query().Get("after")
	if a.onPage != nil {
		a.onPage(after)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var since time.Time
	if s := r.URL.Query().Get("updated_since"); s != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, s); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	if after == "" {
		a.since = append(a.since, r.URL.Query().Get("updated_since"))
	}
	key := func(o *order) string { return fmt.Sprintf("%s/%03d", o.updated.Format(time.RFC3339Nano), o.id) }
	var list []*order
	for _, o := range a.orders {
		if !o.updated.Before(since) && key(o) > after {
			list = append(list, o)
		}
	}
	slices.SortFunc(list, func(x, y *order) int {
		if c := x.updated.Compare(y.updated); c != 0 {
			return c
		}
		return int(x.id - y.id)
	})
	var recs []string
	if len(list) <= 2 && a.stale != "" {
		defer func() { a.stale = "" }()
		list = append(list, nil)
	}
	next := "null"
	for _, o := range list[:min(2, len(list))] {
		if o == nil {
			recs = append(recs, a.stale)
			continue
		}
		recs = append(recs, fmt.Sprintf(`{"id":"%d","attributes":{"status":%q},"updated_at":%q,"deleted":%t}`,
			o.id, o.status, o.updated.Format(time.RFC3339Nano), o.deleted))
		next = strconv.Quote(key(o))
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"data":[%s],"next":%s}`, strings.Join(recs, ","), next)
}

func (a *ordersAPI) set(o order) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.orders[o.id] = &o
}

// TestMergeIntoPostgres loads an API into PostgreSQL through sinks/postgres' Merge, run
// after run. The API lists a record twice in one run (it changed while the run paged
// through), and again in the next run (Since is inclusive, and the look-back re-reads):
// the source yields every copy, and the merge keeps one row per key, the latest by the
// cursor, with soft deletes applied and the watermark stored with the rows.
func TestMergeIntoPostgres(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	api := &ordersAPI{orders: map[int64]*order{}}
	for i := int64(1); i <= 5; i++ {
		api.set(order{id: i, status: "new", updated: t0.Add(time.Duration(i) * time.Minute)})
	}
	api.set(order{id: 5, status: "new", updated: t0.Add(5 * time.Minute), deleted: true})
	// Order 1 changes after the run has read it on page 1: its new version is listed last.
	api.onPage = func(after string) {
		if after != "" {
			api.set(order{id: 1, status: "paid", updated: t0.Add(10 * time.Minute)})
			api.onPage = nil
		}
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	src, err := httpjson.New(httpjson.Config{
		URL:        srv.URL + "/v1/orders",
		Header:     http.Header{"Authorization": {"Bearer " + token}},
		Records:    "data",
		Pagination: httpjson.NextCursor{Path: "next", Param: "after"},
		Schema: etl.Schema{
			{Name: "id", Type: etl.TypeInt64, NotNull: true},
			{Name: "status", Type: etl.TypeText},
			{Name: "updated_at", Type: etl.TypeTimestamp},
			{Name: "deleted", Type: etl.TypeBool},
		},
		Paths:    map[string]string{"status": "attributes.status"},
		Cursor:   "updated_at",
		Since:    "updated_since",
		LookBack: time.Minute,
		Deleted:  "deleted",
		Retry:    fast,
	})
	require.NoError(t, err)
	p := &etl.Pipeline{
		Name:   "orders_sync",
		Source: src,
		// The merge's Cursor and Deleted default to what the source's stream declares.
		Sink: &postgres.Merge{
			Target: postgres.Target{Pool: db.Pool, Table: "orders", Key: []string{"id"}, Create: true,
				Checks: []checks.Check{checks.UniqueKey("id")}},
		},
	}
	table := func() []string {
		rows, err := db.Pool.Query(ctx, `SELECT id, status, updated_at FROM orders ORDER BY id`)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			var id int64
			var status string
			var at time.Time
			err := r.Scan(&id, &status, &at)
			return fmt.Sprintf("%d %s %s", id, status, at.UTC().Format(time.TimeOnly)), err
		})
		require.NoError(t, err)
		return out
	}
	state := &postgres.State{Pool: db.Pool}

	res, err := p.Run(ctx, etl.Window{})
	require.NoError(t, err)
	// Six records read: order 1 twice. Order 5 arrived deleted, so it is not inserted.
	require.Equal(t, int64(6), res.Stats.RowsRead)
	require.Equal(t, []string{"1 paid 12:10:00", "2 new 12:02:00", "3 new 12:03:00", "4 new 12:04:00"}, table())
	wm, err := state.Watermark(ctx, "orders_sync")
	require.NoError(t, err)
	require.True(t, wm.(time.Time).Equal(t0.Add(10*time.Minute)), "%v", wm)

	// The next run asks for changes since the watermark less the look-back, and gets order
	// 1 again (unchanged), order 2 changed, order 3 deleted, order 6 new.
	api.set(order{id: 2, status: "shipped", updated: t0.Add(11 * time.Minute)})
	api.set(order{id: 3, status: "new", updated: t0.Add(12 * time.Minute), deleted: true})
	api.set(order{id: 6, status: "new", updated: t0.Add(13 * time.Minute)})
	res, err = p.Run(ctx, etl.Window{})
	require.NoError(t, err)
	require.Equal(t, int64(4), res.Stats.RowsRead)
	require.Equal(t, []string{"1 paid 12:10:00", "2 shipped 12:11:00", "4 new 12:04:00", "6 new 12:13:00"}, table())
	wm, err = state.Watermark(ctx, "orders_sync")
	require.NoError(t, err)
	require.True(t, wm.(time.Time).Equal(t0.Add(13*time.Minute)), "%v", wm)

	// Nothing changed: the look-back re-reads order 3's deletion and order 6, and the table
	// stays as it is.
	res, err = p.Run(ctx, etl.Window{})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Stats.RowsRead)
	require.Equal(t, []string{"1 paid 12:10:00", "2 shipped 12:11:00", "4 new 12:04:00", "6 new 12:13:00"}, table())
	require.Equal(t, []string{"", "2026-11-01T12:09:00Z", "2026-11-01T12:12:00Z"}, api.since)

	// The API repeats an older version of order 4 after its new one: the merge keeps the
	// version with the highest cursor, not the last to arrive.
	api.set(order{id: 4, status: "packed", updated: t0.Add(20 * time.Minute)})
	api.stale = `{"id":4,"attributes":{"status":"new"},"updated_at":"2026-11-01T12:04:00Z","deleted":false}`
	res, err = p.Run(ctx, etl.Window{})
	require.NoError(t, err)
	require.Equal(t, int64(4), res.Stats.RowsRead) // orders 3 and 6 (look-back), order 4 twice
	require.Equal(t, []string{"1 paid 12:10:00", "2 shipped 12:11:00", "4 packed 12:20:00", "6 new 12:13:00"}, table())
}

// TestFailedPageRollsBackTheLoad: when a page fails after some of its records went to
// the sink, the load rolls back: the table and the watermark stay as they were, and the
// run record names the page without the credentials.
func TestFailedPageRollsBackTheLoad(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	fail := true
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Query().Get("page") {
		case "1":
			fmt.Fprint(w, `[{"id":1,"name":"a"},{"id":"x"},{"id":2,"name":"b"}]`)
		case "2":
			fmt.Fprint(w, `[{"id":3,"name":"c"},`)
			if fail {
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
			fmt.Fprint(w, `{"id":4,"name":"d"}]`)
		default:
			fmt.Fprint(w, `[]`)
		}
	}))
	t.Cleanup(srv.Close)
	src := newSource(t, httpjson.Config{URL: srv.URL + "/v1/things?api_key=" + apiKey, Pagination: httpjson.PageNumber{Param: "page"}, MaxBadRecords: 1})
	p := &etl.Pipeline{Name: "things", Source: src,
		Sink: &postgres.Merge{Target: postgres.Target{Pool: db.Pool, Table: "things", Key: []string{"id"}, Create: true}}}

	_, err := p.Run(ctx, etl.Window{})
	require.ErrorContains(t, err, "(page 2): record 2")
	requireNoSecrets(t, err.Error())
	var exists bool
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT to_regclass('things') IS NOT NULL`).Scan(&exists))
	require.False(t, exists, "the failed load left a table behind")
	var status, step, msg, rejects string
	record := func() {
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT status, coalesce(step, ''), coalesce(error, ''), coalesce(rejects, '')
			FROM sluice_runs WHERE pipeline = 'things' ORDER BY started_at DESC LIMIT 1`).Scan(&status, &step, &msg, &rejects))
		requireNoSecrets(t, msg+rejects)
	}
	record()
	require.Equal(t, "failed", status)
	require.Equal(t, "extract", step)
	require.Contains(t, msg, srv.URL+"/v1/things?... (page 2): record 2")
	require.Contains(t, rejects, "(page 1)")

	mu.Lock()
	fail = false
	mu.Unlock()
	res, err := p.Run(ctx, etl.Window{})
	require.NoError(t, err)
	require.Equal(t, int64(4), res.Stats.RowsWritten)
	record()
	require.Contains(t, rejects, `invalid value for int64: \"x\"`)
}
