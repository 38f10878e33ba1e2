package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
)

// Merge applies a stream of changed rows to a table by key, with deletes, through the
// load protocol:
//
//  1. COPY the rows into a temporary stage, numbering them in arrival order.
//  2. Deduplicate the stage: for a key that appears more than once, the latest by Cursor,
//     then by arrival, wins.
//  3. When a unique index covers exactly the key and the stream carries every column of
//     the table, upsert the stage rows that are not deleted with INSERT ... ON CONFLICT
//     DO UPDATE, then delete the target rows of the tombstones (none when the
//     stage has none). Otherwise delete the target rows whose key is in the stage and
//     insert the stage rows that are not deleted (all of them with KeepDeleted). Both
//     leave the same rows.
//  4. Optionally reconcile keys, deleting target rows whose key the source no longer has.
//
// Checks, the watermark and the run record follow in the same transaction, so a failed
// check rolls back the rows and the watermark together. Re-running a batch changes
// nothing, so an incremental source may re-read with a look-back safely.
type Merge struct {
	Target
	// Cursor names the column that orders versions of one key: the highest wins, NULL
	// lowest. Defaults to the cursor the stream declares (etl.Stream.Cursor), else none:
	// the last to arrive wins.
	Cursor string
	// Deleted names the soft-delete column: a boolean that is true, or any other type that
	// is not NULL (a deleted_at timestamp), marks a row deleted at the source. Defaults to
	// the column the stream declares (etl.Stream.Deleted), so a source's soft deletes are
	// applied without naming them twice; else none: every row is an upsert.
	Deleted string
	// KeepDeleted keeps soft-deleted rows in the target, with their flag, instead of
	// deleting them. Defaults to false: hard deletes.
	KeepDeleted bool
	// Reconcile, when set, also deletes target rows whose key the source no longer has.
	// Defaults to nil: off.
	Reconcile *Reconcile
}

// Reconcile finds rows hard-deleted at the source, which leave no tombstone to merge. It
// streams every key of the source (in Scope) into a temporary table and deletes the target
// rows in Scope whose key is not there, in the load's transaction.
//
// Its cost is a full read of the source's keys in scope on every run, plus an anti-join
// over the target rows in scope: a 10M-key table moves 10M keys each time. Scope it to
// the rows that can still change (one partition, the last 30 days) to keep it cheap.
type Reconcile struct {
	// Keys streams the source's keys: a stream whose columns are the merge's key columns.
	// It must cover exactly the rows that Scope selects in the target. Required.
	Keys etl.Extractor
	// Scope is a SQL predicate over the target's columns that limits which target rows may
	// be deleted, such as `created >= now() - interval '30 days'`. It is SQL written by
	// the pipeline's author, never data; bind values through ScopeArgs as $1, $2, ...
	// Defaults to all rows.
	Scope string
	// ScopeArgs are bound to Scope's placeholders.
	ScopeArgs []any
}

var (
	_ etl.Loader          = (*Merge)(nil)
	_ etl.FailureRecorder = (*Merge)(nil)
	_ etl.Lineage         = (*Merge)(nil)
)

// ErrNoKey is wrapped by the error of a merge whose table has no key: set Key or give the
// table a primary key.
var ErrNoKey = errors.New("merge needs a key")

// Load merges in into the table through the load protocol.
func (m *Merge) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	if err := m.validate(); err != nil {
		return etl.LoadResult{}, err
	}
	if m.Reconcile != nil && m.Reconcile.Keys == nil {
		return etl.LoadResult{}, errors.New("postgres: Reconcile has no Keys")
	}
	spec, err := m.loadSpec(ctx, false, in)
	if err != nil {
		return etl.LoadResult{}, etl.WithStep("connect", err)
	}
	return load.Run(ctx, m.dialect(), spec, &mergeMode{tableMaker: tableMaker{&m.Target, in.Schema}, m: m}, run, in)
}

// RecordFailure writes the run record of a run that failed before its load began.
func (m *Merge) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return m.recordFailure(ctx, "merge", run, stats, err)
}

const seqColumn = "__sluice_seq"

type mergeMode struct {
	tableMaker
	m     *Merge
	p     *prepared
	stage tableRef
	names []string
	// cursor and deleted are the merge's columns, resolved by load.MergeColumns.
	cursor, deleted string
	// tombstones counts the staged rows marked deleted, before deduplication.
	tombstones int64
	// keys counts the distinct staged keys.
	keys int64
}

func (mm *mergeMode) Kind() string { return "merge" }

// stageTable creates a session-local stage with the stream's columns, typed like the
// target's, that vanishes at commit or rollback.
func stageTable(ctx context.Context, tx pgx.Tx, p *prepared, name string, cols []string, seq bool) (tableRef, error) {
	stage := tableRef{Schema: "pg_temp", Name: name}
	sql := "CREATE TEMP TABLE " + quoteIdent(name) + " ON COMMIT DROP AS SELECT " + quoteList(cols)
	if seq {
		// The COPY sends each row's arrival number here (see copyPlan.withOrdinal).
		sql += ", 0::bigint AS " + quoteIdent(seqColumn)
	}
	sql += " FROM " + p.ref.sql() + " WITH NO DATA"
	if _, err := tx.Exec(ctx, sql); err != nil {
		return stage, fmt.Errorf("create stage for %s: %w", p.ref, err)
	}
	return stage, nil
}

func (mm *mergeMode) Stage(ctx context.Context, ltx load.Tx, run *etl.Run, in etl.Stream) (int64, error) {
	t, err := asPgTx(ltx)
	if err != nil {
		return 0, err
	}
	tx := t.tx
	if mm.p, err = mm.m.prepare(ctx, tx, in.Schema); err != nil {
		return 0, err
	}
	if len(mm.p.key) == 0 {
		return 0, fmt.Errorf("table %s: %w", mm.p.ref, ErrNoKey)
	}
	mm.names = in.Schema.Names()
	for _, c := range mm.p.key {
		if in.Schema.Index(c) < 0 {
			return 0, fmt.Errorf("table %s: the stream has no key column %q", mm.p.ref, c)
		}
	}
	if mm.cursor, mm.deleted, err = load.MergeColumns(mm.p.ref.String(), in, mm.m.Cursor, mm.m.Deleted); err != nil {
		return 0, err
	}
	if mm.stage, err = stageTable(ctx, tx, mm.p, runTable("sluice_stage", run.ID), mm.names, true); err != nil {
		return 0, err
	}
	return mm.p.plan.withOrdinal(seqColumn).copyIn(ctx, tx.Conn().PgConn(), mm.stage, false, in)
}

// tombstone returns the SQL that is true for a deleted row of alias, or "false".
func (mm *mergeMode) tombstone(alias string) string {
	if mm.deleted == "" {
		return "false"
	}
	col := alias + "." + quoteIdent(mm.deleted)
	for _, c := range mm.p.cols {
		if c.Name == mm.deleted && c.Receive == "boolrecv" {
			return "(" + col + " IS TRUE)"
		}
	}
	return "(" + col + " IS NOT NULL)"
}

func keyMatch(key []string, a, b string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = a + "." + quoteIdent(k) + " = " + b + "." + quoteIdent(k)
	}
	return strings.Join(parts, " AND ")
}

func (mm *mergeMode) Apply(ctx context.Context, ltx load.Tx, run *etl.Run) (load.Applied, error) {
	t, err := asPgTx(ltx)
	if err != nil {
		return load.Applied{}, err
	}
	tx := t.tx
	target, stage, key := mm.p.ref, mm.stage.sql(), mm.p.key
	// One pass finds NULL keys (which would never match and pile up), keys staged more
	// than once, and the tombstones; only then is the stage deduplicated.
	nullKey := make([]string, len(key))
	for i, k := range key {
		nullKey[i] = quoteIdent(k) + " IS NULL"
	}
	var nullKeys, dupKeys int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(sum(n) FILTER (WHERE "+strings.Join(nullKey, " OR ")+"), 0), count(*) FILTER (WHERE n > 1), coalesce(sum(gone), 0), count(*) FROM (SELECT "+
		quoteList(key)+", count(*) AS n, count(*) FILTER (WHERE "+mm.tombstone(stage)+") AS gone FROM "+stage+" GROUP BY "+quoteList(key)+") g").Scan(&nullKeys, &dupKeys, &mm.tombstones, &mm.keys); err != nil {
		return load.Applied{}, fmt.Errorf("inspect stage of %s: %w", target, err)
	}
	if nullKeys > 0 {
		return load.Applied{}, fmt.Errorf("table %s: %d staged rows have a NULL in key (%s)", target, nullKeys, strings.Join(key, ", "))
	}
	if dupKeys > 0 {
		order := ""
		if mm.cursor != "" {
			order = quoteIdent(mm.cursor) + " DESC NULLS LAST, "
		}
		seq := quoteIdent(seqColumn)
		dedupe := "DELETE FROM " + stage + " WHERE " + seq + " IN (SELECT " + seq + " FROM (SELECT " + seq +
			", row_number() OVER (PARTITION BY " + quoteList(key) + " ORDER BY " + order + seq + " DESC) AS rn FROM " +
			stage + ") ranked WHERE rn > 1)"
		if _, err := tx.Exec(ctx, dedupe); err != nil {
			return load.Applied{}, fmt.Errorf("deduplicate stage of %s: %w", target, err)
		}
	}

	applied, upserted, err := mm.upsert(ctx, ltx)
	if err != nil {
		return applied, err
	}
	if !upserted {
		if applied, err = mm.replace(ctx, tx); err != nil {
			return applied, err
		}
	}
	if r := mm.m.Reconcile; r != nil {
		n, err := mm.reconcile(ctx, tx, run, r)
		if err != nil {
			return applied, err
		}
		applied.Deleted += n
	}
	return applied, nil
}

// upsert applies the deduplicated stage with INSERT ... ON CONFLICT DO UPDATE and then
// deletes the tombstones' rows: one pass over the target's key index instead of a delete
// and an insert, which the benchmark showed about a fifth faster. It needs a unique index
// on exactly the key, to arbitrate the conflict, and a stream carrying exactly the
// target's columns, so that the result matches a delete and insert, which would reset any
// column the stream lacks. It reports false, having done nothing, when either is missing.
func (mm *mergeMode) upsert(ctx context.Context, ltx load.Tx) (load.Applied, bool, error) {
	target, stage, key := mm.p.ref, mm.stage.sql(), mm.p.key
	if len(mm.p.cols) != len(mm.names) {
		return load.Applied{}, false, nil
	}
	inStream := make(map[string]bool, len(mm.names))
	for _, n := range mm.names {
		inStream[n] = true
	}
	isKey := make(map[string]bool, len(key))
	for _, k := range key {
		isKey[k] = true
	}
	var set []string
	for _, c := range mm.p.cols {
		if !inStream[c.Name] || c.Generated {
			return load.Applied{}, false, nil
		}
		if !isKey[c.Name] {
			set = append(set, quoteIdent(c.Name)+" = EXCLUDED."+quoteIdent(c.Name))
		}
	}
	covered, err := dialect{}.UniqueIndex(ctx, ltx, target.Schema, target.Name, key)
	if err != nil || !covered {
		return load.Applied{}, false, err
	}
	tx := ltx.(*pgTx).tx
	ins := "INSERT INTO " + target.sql() + " (" + quoteList(mm.names) + ") SELECT " + quoteList(mm.names) +
		" FROM " + stage + " s"
	if !mm.m.KeepDeleted && mm.tombstones > 0 {
		ins += " WHERE NOT " + mm.tombstone("s")
	}
	// Not ORDER BY key: sorting the stage took less server CPU in isolation but made the
	// whole sync slower in the benchmark (bench/README.md).
	ins += " ON CONFLICT (" + quoteList(key) + ") DO "
	if len(set) == 0 {
		ins += "NOTHING"
	} else {
		ins += "UPDATE SET " + strings.Join(set, ", ")
	}
	tag, err := tx.Exec(ctx, ins)
	if err != nil {
		return load.Applied{}, true, fmt.Errorf("upsert changed rows into %s: %w", target, err)
	}
	applied := load.Applied{Written: tag.RowsAffected()}
	if mm.m.KeepDeleted || mm.tombstones == 0 {
		return applied, true, nil
	}
	if applied.Deleted, err = mm.deleteTombstones(ctx, tx); err != nil {
		return applied, true, err
	}
	return applied, true, nil
}

// deleteTombstones deletes the target rows of the staged tombstones, by index probes
// when probeKeys says so: as a join, the planner hashes the stage and scans the whole
// target (20k tombstones against 2M rows: 0.44 s where the probes take a fraction of
// that), since it costs random index reads above a sequential scan. The stage needs no
// statistics for either form.
func (mm *mergeMode) deleteTombstones(ctx context.Context, tx pgx.Tx) (int64, error) {
	target, stage, key := mm.p.ref, mm.stage.sql(), mm.p.key
	probe, err := mm.probeKeys(ctx, tx, mm.tombstones)
	if err != nil {
		return 0, err
	}
	del := "DELETE FROM " + target.sql() + " t USING " + stage + " s WHERE " + keyMatch(key, "t", "s") +
		" AND " + mm.tombstone("s")
	if probe {
		del = mm.probeDelete(mm.tombstone("s"))
	}
	tag, err := tx.Exec(ctx, del)
	if err != nil {
		return 0, fmt.Errorf("delete removed rows of %s: %w", target, err)
	}
	return tag.RowsAffected(), nil
}

// probeDelete returns a DELETE of the target rows whose one-column key is among the
// staged rows where cond holds, written so that the planner probes the key's index once
// per key: t.k = ANY (ARRAY(SELECT ...)), which it cannot turn into a hash join.
func (mm *mergeMode) probeDelete(cond string) string {
	k := quoteIdent(mm.p.key[0])
	return "DELETE FROM " + mm.p.ref.sql() + " t WHERE t." + k + " = ANY (ARRAY(SELECT s." + k + " FROM " +
		mm.stage.sql() + " s WHERE " + cond + "))"
}

// probeKeys reports whether deleting n staged keys from the target should probe the
// key's index rather than join: only for a one-column key with a btree index that leads
// with it, for at most maxProbeKeys keys, and only when n is at most a
// tenth of the table's rows (by its statistics; never for a table not yet analyzed), or a
// third when the table's rows lie in key order (|correlation| >= 0.9 in pg_stats), where
// the probes read the heap almost sequentially. Backend CPU of the DELETE, 2M rows, the
// stage analyzed for the join:
//
//	keys         rows in key order       rows shuffled
//	220k (11%)   probes 0.57 s, join 1.05-1.53 s   probes 1.14-1.41 s, join 1.31-1.35 s
//	620k (31%)   probes 1.28-1.33 s, join 2.41-2.89 s
func (mm *mergeMode) probeKeys(ctx context.Context, tx pgx.Tx, n int64) (bool, error) {
	if len(mm.p.key) != 1 || n > maxProbeKeys {
		return false, nil
	}
	ref := mm.p.ref
	var rows, corr float64
	var indexed bool
	// Probes need a valid, whole-table btree index that leads with the key in the
	// column's own collation; without one, = ANY of an array checks every row against
	// every key.
	if err := tx.QueryRow(ctx, "SELECT c.reltuples, coalesce((SELECT max(abs(s.correlation)) FROM pg_catalog.pg_stats s"+
		" WHERE s.schemaname = $2 AND s.tablename = $3 AND s.attname = $4), 0),"+
		" EXISTS (SELECT 1 FROM pg_catalog.pg_index i"+
		" JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"+
		" JOIN pg_catalog.pg_am am ON am.oid = ic.relam"+
		" JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attname = $4"+
		" WHERE i.indrelid = $1 AND am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL"+
		" AND i.indkey[0] = a.attnum AND i.indcollation[0] = a.attcollation)"+
		" FROM pg_catalog.pg_class c WHERE c.oid = $1",
		mm.p.oid, ref.Schema, ref.Name, mm.p.key[0]).Scan(&rows, &corr, &indexed); err != nil {
		return false, fmt.Errorf("statistics of %s: %w", ref, err)
	}
	if !indexed {
		return false, nil
	}
	ratio := float64(probeRatio)
	if corr >= 0.9 {
		ratio = probeRatioOrdered
	}
	return float64(n)*ratio <= rows, nil
}

// probeRatio and probeRatioOrdered are how many target rows each deleted key needs for
// probeKeys to choose index probes, for rows in no order and in key order.
const (
	probeRatio        = 10
	probeRatioOrdered = 3
)

// maxProbeKeys bounds the keys one probing DELETE puts in its array, which PostgreSQL
// holds in memory and caps at 1 GB; larger batches join.
const maxProbeKeys = 1_000_000

// replace applies the deduplicated stage by deleting every staged key from the target and
// inserting the rows that are not tombstones. Where probeKeys allows, the deletes probe
// the key's index and the stage goes without statistics; otherwise they join the stage,
// analyzed first.
func (mm *mergeMode) replace(ctx context.Context, tx pgx.Tx) (load.Applied, error) {
	target, stage, key := mm.p.ref, mm.stage.sql(), mm.p.key
	probe, err := mm.probeKeys(ctx, tx, mm.keys)
	if err != nil {
		return load.Applied{}, err
	}
	var gone int64
	if probe {
		// Two deletes over disjoint keys, to count the tombstones' rows.
		dels := []string{mm.probeDelete("true")}
		if !mm.m.KeepDeleted && mm.tombstones > 0 {
			dels = []string{mm.probeDelete(mm.tombstone("s")), mm.probeDelete("NOT " + mm.tombstone("s"))}
		}
		for i, del := range dels {
			tag, err := tx.Exec(ctx, del)
			if err != nil {
				return load.Applied{}, fmt.Errorf("delete changed rows of %s: %w", target, err)
			}
			if i == 0 && len(dels) == 2 {
				gone = tag.RowsAffected()
			}
		}
	} else {
		// Temporary tables are never auto-analyzed; without statistics the planner may hash
		// the whole target instead of the stage. The key's statistics (and the delete
		// flag's) are all the join needs, and far cheaper to gather than every column's.
		analyzed := key
		if mm.deleted != "" {
			analyzed = append(append([]string(nil), key...), mm.deleted)
		}
		if _, err := tx.Exec(ctx, "ANALYZE "+stage+" ("+quoteList(analyzed)+")"); err != nil {
			return load.Applied{}, fmt.Errorf("analyze stage of %s: %w", target, err)
		}
		var matched int64
		del := "WITH d AS (DELETE FROM " + target.sql() + " t USING " + stage + " s WHERE " + keyMatch(key, "t", "s") +
			" RETURNING " + mm.tombstone("s") + " AS gone) SELECT count(*), count(*) FILTER (WHERE gone) FROM d"
		if err := tx.QueryRow(ctx, del).Scan(&matched, &gone); err != nil {
			return load.Applied{}, fmt.Errorf("delete changed rows of %s: %w", target, err)
		}
	}
	ins := "INSERT INTO " + target.sql() + " (" + quoteList(mm.names) + ") SELECT " + quoteList(mm.names) +
		" FROM " + stage + " s"
	if !mm.m.KeepDeleted {
		ins += " WHERE NOT " + mm.tombstone("s")
	} else {
		gone = 0
	}
	tag, err := tx.Exec(ctx, ins)
	if err != nil {
		return load.Applied{}, fmt.Errorf("insert changed rows into %s: %w", target, err)
	}
	return load.Applied{Written: tag.RowsAffected(), Deleted: gone}, nil
}

// reconcile deletes the target rows in scope whose key the source's key stream lacks.
func (mm *mergeMode) reconcile(ctx context.Context, tx pgx.Tx, run *etl.Run, r *Reconcile) (int64, error) {
	target, key := mm.p.ref, mm.p.key
	keys, err := r.Keys.Extract(ctx, run)
	if err != nil {
		return 0, fmt.Errorf("reconcile %s: extract keys: %w", target, err)
	}
	if len(keys.Schema) != len(key) {
		return 0, fmt.Errorf("reconcile %s: the key stream has columns %v, the key is %v", target, keys.Schema.Names(), key)
	}
	for _, k := range key {
		if keys.Schema.Index(k) < 0 {
			return 0, fmt.Errorf("reconcile %s: the key stream has no column %q", target, k)
		}
	}
	plan, err := planCopy(target, keys.Schema, mm.p.cols)
	if err != nil {
		return 0, fmt.Errorf("reconcile %s: %w", target, err)
	}
	ks, err := stageTable(ctx, tx, mm.p, runTable("sluice_keys", run.ID), keys.Schema.Names(), false)
	if err != nil {
		return 0, err
	}
	if _, err := plan.copyIn(ctx, tx.Conn().PgConn(), ks, false, keys); err != nil {
		return 0, fmt.Errorf("reconcile %s: %w", target, err)
	}
	if _, err := tx.Exec(ctx, "ANALYZE "+ks.sql()); err != nil {
		return 0, err
	}
	sql := "DELETE FROM " + target.sql() + " t WHERE NOT EXISTS (SELECT 1 FROM " + ks.sql() + " k WHERE " +
		keyMatch(key, "k", "t") + ")"
	if r.Scope != "" {
		sql += " AND (" + r.Scope + ")"
	}
	tag, err := tx.Exec(ctx, sql, r.ScopeArgs...)
	if err != nil {
		return 0, fmt.Errorf("reconcile %s: delete rows gone from the source: %w", target, err)
	}
	return tag.RowsAffected(), nil
}
