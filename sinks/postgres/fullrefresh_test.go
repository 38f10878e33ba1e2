package postgres_test

import (
	"context"
	"fmt"
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

// The 9-column shape of the benchmark, with awkward names.
var wideSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64}, {Name: "Name", Type: etl.TypeText}, {Name: "e mail", Type: etl.TypeText},
	{Name: `gen"der`, Type: etl.TypeText}, {Name: "country;", Type: etl.TypeText}, {Name: "amount", Type: etl.TypeNumeric},
	{Name: "created", Type: etl.TypeTimestamp}, {Name: "modified", Type: etl.TypeTimestamp}, {Name: "deleted", Type: etl.TypeBool},
}

const wideTableSQL = `CREATE TABLE %s (id bigint PRIMARY KEY, "Name" text NOT NULL, "e mail" text UNIQUE, "gen""der" text,
	"country;" text, amount numeric(12,2), created timestamptz, modified timestamptz, deleted boolean DEFAULT false)`

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// wideRows streams n generated rows; version changes every value but the key.
func wideRows(n, version int) etl.Stream {
	return etl.Stream{Schema: wideSchema, Rows: func(yield func(etl.Row, error) bool) {
		row := make(etl.Row, len(wideSchema))
		for i := range n {
			id := int64(i + 1)
			row[0] = id
			row[1] = fmt.Sprintf("name %d v%d 'q' \"d\"", id, version)
			row[2] = fmt.Sprintf("user%d@example.com", id)
			row[3] = []string{"F", "M", "Unisex"}[i%3]
			row[4] = nil
			if i%7 != 0 {
				row[4] = "Ísland"
			}
			row[5] = etl.Decimal(fmt.Sprintf("%d.%02d", (i*37+version)%100000, i%100))
			row[6] = t0.Add(time.Duration(i) * time.Second)
			row[7] = t0.Add(time.Duration(i+version) * time.Minute)
			row[8] = i%11 == 0
			if !yield(row, nil) {
				return
			}
		}
	}}
}

func source(s func() etl.Stream) etl.Extractor {
	return etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) { return s(), nil })
}

func checksum(t *testing.T, pool *pgxpool.Pool, table string) string {
	t.Helper()
	var sum *string
	q := pgx.Identifier{table}.Sanitize()
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM "+q+" t").Scan(&sum))
	if sum == nil {
		return "empty"
	}
	return *sum
}

// indexes describes the table's indexes by name and definition, with the table name
// taken out, so a swapped table compares equal.
func indexes(t *testing.T, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT i.relname || ' ' || replace(pg_get_indexdef(i.oid), $1, 'T')
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = to_regclass($1) ORDER BY 1`,
		pgx.Identifier{table}.Sanitize())
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

func TestFullRefreshThreeRunsAreIdentical(t *testing.T) {
	t.Parallel()
	for _, strategy := range []postgres.Strategy{postgres.Truncate, postgres.Delete, postgres.Swap} {
		t.Run(strategy.String(), func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			ctx := context.Background()
			table := `Wide "T"; x`
			_, err := db.Pool.Exec(ctx, fmt.Sprintf(wideTableSQL, pgx.Identifier{table}.Sanitize())+
				`; CREATE INDEX "by modified" ON `+pgx.Identifier{table}.Sanitize()+` (modified DESC) WHERE NOT deleted`)
			require.NoError(t, err)
			before := indexes(t, db.Pool, table)
			require.Len(t, before, 3)

			l := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: table,
				Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey()}}, Strategy: strategy}
			p := &etl.Pipeline{Name: "wide " + strategy.String(), Source: source(func() etl.Stream { return wideRows(3000, 1) }), Sink: l}
			var sums []string
			for i := range 3 {
				res, err := p.Run(ctx, etl.Window{})
				require.NoError(t, err, "run %d", i+1)
				require.EqualValues(t, 3000, res.Stats.RowsWritten)
				require.Len(t, res.Checks, 2)
				for _, c := range res.Checks {
					require.True(t, c.Passed, c.Name)
				}
				require.Contains(t, res.Checks[1].Note, "unique index", "the primary key answers the unique-key check")
				sums = append(sums, checksum(t, db.Pool, table))
				require.Equal(t, before, indexes(t, db.Pool, table), "run %d must keep the indexes", i+1)
			}
			require.Equal(t, sums[0], sums[1])
			require.Equal(t, sums[0], sums[2])

			// A different version replaces every row; a duplicate key fails and keeps them.
			_, err = (&etl.Pipeline{Name: p.Name, Source: source(func() etl.Stream { return wideRows(2000, 2) }), Sink: l}).Run(ctx, etl.Window{})
			require.NoError(t, err)
			v2 := checksum(t, db.Pool, table)
			require.NotEqual(t, sums[0], v2)
			dup := func() etl.Stream {
				s := wideRows(10, 3)
				rows := s.Rows
				s.Rows = func(yield func(etl.Row, error) bool) {
					for r, err := range rows {
						if r[0] == int64(10) {
							r[0] = int64(9)
						}
						if !yield(r, err) {
							return
						}
					}
				}
				return s
			}
			_, err = (&etl.Pipeline{Name: p.Name, Source: source(dup), Sink: l}).Run(ctx, etl.Window{})
			require.Error(t, err)
			require.Equal(t, v2, checksum(t, db.Pool, table))
			require.Equal(t, before, indexes(t, db.Pool, table))
			requireNoStray(t, db.Pool)
		})
	}
}

func requireNoStray(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var stray []string
	rows, err := pool.Query(context.Background(), `SELECT relname FROM pg_class WHERE relname LIKE '%\_\_sluice\_%'
		AND relnamespace = current_schema()::regnamespace`)
	require.NoError(t, err)
	stray, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, stray)
}

func TestFullRefreshBadValueNamesRowAndColumn(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, fmt.Sprintf(wideTableSQL, "w"))
	require.NoError(t, err)
	l := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "w"}}
	_, err = (&etl.Pipeline{Name: "ok", Source: source(func() etl.Stream { return wideRows(100, 1) }), Sink: l}).Run(ctx, etl.Window{})
	require.NoError(t, err)
	old := checksum(t, db.Pool, "w")
	bad := func() etl.Stream {
		s := wideRows(300, 2)
		rows := s.Rows
		s.Rows = func(yield func(etl.Row, error) bool) {
			for r, err := range rows {
				if r[0] == int64(250) {
					r[5] = etl.Decimal("12,50")
				}
				if !yield(r, err) {
					return
				}
			}
		}
		return s
	}
	_, err = (&etl.Pipeline{Name: "ok", Source: source(bad), Sink: l}).Run(ctx, etl.Window{})
	var ve *postgres.ValueError
	require.ErrorAs(t, err, &ve)
	require.EqualValues(t, 250, ve.Row)
	require.Equal(t, "amount", ve.Column)
	require.Equal(t, "stage", etl.Step(err))
	require.Equal(t, old, checksum(t, db.Pool, "w"))
	var step, msg string
	var read int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT step, error, rows_read FROM sluice_runs WHERE status = 'failed'`).Scan(&step, &msg, &read))
	require.Equal(t, "stage", step)
	require.Contains(t, msg, `row 250: column "amount"`)
	require.EqualValues(t, 250, read)
}

func TestFullRefreshTransformPanicLeavesTheTableAndFreesTheLock(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, fmt.Sprintf(wideTableSQL, "w"))
	require.NoError(t, err)
	l := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "w"}}
	_, err = (&etl.Pipeline{Name: "p", Source: source(func() etl.Stream { return wideRows(100, 1) }), Sink: l}).Run(ctx, etl.Window{})
	require.NoError(t, err)
	old := checksum(t, db.Pool, "w")
	buggy := etl.Map(nil, func(r etl.Row) (etl.Row, error) {
		if r[0] == int64(250) {
			panic("transform bug")
		}
		return r, nil
	})
	p := &etl.Pipeline{Name: "p", Source: source(func() etl.Stream { return wideRows(300, 2) }), Transforms: []etl.Transformer{buggy}, Sink: l}
	// The panic reaches the caller (a DAG runner turns it into a failed task), not the
	// process: before it does, the load rolls back and releases the pipeline's lock.
	require.PanicsWithValue(t, "transform bug", func() { _, _ = p.Run(ctx, etl.Window{}) })
	require.Equal(t, old, checksum(t, db.Pool, "w"))
	p.Transforms = nil
	res, err := p.Run(ctx, etl.Window{})
	require.NoError(t, err, "the next run takes the lock")
	require.EqualValues(t, 300, res.Stats.RowsWritten)
}

func TestSwapRefusesDependants(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, fmt.Sprintf(wideTableSQL, "w")+`;
		CREATE VIEW "Busy View" AS SELECT id FROM w;
		CREATE TABLE child (wid bigint REFERENCES w (id));
		CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
		CREATE TRIGGER tr BEFORE INSERT ON w FOR EACH ROW EXECUTE FUNCTION noop()`)
	require.NoError(t, err)
	load := func(s postgres.Strategy) error {
		l := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "w"}, Strategy: s}
		_, err := (&etl.Pipeline{Name: "swap", Source: source(func() etl.Stream { return wideRows(50, 1) }), Sink: l}).Run(ctx, etl.Window{})
		return err
	}
	err = load(postgres.Swap)
	require.ErrorIs(t, err, postgres.ErrSwapUnsafe)
	for _, want := range []string{`view "Busy View"`, "foreign key child_wid_fkey of child", "trigger tr"} {
		require.ErrorContains(t, err, want)
	}
	requireNoStray(t, db.Pool)
	// Delete keeps the table's identity, so all of them stay valid. (TRUNCATE would need
	// the referencing table truncated too.)
	require.NoError(t, load(postgres.Delete))
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM "Busy View"`).Scan(&n))
	require.Equal(t, 50, n)
}

func TestSwapKeepsGrantsCommentsAndOptions(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	role := "sluice_reader_" + db.Schema[len(db.Schema)-12:]
	_, err := db.Pool.Exec(ctx, fmt.Sprintf(wideTableSQL, "w")+`;
		CREATE ROLE `+role+`;
		GRANT SELECT ON w TO `+role+`;
		GRANT UPDATE ON w TO `+role+` WITH GRANT OPTION;
		COMMENT ON TABLE w IS 'the wide table''s comment';
		COMMENT ON COLUMN w.amount IS 'in euros';
		ALTER TABLE w SET (fillfactor = 70);
		CREATE TABLE parent (name text PRIMARY KEY);
		INSERT INTO parent VALUES ('F'), ('M'), ('Unisex');
		ALTER TABLE w ADD CONSTRAINT gender_fk FOREIGN KEY ("gen""der") REFERENCES parent (name)`)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = db.Pool.Exec(context.Background(), "DROP OWNED BY "+role+"; DROP ROLE "+role)
	})
	var oldOID uint32
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT 'w'::regclass::oid`).Scan(&oldOID))
	before := indexes(t, db.Pool, "w")
	l := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "w"}, Strategy: postgres.Swap}
	_, err = (&etl.Pipeline{Name: "swap", Source: source(func() etl.Stream { return wideRows(500, 1) }), Sink: l}).Run(ctx, etl.Window{})
	require.NoError(t, err)

	var newOID uint32
	var acl, comment, colComment, opts string
	var fks int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT c.oid, array_to_string(c.relacl, ','), obj_description(c.oid, 'pg_class'),
		col_description(c.oid, 6), array_to_string(c.reloptions, ','),
		(SELECT count(*) FROM pg_constraint WHERE conrelid = c.oid AND contype = 'f')
		FROM pg_class c WHERE c.oid = 'w'::regclass`).Scan(&newOID, &acl, &comment, &colComment, &opts, &fks))
	require.NotEqual(t, oldOID, newOID, "swap must have replaced the table")
	require.Contains(t, acl, role+"=rw*/")
	require.Equal(t, "the wide table's comment", comment)
	require.Equal(t, "in euros", colComment)
	require.Equal(t, "fillfactor=70", opts)
	require.Equal(t, 1, fks)
	require.Equal(t, before, indexes(t, db.Pool, "w"))
	var analyzed bool
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT reltuples = 500 FROM pg_class WHERE oid = 'w'::regclass`).Scan(&analyzed))
	require.True(t, analyzed, "the new table is analyzed before the swap")
	requireNoStray(t, db.Pool)
}

func TestConcurrentRunsNeverOverlap(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, fmt.Sprintf(wideTableSQL, "w"))
	require.NoError(t, err)
	l := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "w"}, Strategy: postgres.Delete}
	p := &etl.Pipeline{Name: "cron", Source: source(func() etl.Stream { return wideRows(2000, 1) }), Sink: l}

	// A run that finds the lock held fails at once with ErrLocked.
	holder, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	key := postgres.LockKey(db.Schema, "cron")
	_, err = holder.Exec(ctx, "SELECT pg_advisory_lock($1)", key)
	require.NoError(t, err)
	_, err = p.Run(ctx, etl.Window{})
	require.ErrorIs(t, err, etl.ErrLocked)
	require.Equal(t, "lock", etl.Step(err))

	// With LockWait it waits for the holder instead.
	waiting := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "w", LockWait: time.Minute}}
	done := make(chan error, 1)
	go func() {
		_, err := (&etl.Pipeline{Name: "cron", Source: p.Source, Sink: waiting}).Run(ctx, etl.Window{})
		done <- err
	}()
	for { // until the waiter is queued on the lock
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND (classid::bigint << 32 | objid::bigint) = $1`, key).Scan(&n))
		if n > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err = holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", key)
	require.NoError(t, err)
	holder.Release()
	require.NoError(t, <-done)

	// Many runs at once: each commits or reports ErrLocked, and no row is doubled.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = p.Run(ctx, etl.Window{}) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		require.ErrorIs(t, err, etl.ErrLocked)
	}
	require.Positive(t, ok)
	var n, distinct int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM w`).Scan(&n, &distinct))
	require.Equal(t, 2000, n)
	require.Equal(t, 2000, distinct)
}

func TestCreateMissingTable(t *testing.T) {
	t.Parallel()
	for _, strategy := range []postgres.Strategy{postgres.Truncate, postgres.Delete, postgres.Swap} {
		t.Run(strategy.String(), func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			ctx := context.Background()
			l := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "New Table", Key: []string{"id"}}, Strategy: strategy}
			p := &etl.Pipeline{Name: "create", Source: source(func() etl.Stream { return wideRows(10, 1) }), Sink: l}
			_, err := p.Run(ctx, etl.Window{})
			require.ErrorIs(t, err, etl.ErrNoTable)
			require.ErrorContains(t, err, "table New Table")
			require.ErrorContains(t, err, "set Create")
			l.Create = true
			for range 2 {
				_, err = p.Run(ctx, etl.Window{})
				require.NoError(t, err)
			}
			var n int
			require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM "New Table"`).Scan(&n))
			require.Equal(t, 10, n)
			require.Equal(t, []string{`New Table_pkey CREATE UNIQUE INDEX "New Table_pkey" ON ` + db.Schema + `.T USING btree (id)`},
				indexes(t, db.Pool, "New Table"))
			requireNoStray(t, db.Pool)
		})
	}
}

func TestWeirdSchemaAndMetaSchema(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	schema := `Odd "S"; ` + db.Schema
	meta := `Meta ` + db.Schema
	qs, qm := pgx.Identifier{schema}.Sanitize(), pgx.Identifier{meta}.Sanitize()
	_, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+qs+"; CREATE SCHEMA "+qm+"; "+
		fmt.Sprintf(wideTableSQL, pgx.Identifier{schema, "Wide T"}.Sanitize()))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = db.Pool.Exec(context.Background(), "DROP SCHEMA "+qs+" CASCADE; DROP SCHEMA "+qm+" CASCADE")
	})
	for _, s := range []postgres.Strategy{postgres.Truncate, postgres.Delete, postgres.Swap} {
		l := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Schema: schema, Table: "Wide T", MetaSchema: meta,
			Checks: []checks.Check{checks.UniqueKey(), checks.NotNull("e mail")}}, Strategy: s}
		_, err := (&etl.Pipeline{Name: "odd", Source: source(func() etl.Stream { return wideRows(100, 1) }), Sink: l}).Run(ctx, etl.Window{})
		require.NoError(t, err, s.String())
	}
	var n, runs int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM "+pgx.Identifier{schema, "Wide T"}.Sanitize()+
		"), (SELECT count(*) FROM "+pgx.Identifier{meta, "sluice_runs"}.Sanitize()+" WHERE status = 'success')").Scan(&n, &runs))
	require.Equal(t, 100, n)
	require.Equal(t, 3, runs)
}

func TestTableLockWaitIsBounded(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, fmt.Sprintf(wideTableSQL, "w"))
	require.NoError(t, err)
	first := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "w"}}
	_, err = (&etl.Pipeline{Name: "l", Source: source(func() etl.Stream { return wideRows(10, 1) }), Sink: first}).Run(ctx, etl.Window{})
	require.NoError(t, err)
	old := checksum(t, db.Pool, "w")

	// A long report query holds the table.
	reader, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = reader.Rollback(ctx) }()
	_, err = reader.Exec(ctx, "SELECT count(*) FROM w")
	require.NoError(t, err)

	for _, s := range []postgres.Strategy{postgres.Truncate, postgres.Swap} {
		l := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "w", LockTimeout: 20 * time.Millisecond, LockRetries: 2}, Strategy: s}
		_, err := (&etl.Pipeline{Name: "l", Source: source(func() etl.Stream { return wideRows(20, 2) }), Sink: l}).Run(ctx, etl.Window{})
		require.ErrorContains(t, err, "lock timeout", s.String())
		require.Equal(t, old, checksum(t, db.Pool, "w"))
		requireNoStray(t, db.Pool)
	}
}

// settingCheck is a check that records a server setting as the load's transaction sees
// it after Apply, where the index builds have run.
type settingCheck struct {
	name string
	got  *string
}

func (c settingCheck) Name() string           { return "setting" }
func (c settingCheck) Severity() etl.Severity { return etl.SeverityError }
func (c settingCheck) Run(ctx context.Context, t checks.Target) (etl.CheckResult, error) {
	rows, err := t.DB.QueryRows(ctx, "SELECT current_setting($1)", c.name)
	if err != nil {
		return etl.CheckResult{}, err
	}
	*c.got = rows[0][0].(string)
	return etl.CheckResult{Name: "setting", Table: t.Name, Severity: etl.SeverityError, Passed: true}, nil
}

// Truncate and Swap write the rows frozen and visible, so that no later reader rewrites
// every page to set hint bits, and build the indexes with maintenance_work_mem raised
// for the load's transaction alone, never lowered.
func TestRefreshWritesFrozenRowsAndGivesIndexBuildsMemory(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_visibility"); err != nil {
		t.Skipf("pg_visibility is not available: %v", err)
	}
	var ext string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT quote_ident(n.nspname) FROM pg_extension e
		JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_visibility'`).Scan(&ext))

	for _, tc := range []struct {
		strategy postgres.Strategy
		server   string // the session's maintenance_work_mem
		want     string // as the index builds see it
	}{
		{postgres.Truncate, "1MB", "17MB"}, // raised to 3000 keys' worth plus 16MB
		{postgres.Swap, "1MB", "17MB"},
		{postgres.Truncate, "512MB", "512MB"}, // never lowered
		{postgres.Swap, "512MB", "512MB"},
	} {
		name := tc.strategy.String() + " " + tc.server
		cfg := db.Pool.Config().Copy()
		cfg.ConnConfig.RuntimeParams["maintenance_work_mem"] = tc.server
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(t, err)
		defer pool.Close()
		table := "frozen " + name
		_, err = pool.Exec(ctx, fmt.Sprintf(wideTableSQL, pgx.Identifier{table}.Sanitize()))
		require.NoError(t, err)

		var got string
		l := &postgres.FullRefresh{Target: postgres.Target{Pool: pool, Table: table,
			Checks: []checks.Check{checks.UniqueKey(), settingCheck{"maintenance_work_mem", &got}}}, Strategy: tc.strategy}
		_, err = (&etl.Pipeline{Name: name, Source: source(func() etl.Stream { return wideRows(3000, 1) }), Sink: l}).Run(ctx, etl.Window{})
		require.NoError(t, err, name)
		require.Equal(t, tc.want, got, name)
		var after string
		require.NoError(t, pool.QueryRow(ctx, "SHOW maintenance_work_mem").Scan(&after))
		require.Equal(t, tc.server, after, "%s: the setting lasts only for the load's transaction", name)

		var pages, frozen int64
		require.NoError(t, pool.QueryRow(ctx, "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int, all_frozen FROM "+
			ext+".pg_visibility_map_summary($1::regclass)", pgx.Identifier{table}.Sanitize()).Scan(&pages, &frozen))
		require.Positive(t, pages)
		require.Equal(t, pages, frozen, "%s: every page is all-frozen", name)
	}
}
