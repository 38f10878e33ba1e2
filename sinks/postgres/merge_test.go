package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
	"github.com/stretchr/testify/require"
)

var itemSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64}, {Name: "name"}, {Name: "qty", Type: etl.TypeInt64},
	{Name: "modified", Type: etl.TypeTimestamp}, {Name: "deleted", Type: etl.TypeBool},
}

const itemTableSQL = `CREATE TABLE %s (id bigint PRIMARY KEY, name text, qty bigint, modified timestamptz, deleted boolean)`

// itemTableNoKeySQL has no unique index, so a merge into it deletes and inserts instead of
// upserting.
const itemTableNoKeySQL = `CREATE TABLE %s (id bigint NOT NULL, name text, qty bigint, modified timestamptz, deleted boolean)`

type srcRow struct {
	name     string
	qty      int64
	modified time.Time
	deleted  bool
}

func (r srcRow) row(id int64) etl.Row { return etl.Row{id, r.name, r.qty, r.modified, r.deleted} }

// sourceModel is a source table with created/modified/deleted columns, held in memory,
// that an incremental extractor reads with a look-back.
type sourceModel struct {
	rows     map[int64]srcRow
	now      time.Time
	extras   []etl.Row // older versions of a key seen in the same batch (a change feed)
	lookback time.Duration
	rnd      *rand.Rand
}

func (m *sourceModel) tick() time.Time {
	m.now = m.now.Add(time.Second)
	return m.now
}

// extractor reads rows with modified > watermark - lookback, in random order, and
// advances the watermark to the highest modified it yielded.
func (m *sourceModel) extractor() etl.Extractor {
	return etl.ExtractFunc(func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: itemSchema, Rows: func(yield func(etl.Row, error) bool) {
			var from time.Time
			if wm, ok := run.Watermark(); ok {
				from = wm.(time.Time).Add(-m.lookback)
			}
			var out []etl.Row
			for id, r := range m.rows {
				if r.modified.After(from) {
					out = append(out, r.row(id))
				}
			}
			for _, r := range m.extras {
				if r[3].(time.Time).After(from) {
					out = append(out, r)
				}
			}
			slices.SortFunc(out, func(a, b etl.Row) int { return int(a[0].(int64) - b[0].(int64)) })
			m.rnd.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			var max time.Time
			for _, r := range out {
				if mod := r[3].(time.Time); mod.After(max) {
					max = mod
				}
				if !yield(r, nil) {
					return
				}
			}
			if !max.IsZero() {
				run.Advance(max)
			}
		}}, nil
	})
}

// mutate applies a random batch: inserts, updates, soft deletes, several versions of one
// key, and rows that commit late with an older modified time.
func (m *sourceModel) mutate() {
	m.extras = nil
	ids := func(deleted bool) []int64 {
		var out []int64
		for id, r := range m.rows {
			if r.deleted == deleted {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	for range 1 + m.rnd.IntN(8) {
		live := ids(false)
		switch op := m.rnd.IntN(6); {
		case op == 0 || len(live) == 0: // insert, or revive a deleted key
			id := int64(1 + m.rnd.IntN(40))
			if r, ok := m.rows[id]; ok && !r.deleted {
				continue
			}
			m.rows[id] = srcRow{name: fmt.Sprintf("n%d", m.rnd.IntN(1000)), qty: m.rnd.Int64N(100), modified: m.tick()}
		case op == 1: // update
			id := live[m.rnd.IntN(len(live))]
			r := m.rows[id]
			r.qty, r.modified = m.rnd.Int64N(100), m.tick()
			m.rows[id] = r
		case op == 2: // soft delete
			id := live[m.rnd.IntN(len(live))]
			r := m.rows[id]
			r.deleted, r.modified = true, m.tick()
			m.rows[id] = r
		case op == 3: // two versions of one key in the batch
			id := live[m.rnd.IntN(len(live))]
			r := m.rows[id]
			r.name, r.modified = "intermediate", m.tick()
			m.extras = append(m.extras, r.row(id))
			r.name, r.modified = "final", m.tick()
			m.rows[id] = r
		case op == 4: // a late commit: modified is older than the latest change seen
			// A source never commits a key's version older than its previous one.
			id := live[m.rnd.IntN(len(live))]
			if slices.ContainsFunc(m.extras, func(e etl.Row) bool { return e[0] == id }) {
				continue
			}
			r := m.rows[id]
			mod := m.now.Add(-time.Duration(1+m.rnd.IntN(int(m.lookback/time.Second/2))) * time.Second)
			if !mod.After(r.modified) {
				mod = r.modified.Add(time.Second)
			}
			r.qty, r.modified = -1, mod
			m.rows[id] = r
		default: // an untouched key gets a new version with the same content
			id := live[m.rnd.IntN(len(live))]
			r := m.rows[id]
			r.modified = m.tick()
			m.rows[id] = r
		}
	}
}

func (m *sourceModel) want() []string {
	out := []string{}
	ids := make([]int64, 0, len(m.rows))
	for id := range m.rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if r := m.rows[id]; !r.deleted {
			out = append(out, fmt.Sprintf("%d|%s|%d|%s", id, r.name, r.qty, r.modified.UTC().Format(time.RFC3339)))
		}
	}
	return out
}

func itemContents(t *testing.T, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT format('%s|%s|%s|%s', id, name, qty,
		to_char(modified AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) FROM `+pgx.Identifier{table}.Sanitize()+` ORDER BY id`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

func TestMergeProperty(t *testing.T) {
	t.Parallel()
	const workers, perWorker = 8, 25 // 200 cases
	for w := range workers {
		t.Run(fmt.Sprint("worker", w), func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			ctx := context.Background()
			for c := range perWorker {
				seed := uint64(w*perWorker + c)
				table := fmt.Sprintf("items_%d", c)
				// Half the cases upsert (the table has a primary key); half delete and insert.
				ddl, key := itemTableSQL, []string(nil)
				if c%2 == 1 {
					ddl, key = itemTableNoKeySQL, []string{"id"}
				}
				_, err := db.Pool.Exec(ctx, fmt.Sprintf(ddl, table))
				require.NoError(t, err)
				m := &sourceModel{rows: map[int64]srcRow{}, now: t0, lookback: 10 * time.Second, rnd: rand.New(rand.NewPCG(seed, 7))}
				p := &etl.Pipeline{Name: table, Source: m.extractor(), Sink: &postgres.Merge{
					Target: postgres.Target{Pool: db.Pool, Table: table, Key: key, Checks: []checks.Check{checks.UniqueKey()}},
					Cursor: "modified", Deleted: "deleted",
				}}
				for b := range 2 + m.rnd.IntN(2) {
					m.mutate()
					for r := range 1 + m.rnd.IntN(3)/2 { // a third of the syncs run twice
						_, err := p.Run(ctx, etl.Window{})
						require.NoError(t, err, "seed %d batch %d run %d", seed, b, r)
						require.Equal(t, m.want(), itemContents(t, db.Pool, table), "seed %d batch %d run %d", seed, b, r)
					}
				}
			}
		})
	}
}

func TestMergeKeepDeletedAndDeletedAt(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE t (id bigint PRIMARY KEY, v text, deleted_at timestamptz)`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "v"}, {Name: "deleted_at", Type: etl.TypeTimestamp}}
	load := func(m *postgres.Merge, rows ...etl.Row) etl.Result {
		res, err := (&etl.Pipeline{Name: "m", Sink: m, Source: source(func() etl.Stream { return etl.SliceStream(schema, rows) })}).Run(ctx, etl.Window{})
		require.NoError(t, err)
		return res
	}
	hard := &postgres.Merge{Target: postgres.Target{Pool: db.Pool, Table: "t"}, Deleted: "deleted_at"}
	load(hard, etl.Row{int64(1), "a", nil}, etl.Row{int64(2), "b", nil}, etl.Row{int64(3), "c", nil})
	res := load(hard, etl.Row{int64(2), "b", t0}, etl.Row{int64(9), "never there", t0})
	require.EqualValues(t, 1, res.Stats.RowsDeleted)
	require.EqualValues(t, 0, res.Stats.RowsWritten)
	soft := &postgres.Merge{Target: postgres.Target{Pool: db.Pool, Table: "t"}, Deleted: "deleted_at", KeepDeleted: true}
	load(soft, etl.Row{int64(3), "c", t0})
	var got []string
	rows, err := db.Pool.Query(ctx, `SELECT id || ':' || (deleted_at IS NOT NULL) FROM t ORDER BY id`)
	require.NoError(t, err)
	got, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"1:false", "3:true"}, got)
}

func TestMergeReconcileDeletesRowsGoneFromTheSource(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE t (region text, id bigint, v text, PRIMARY KEY (region, id))`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "region"}, {Name: "id", Type: etl.TypeInt64}, {Name: "v"}}
	keySchema := etl.Schema{{Name: "region"}, {Name: "id", Type: etl.TypeInt64}}
	src := []etl.Row{{"eu", int64(1), "a"}, {"eu", int64(2), "b"}, {"eu", int64(3), "c"}, {"us", int64(1), "x"}, {"us", int64(2), "y"}}
	keys := func(region string) etl.Extractor {
		return etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			var out []etl.Row
			for _, r := range src {
				if region == "" || r[0] == region {
					out = append(out, etl.Row{r[0], r[1]})
				}
			}
			return etl.SliceStream(keySchema, out), nil
		})
	}
	sync := func(changed []etl.Row, rec *postgres.Reconcile) etl.Result {
		m := &postgres.Merge{Target: postgres.Target{Pool: db.Pool, Table: "t"}, Reconcile: rec}
		res, err := (&etl.Pipeline{Name: "r", Sink: m, Source: source(func() etl.Stream { return etl.SliceStream(schema, changed) })}).Run(ctx, etl.Window{})
		require.NoError(t, err)
		return res
	}
	contents := func() []string {
		rows, err := db.Pool.Query(ctx, `SELECT region || id || v FROM t ORDER BY 1`)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return out
	}
	sync(src, nil)
	// Hard deletes at the source: eu/2 and us/1 vanish without a tombstone.
	src = []etl.Row{{"eu", int64(1), "a"}, {"eu", int64(3), "c2"}, {"us", int64(2), "y"}}
	// Scoped to eu, only eu's keys are read and only eu rows may go.
	res := sync([]etl.Row{{"eu", int64(3), "c2"}}, &postgres.Reconcile{Keys: keys("eu"), Scope: "region = $1", ScopeArgs: []any{"eu"}})
	require.EqualValues(t, 1, res.Stats.RowsDeleted)
	require.Equal(t, []string{"eu1a", "eu3c2", "us1x", "us2y"}, contents())
	res = sync(nil, &postgres.Reconcile{Keys: keys("")})
	require.EqualValues(t, 1, res.Stats.RowsDeleted)
	require.Equal(t, []string{"eu1a", "eu3c2", "us2y"}, contents())
}

// An analyzed table with few tombstones has them deleted by probing its key's index, a
// table without statistics (or with many tombstones) by a join: both delete exactly the
// tombstones' rows, count them, and leave the rest.
func TestMergeDeletesTombstonesByProbeOrJoin(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "v"}, {Name: "deleted", Type: etl.TypeBool}}
	for _, tc := range []struct {
		name    string
		analyze bool
	}{{"probed", true}, {"joined", false}} {
		_, err := db.Pool.Exec(ctx, `CREATE TABLE `+tc.name+` (id bigint PRIMARY KEY, v text, deleted boolean NOT NULL);
			INSERT INTO `+tc.name+` SELECT g, 'old', false FROM generate_series(1, 1000) g`)
		require.NoError(t, err)
		if tc.analyze {
			_, err = db.Pool.Exec(ctx, "ANALYZE "+tc.name)
			require.NoError(t, err)
		}
		// Rows 10 and 20 go, 2000 was never there, 30 is updated, 1001 is new; 40 is
		// deleted by its first version and revived by its second.
		rows := []etl.Row{
			{int64(10), "old", true}, {int64(20), "old", true}, {int64(2000), "x", true},
			{int64(30), "new", false}, {int64(1001), "new", false},
			{int64(40), "old", true}, {int64(40), "back", false},
		}
		m := &postgres.Merge{Target: postgres.Target{Pool: db.Pool, Table: tc.name}, Deleted: "deleted"}
		res, err := (&etl.Pipeline{Name: tc.name, Sink: m, Source: source(func() etl.Stream { return etl.SliceStream(schema, rows) })}).Run(ctx, etl.Window{})
		require.NoError(t, err, tc.name)
		require.EqualValues(t, 2, res.Stats.RowsDeleted, tc.name)
		require.EqualValues(t, 3, res.Stats.RowsWritten, tc.name)
		var n int64
		var got []string
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+tc.name).Scan(&n))
		require.EqualValues(t, 999, n, tc.name)
		r, err := db.Pool.Query(ctx, "SELECT id || ':' || v FROM "+tc.name+" WHERE id IN (10, 20, 30, 40, 1001, 2000) ORDER BY id")
		require.NoError(t, err)
		got, err = pgx.CollectRows(r, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, []string{"30:new", "40:back", "1001:new"}, got, tc.name)
	}
}

// Into a key without a unique index, where the target may hold a key more than once, an
// analyzed table has the staged keys deleted by probing the index, a table without
// statistics by a join; either way every row of a staged key goes (both copies of 10 and
// of 30), the tombstones' rows are counted, and with KeepDeleted the tombstones are
// inserted instead.
func TestMergeReplacesByProbeOrJoin(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	seen := &statements{}
	cfg.ConnConfig.Tracer = seen
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "v"}, {Name: "deleted", Type: etl.TypeBool}}
	const (
		keyIndex     = "CREATE INDEX ON %s (id)"
		laterIndex   = "CREATE INDEX ON %s (v, id)" // does not lead with the key
		partialIndex = "CREATE INDEX ON %s (id) WHERE NOT deleted"
	)
	for _, tc := range []struct {
		name          string
		index         string
		analyze, keep bool
		probed        bool
		deleted       int64
		written       int64
		count         int64
		want          []string
	}{
		{"rprobed", keyIndex, true, false, true, 3, 3, 999, []string{"30:new:false", "40:back:false", "1001:new:false"}},
		{"rjoined", keyIndex, false, false, false, 3, 3, 999, []string{"30:new:false", "40:back:false", "1001:new:false"}},
		{"rprobedkeep", keyIndex, true, true, true, 0, 6, 1002, []string{"10:old:true", "20:old:true", "30:new:false", "40:back:false", "1001:new:false", "2000:x:true"}},
		{"rjoinedkeep", keyIndex, false, true, false, 0, 6, 1002, []string{"10:old:true", "20:old:true", "30:new:false", "40:back:false", "1001:new:false", "2000:x:true"}},
		// Without an index that leads with the key, = ANY of an array would check every
		// row against every key: such a target joins however small the batch.
		{"rnoindex", "", true, false, false, 3, 3, 999, []string{"30:new:false", "40:back:false", "1001:new:false"}},
		{"rlaterindex", laterIndex, true, false, false, 3, 3, 999, []string{"30:new:false", "40:back:false", "1001:new:false"}},
		{"rpartialindex", partialIndex, true, false, false, 3, 3, 999, []string{"30:new:false", "40:back:false", "1001:new:false"}},
	} {
		// The index is built on the empty table: building it on the full one would count
		// the rows into the table's statistics as an ANALYZE does.
		_, err := db.Pool.Exec(ctx, `CREATE TABLE `+tc.name+` (id bigint NOT NULL, v text, deleted boolean NOT NULL)`)
		require.NoError(t, err)
		if tc.index != "" {
			_, err = db.Pool.Exec(ctx, fmt.Sprintf(tc.index, tc.name))
			require.NoError(t, err)
		}
		_, err = db.Pool.Exec(ctx, `INSERT INTO `+tc.name+` SELECT g, 'old', false FROM generate_series(1, 1000) g;
			INSERT INTO `+tc.name+` VALUES (10, 'dup', false), (30, 'dup', false)`)
		require.NoError(t, err)
		if tc.analyze {
			_, err = db.Pool.Exec(ctx, "ANALYZE "+tc.name)
			require.NoError(t, err)
		}
		rows := []etl.Row{
			{int64(10), "old", true}, {int64(20), "old", true}, {int64(2000), "x", true},
			{int64(30), "new", false}, {int64(1001), "new", false},
			{int64(40), "old", true}, {int64(40), "back", false},
		}
		m := &postgres.Merge{Target: postgres.Target{Pool: pool, Table: tc.name, Key: []string{"id"}}, Deleted: "deleted", KeepDeleted: tc.keep}
		seen.reset()
		res, err := (&etl.Pipeline{Name: tc.name, Sink: m, Source: source(func() etl.Stream { return etl.SliceStream(schema, rows) })}).Run(ctx, etl.Window{})
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.probed, seen.any("= ANY (ARRAY("), "%s: index probes", tc.name)
		require.Equal(t, !tc.probed, seen.any("DELETE FROM "+`"`+db.Schema+`"."`+tc.name+`" t USING`), "%s: join", tc.name)
		require.EqualValues(t, tc.deleted, res.Stats.RowsDeleted, tc.name)
		require.EqualValues(t, tc.written, res.Stats.RowsWritten, tc.name)
		var n int64
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+tc.name).Scan(&n))
		require.EqualValues(t, tc.count, n, tc.name)
		r, err := db.Pool.Query(ctx, "SELECT id || ':' || v || ':' || deleted FROM "+tc.name+" WHERE id IN (10, 20, 30, 40, 1001, 2000) ORDER BY id")
		require.NoError(t, err)
		got, err := pgx.CollectRows(r, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.name)
	}
}

// A target in key order (by the key column's correlation in pg_stats) has its staged keys
// deleted by probes up to a third of its rows, where a target in no order joins past a
// tenth. The target has no Schema: its statistics are found where the search_path found
// the table.
func TestMergeProbesATargetInKeyOrder(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	seen := &statements{}
	cfg.ConnConfig.Tracer = seen
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	_, err = db.Pool.Exec(ctx, `CREATE TABLE ordered (id bigint NOT NULL, v text, deleted boolean NOT NULL);
		CREATE INDEX ON ordered (id);
		INSERT INTO ordered SELECT g, 'old', false FROM generate_series(1, 30) g;
		ANALYZE ordered`)
	require.NoError(t, err)
	// Six staged keys against 30 rows: more than a tenth, at most a third.
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "v"}, {Name: "deleted", Type: etl.TypeBool}}
	rows := []etl.Row{
		{int64(5), "old", true}, {int64(6), "old", true}, {int64(7), "new", false},
		{int64(8), "new", false}, {int64(40), "new", false}, {int64(50), "x", true},
	}
	m := &postgres.Merge{Target: postgres.Target{Pool: pool, Table: "ordered", Key: []string{"id"}}, Deleted: "deleted"}
	res, err := (&etl.Pipeline{Name: "ordered", Sink: m, Source: source(func() etl.Stream { return etl.SliceStream(schema, rows) })}).Run(ctx, etl.Window{})
	require.NoError(t, err)
	require.True(t, seen.any("= ANY (ARRAY("), "index probes")
	require.EqualValues(t, 2, res.Stats.RowsDeleted)
	require.EqualValues(t, 3, res.Stats.RowsWritten)
	r, err := db.Pool.Query(ctx, "SELECT id || ':' || v FROM ordered WHERE id IN (5, 6, 7, 8, 40, 50) ORDER BY id")
	require.NoError(t, err)
	got, err := pgx.CollectRows(r, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"7:new", "8:new", "40:new"}, got)
}

// statements records the SQL a pool's connections run.
type statements struct {
	mu  sync.Mutex
	sql []string
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sql = append(s.sql, d.SQL)
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statements) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sql = nil
}

// any reports whether a statement run since the last reset contains part.
func (s *statements) any(part string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.sql, func(q string) bool { return strings.Contains(q, part) })
}
