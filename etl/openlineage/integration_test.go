package openlineage_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/etl/openlineage"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/sqlite"
	"github.com/sluice-etl/sluice/sources/csv"
	pgsource "github.com/sluice-etl/sluice/sources/postgres"
)

// marquez is a lineage endpoint that keeps what it was sent.
type marquez struct {
	mu     sync.Mutex
	events []map[string]any
}

func newMarquez(t *testing.T) (*marquez, *openlineage.Emitter) {
	m := &marquez{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev map[string]any
		assert.NoError(t, json.Unmarshal(body, &ev))
		m.mu.Lock()
		m.events = append(m.events, ev)
		m.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	return m, openlineage.NewHTTP(srv.URL+"/api/v1/lineage", openlineage.Config{Namespace: "tests"})
}

func (m *marquez) take(t *testing.T, em *openlineage.Emitter) []map[string]any {
	t.Helper()
	require.NoError(t, em.Close(context.Background()))
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.events
}

func dataset(t *testing.T, ev map[string]any, side string) (namespace, name string) {
	t.Helper()
	ds := ev[side].([]any)
	require.Len(t, ds, 1, "%s of %s", side, ev["eventType"])
	d := ds[0].(map[string]any)
	return d["namespace"].(string), d["name"].(string)
}

func TestFullRefreshEmitsLineageNamingItsFileAndTable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "name_gender.csv")
	require.NoError(t, os.WriteFile(path, []byte("name,gender\nAdaleigh,F\nAmryn,Unisex\n"), 0o600))
	src, err := csv.New(csv.Config{Path: path, Schema: etl.Schema{{Name: "name"}, {Name: "gender"}}})
	require.NoError(t, err)
	db, err := sqlite.Open(filepath.Join(dir, "wh.db"))
	require.NoError(t, err)
	defer db.Close()

	m, em := newMarquez(t)
	p := &etl.Pipeline{Name: "name_gender", Source: src, Observer: em,
		Sink: &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "name_gender", Key: []string{"name"}, Create: true,
			Checks: []checks.Check{checks.UniqueKey("name")}}}}
	res, err := p.Run(context.Background(), etl.Window{})
	require.NoError(t, err)

	evs := m.take(t, em)
	require.Len(t, evs, 2)
	for i, kind := range []string{"START", "COMPLETE"} {
		ev := evs[i]
		require.Equal(t, kind, ev["eventType"])
		require.Equal(t, res.RunID, ev["run"].(map[string]any)["runId"])
		require.Equal(t, map[string]any{"namespace": "tests", "name": "name_gender"}, ev["job"])
		ns, name := dataset(t, ev, "inputs")
		require.Equal(t, src.Datasets()[0].Namespace, ns)
		require.Contains(t, name, "name_gender.csv", "the input is the real file")
		ns, name = dataset(t, ev, "outputs")
		require.Equal(t, "file", ns)
		require.Equal(t, filepath.ToSlash(db.Path())+"/name_gender", name, "the output is the real table")
	}
}

func TestIncrementalSyncEmitsLineageAndAFailedCheckEmitsFail(t *testing.T) {
	t.Parallel()
	pg := pgtest.New(t)
	ctx := context.Background()
	_, err := pg.Pool.Exec(ctx, `CREATE TABLE orders (id bigint PRIMARY KEY, qty int, modified timestamptz NOT NULL, deleted boolean NOT NULL DEFAULT false);
		INSERT INTO orders VALUES (1, 5, now() - interval '1 hour'), (2, 7, now() - interval '1 hour')`)
	require.NoError(t, err)
	src, err := pgsource.New(pg.Pool, pgsource.Config{Table: "orders", Cursor: "modified", Deleted: "deleted"})
	require.NoError(t, err)
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "wh.db"))
	require.NoError(t, err)
	defer db.Close()

	m, em := newMarquez(t)
	sink := &sqlite.Merge{Target: sqlite.Target{DB: db, Table: "orders", Key: []string{"id"}, Create: true,
		Checks: []checks.Check{checks.SQL("qty_positive", "SELECT id FROM {{table}} WHERE qty <= 0")}}}
	p := &etl.Pipeline{Name: "orders_sync", Source: src, Sink: sink, Observer: em}
	_, err = p.Run(ctx, etl.Window{})
	require.NoError(t, err)

	_, err = pg.Pool.Exec(ctx, `UPDATE orders SET qty = -1, modified = now() - interval '1 minute' WHERE id = 2`)
	require.NoError(t, err)
	_, err = p.Run(ctx, etl.Window{})
	require.Error(t, err)

	evs := m.take(t, em)
	require.Len(t, evs, 4)
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev["eventType"].(string))
		ns, name := dataset(t, ev, "inputs")
		require.Equal(t, src.Datasets()[0].Namespace, ns)
		require.Contains(t, name, pg.Schema+".orders", "the input is the real source table")
		ns, name = dataset(t, ev, "outputs")
		require.Equal(t, "file", ns)
		require.Equal(t, filepath.ToSlash(db.Path())+"/orders", name)
	}
	require.Equal(t, []string{"START", "COMPLETE", "START", "FAIL"}, kinds)
	msg := evs[3]["run"].(map[string]any)["facets"].(map[string]any)["errorMessage"].(map[string]any)["message"]
	require.Contains(t, msg, "sql(qty_positive)")
}
