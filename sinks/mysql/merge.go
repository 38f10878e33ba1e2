package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
	"github.com/sluice-etl/sluice/internal/origin"
)

// Merge applies a stream of changed rows to a table by key, with deletes, through the
// load protocol:
//
//  1. LOAD DATA the rows into a TEMPORARY stage with the target's column types, numbering
//     them in arrival order.
//  2. Deduplicate the stage: for a key that appears more than once, the latest by Cursor,
//     then by arrival, wins.
//  3. Upsert the stage rows that are not soft-deleted with INSERT ... SELECT ... ON
//     DUPLICATE KEY UPDATE, and delete the target rows of the soft-deleted ones.
//  4. Optionally reconcile keys, deleting target rows whose key the source no longer has.
//
// The key must be covered by a unique index of the table (its primary key, say): a merge
// into a table where it is not fails with [ErrNoUniqueKey], since nothing would keep a
// key from appearing twice. ON DUPLICATE KEY UPDATE fires on a clash with any unique
// index, so when the table has unique indexes besides the key's, or the stream lacks some
// of the table's columns, the merge instead deletes the target rows whose key is staged
// and inserts the staged rows: a clash on another unique index then fails the load
// instead of updating the wrong row, and every merged row is exactly the stream's.
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
	// the column the stream declares (etl.Stream.Deleted), else none: every row is an
	// upsert. A declared column missing from the stream fails the load.
	Deleted string
	// KeepDeleted keeps soft-deleted rows in the target, with their flag, instead of
	// deleting them. Defaults to false: hard deletes.
	KeepDeleted bool
	// Reconcile, when set, also deletes target rows whose key the source no longer has.
	// Defaults to nil: off.
	Reconcile *Reconcile
}

// Reconcile finds rows hard-deleted at the source, which leave no tombstone to merge. It
// streams every key of the source (in Scope) into a TEMPORARY table and deletes the
// target rows in Scope whose key is not there, in the load's transaction. An empty key
// stream fails the load with etl.ErrEmpty unless the run allows an empty load, since it
// would delete every row in scope.
//
// Its cost is a full read of the source's keys in scope on every run, plus an anti-join
// over the target rows in scope: a 10M-key table moves 10M keys each time. Scope it to
// the rows that can still change (one partition, the last 30 days) to keep it cheap.
type Reconcile struct {
	// Keys streams the source's keys: a stream whose columns are the merge's key columns.
	// It must cover exactly the rows that Scope selects in the target. Required.
	Keys etl.Extractor
	// Scope is a SQL predicate over the target's columns (as t.col or col) that limits
	// which target rows may be deleted, such as `created >= ?`. It is SQL written by the
	// pipeline's author, never data; bind values through ScopeArgs as ?. A time.Time binds
	// as its UTC time, as the loaded rows store it. Defaults to all rows.
	Scope string
	// ScopeArgs are bound to Scope's placeholders.
	ScopeArgs []any
}

var (
	_ etl.Loader          = (*Merge)(nil)
	_ etl.FailureRecorder = (*Merge)(nil)
	_ etl.Lineage         = (*Merge)(nil)
)

// ErrNoUniqueKey is wrapped by the error of a merge whose key no unique index of the
// table covers.
var ErrNoUniqueKey = errors.New("no unique index covers the merge key")

// Load merges in into the table through the load protocol.
func (m *Merge) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	if err := m.validate(); err != nil {
		return etl.LoadResult{}, err
	}
	if m.Reconcile != nil && m.Reconcile.Keys == nil {
		return etl.LoadResult{}, errors.New("mysql: Reconcile has no Keys")
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

// mergeMode is one merge's stage and apply. Its temporary tables end with the load's
// session.
type mergeMode struct {
	tableMaker
	m *Merge
	// cursor and deleted are the merge's columns, resolved by load.MergeColumns.
	cursor, deleted string
	deletedBool     bool // the stream types the soft-delete column as bool
	p               *prepared
	stage           string // the stage's quoted, qualified name
	keys            string // the reconcile stage's
	names           []string
	upsert          bool            // the key's unique index is the only one: ON DUPLICATE KEY UPDATE
	track           *origin.Tracker // where each staged row came from
}

func (mm *mergeMode) Kind() string { return "merge" }

// tempName returns a name for a session's temporary table in the target's database that
// is not the target's own (a temporary table hides a table of the same name).
func tempName(p *prepared, base string) string {
	if strings.EqualFold(base, p.table) {
		base += "_2"
	}
	return qualify(p.schema, base)
}

// createStage creates a TEMPORARY table with the given columns of the target, typed as
// the target types them but without defaults or indexes, with an arrival number first
// when seq is set. CREATE TEMPORARY TABLE does not commit the transaction.
func createStage(ctx context.Context, t *tx, p *prepared, name string, cols []string, seq bool) error {
	q := "CREATE TEMPORARY TABLE " + name
	if seq {
		q += " (" + quoteIdent(seqColumn) + " BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY)"
	}
	q += " SELECT " + quoteList(cols) + " FROM " + p.sql() + " WHERE 1 = 0"
	if _, err := t.Exec(ctx, q); err != nil {
		return fmt.Errorf("create stage for %s: %w", p.name(), err)
	}
	return nil
}

func (mm *mergeMode) Stage(ctx context.Context, ltx load.Tx, run *etl.Run, in etl.Stream) (int64, error) {
	t, err := asTx(ltx)
	if err != nil {
		return 0, err
	}
	if mm.p, err = mm.m.prepare(ctx, t, in.Schema); err != nil {
		return 0, err
	}
	p := mm.p
	if len(p.key) == 0 {
		return 0, fmt.Errorf("table %s: %w", p.name(), ErrNoKey)
	}
	for _, k := range p.key {
		if !containsFoldSchema(in.Schema, k) {
			return 0, fmt.Errorf("table %s: the stream has no key column %q", p.name(), k)
		}
	}
	if mm.cursor, mm.deleted, err = load.MergeColumns(p.name(), in, mm.m.Cursor, mm.m.Deleted); err != nil {
		return 0, err
	}
	if i := in.Schema.Index(mm.deleted); i >= 0 {
		mm.deletedBool = in.Schema[i].Type == etl.TypeBool
	}
	idx, err := uniqueIndexes(ctx, t.conn, p.schema, p.table)
	if err != nil {
		return 0, fmt.Errorf("read unique indexes of %s: %w", p.name(), err)
	}
	covered, exact, others := false, false, false
	for _, ix := range idx {
		switch {
		case ix.Exact && sameColumns(ix.Columns, p.key):
			covered, exact = true, true
		case ix.Exact && subsetColumns(ix.Columns, p.key):
			covered, others = true, true
		default:
			others = true
		}
	}
	if !covered {
		return 0, fmt.Errorf("table %s: key (%s): %w; add a PRIMARY KEY or UNIQUE index on it", p.name(),
			strings.Join(p.key, ", "), ErrNoUniqueKey)
	}
	mm.names = make([]string, len(p.plan.cols))
	for i, c := range p.plan.cols {
		mm.names[i] = c.name
	}
	loadable := 0
	for _, c := range p.cols {
		if !c.Generated {
			loadable++
		}
	}
	mm.upsert = exact && !others && len(mm.names) == loadable

	mm.stage = tempName(p, "__sluice_stage")
	if err := createStage(ctx, t, p, mm.stage, mm.names, true); err != nil {
		return 0, err
	}
	mm.track = origin.New(in)
	return loadTracked(ctx, t, mm.stage, p.plan, in, mm.track)
}

func containsFoldSchema(s etl.Schema, name string) bool { return containsFold(s.Names(), name) }

// col returns the target's name for a stream column, as the stage names it.
func (mm *mergeMode) col(name string) string {
	if c, ok := mm.p.column(name); ok {
		return c.Name
	}
	return name
}

// tombstone returns the SQL that is true for a deleted row of alias, or "FALSE".
func (mm *mergeMode) tombstone(alias string) string {
	if mm.deleted == "" {
		return "FALSE"
	}
	c, _ := mm.p.column(mm.deleted)
	col := alias + "." + quoteIdent(c.Name)
	if mm.deletedBool || strings.HasPrefix(c.Type, "tinyint(1)") || c.Type == "bit(1)" {
		return "(" + col + " IS TRUE)"
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
	t, err := asTx(ltx)
	if err != nil {
		return load.Applied{}, err
	}
	p, stage := mm.p, mm.stage
	key := make([]string, len(p.key))
	for i, k := range p.key {
		key[i] = mm.col(k)
	}
	// One pass finds NULL keys (which would never match and pile up) and whether any key
	// is staged twice; only then is the stage deduplicated.
	nullKey := make([]string, len(key))
	for i, k := range key {
		nullKey[i] = quoteIdent(k) + " IS NULL"
	}
	rows, err := t.QueryRows(ctx, "SELECT COALESCE(SUM("+strings.Join(nullKey, " OR ")+"), 0), COUNT(*), COUNT(DISTINCT "+
		quoteList(key)+") FROM "+stage)
	if err != nil {
		return load.Applied{}, fmt.Errorf("inspect stage of %s: %w", p.name(), err)
	}
	nulls, _ := rows[0][0].(int64)
	total, _ := rows[0][1].(int64)
	distinct, _ := rows[0][2].(int64)
	if nulls > 0 {
		return load.Applied{}, fmt.Errorf("table %s: %d staged rows have a NULL in key (%s)", p.name(), nulls, strings.Join(key, ", "))
	}
	if distinct < total {
		if err := mm.dedupe(ctx, t, key); err != nil {
			return load.Applied{}, err
		}
	}

	var applied load.Applied
	if mm.upsert {
		applied, err = mm.upsertRows(ctx, t, key)
	} else {
		applied, err = mm.replaceRows(ctx, t, key)
	}
	if err != nil {
		return applied, err
	}
	if r := mm.m.Reconcile; r != nil {
		n, err := mm.reconcile(ctx, t, run, r, key)
		if err != nil {
			return applied, err
		}
		applied.Deleted += n
	}
	return applied, nil
}

// dedupe keeps the latest staged row of each key. MySQL cannot read a temporary table
// twice in one statement, so the losers' numbers go through a second one.
func (mm *mergeMode) dedupe(ctx context.Context, t *tx, key []string) error {
	order := ""
	if mm.cursor != "" {
		// NULL sorts first in ascending order, so last in descending: it loses.
		order = quoteIdent(mm.col(mm.cursor)) + " DESC, "
	}
	seq := quoteIdent(seqColumn)
	losers := tempName(mm.p, "__sluice_losers")
	if _, err := t.Exec(ctx, "CREATE TEMPORARY TABLE "+losers+" ("+seq+" BIGINT NOT NULL PRIMARY KEY) SELECT "+seq+
		" FROM (SELECT "+seq+", ROW_NUMBER() OVER (PARTITION BY "+quoteList(key)+" ORDER BY "+order+seq+
		" DESC) AS rn FROM "+mm.stage+") ranked WHERE rn > 1"); err != nil {
		return fmt.Errorf("deduplicate stage of %s: %w", mm.p.name(), err)
	}
	if _, err := t.Exec(ctx, "DELETE s FROM "+mm.stage+" s JOIN "+losers+" l ON s."+seq+" = l."+seq); err != nil {
		return fmt.Errorf("deduplicate stage of %s: %w", mm.p.name(), err)
	}
	_, err := t.Exec(ctx, "DROP TEMPORARY TABLE "+losers)
	return err
}

// upsertRows applies the deduplicated stage with INSERT ... ON DUPLICATE KEY UPDATE, one
// pass over the key's index, and then deletes the tombstones' rows. It runs only when the
// key's unique index is the table's only one and the stream carries every column, so it
// leaves the same rows as a delete and insert would. Key columns are set too, so that
// under a case-insensitive collation the key takes the stream's spelling.
func (mm *mergeMode) upsertRows(ctx context.Context, t *tx, key []string) (load.Applied, error) {
	p, stage := mm.p, mm.stage
	set := make([]string, len(mm.names))
	for i, n := range mm.names {
		set[i] = quoteIdent(n) + " = s." + quoteIdent(n)
	}
	live := ""
	if !mm.m.KeepDeleted {
		live = " WHERE NOT " + mm.tombstone("s")
	}
	rows, err := t.QueryRows(ctx, "SELECT COUNT(*) FROM "+stage+" s"+live)
	if err != nil {
		return load.Applied{}, err
	}
	written, _ := rows[0][0].(int64)
	cols := make([]string, len(mm.names))
	for i, n := range mm.names {
		cols[i] = "s." + quoteIdent(n)
	}
	ins := "INSERT INTO " + p.sql() + " (" + quoteList(mm.names) + ") SELECT " + strings.Join(cols, ", ") +
		" FROM " + stage + " s" + live + " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	if _, err := t.Exec(ctx, ins); err != nil {
		if ce := mm.locateCheck(ctx, t, err, live); ce != nil {
			return load.Applied{}, ce
		}
		return load.Applied{}, fmt.Errorf("upsert changed rows into %s: %w", p.name(), err)
	}
	if err := checkWarnings(ctx, t, p.name(), "upserting changed rows"); err != nil {
		return load.Applied{}, err
	}
	applied := load.Applied{Written: written}
	if mm.m.KeepDeleted || mm.deleted == "" {
		return applied, nil
	}
	n, err := t.Exec(ctx, "DELETE t FROM "+p.sql()+" t JOIN "+stage+" s ON "+keyMatch(key, "t", "s")+" WHERE "+mm.tombstone("s"))
	if err != nil {
		return applied, fmt.Errorf("delete removed rows of %s: %w", p.name(), err)
	}
	applied.Deleted = n
	return applied, nil
}

// replaceRows applies the deduplicated stage by deleting every staged key from the target
// and inserting the rows that are not tombstones.
func (mm *mergeMode) replaceRows(ctx context.Context, t *tx, key []string) (load.Applied, error) {
	p, stage := mm.p, mm.stage
	var gone int64
	if mm.deleted != "" && !mm.m.KeepDeleted {
		n, err := t.Exec(ctx, "DELETE t FROM "+p.sql()+" t JOIN "+stage+" s ON "+keyMatch(key, "t", "s")+" WHERE "+mm.tombstone("s"))
		if err != nil {
			return load.Applied{}, fmt.Errorf("delete removed rows of %s: %w", p.name(), err)
		}
		gone = n
	}
	if _, err := t.Exec(ctx, "DELETE t FROM "+p.sql()+" t JOIN "+stage+" s ON "+keyMatch(key, "t", "s")); err != nil {
		return load.Applied{}, fmt.Errorf("delete changed rows of %s: %w", p.name(), err)
	}
	live := ""
	if !mm.m.KeepDeleted {
		live = " WHERE NOT " + mm.tombstone("s")
	}
	ins := "INSERT INTO " + p.sql() + " (" + quoteList(mm.names) + ") SELECT " + quoteList(mm.names) + " FROM " + stage + " s" + live
	n, err := t.Exec(ctx, ins)
	if err != nil {
		if ce := mm.locateCheck(ctx, t, err, live); ce != nil {
			return load.Applied{}, ce
		}
		return load.Applied{}, fmt.Errorf("insert changed rows into %s: %w", p.name(), err)
	}
	if err := checkWarnings(ctx, t, p.name(), "inserting changed rows"); err != nil {
		return load.Applied{}, err
	}
	return load.Applied{Written: n, Deleted: gone}, nil
}

// reconcile deletes the target rows in scope whose key the source's key stream lacks.
func (mm *mergeMode) reconcile(ctx context.Context, t *tx, run *etl.Run, r *Reconcile, key []string) (int64, error) {
	p := mm.p
	keys, err := r.Keys.Extract(ctx, run)
	if err != nil {
		return 0, fmt.Errorf("reconcile %s: extract keys: %w", p.name(), err)
	}
	if len(keys.Schema) != len(key) {
		return 0, fmt.Errorf("reconcile %s: the key stream has columns %v, the key is %v", p.name(), keys.Schema.Names(), key)
	}
	for _, k := range key {
		if !containsFoldSchema(keys.Schema, k) {
			return 0, fmt.Errorf("reconcile %s: the key stream has no column %q", p.name(), k)
		}
	}
	plan, err := planLoad(p, keys.Schema)
	if err != nil {
		return 0, fmt.Errorf("reconcile %s: %w", p.name(), err)
	}
	mm.keys = tempName(p, "__sluice_keys")
	names := make([]string, len(plan.cols))
	for i, c := range plan.cols {
		names[i] = c.name
	}
	// The index is declared in the CREATE: ALTER TABLE would commit the transaction, even
	// on a temporary table.
	if _, err := t.Exec(ctx, "CREATE TEMPORARY TABLE "+mm.keys+" (INDEX ("+quoteList(names)+")) SELECT "+
		quoteList(names)+" FROM "+p.sql()+" WHERE 1 = 0"); err != nil {
		return 0, fmt.Errorf("reconcile %s: create the key stage: %w", p.name(), err)
	}
	n, err := loadData(ctx, t, mm.keys, plan, keys)
	if err != nil {
		return 0, fmt.Errorf("reconcile %s: %w", p.name(), err)
	}
	if n == 0 && !run.AllowEmpty {
		return 0, fmt.Errorf("reconcile %s: the key stream is empty: %w", p.name(), etl.ErrEmpty)
	}
	q := "DELETE t FROM " + p.sql() + " t LEFT JOIN " + mm.keys + " k ON " + keyMatch(key, "t", "k") +
		" WHERE k." + quoteIdent(key[0]) + " IS NULL"
	if r.Scope != "" {
		q += " AND (" + r.Scope + ")"
	}
	deleted, err := t.Exec(ctx, q, r.ScopeArgs...)
	if err != nil {
		return 0, fmt.Errorf("reconcile %s: delete rows gone from the source: %w", p.name(), err)
	}
	return deleted, nil
}

// locateCheck names the first staged row that fails a CHECK constraint of the table,
// after the insert of the staged rows (live, the insert's WHERE clause, or "") failed on
// one: the server's error names the constraint but no row. The stage keeps the stream's
// rows and numbers, so the row, its source line and, for a column's own constraint, the
// column and value can be named. It returns nil when the error is not a failed CHECK or
// no staged row can be found to fail one.
func (mm *mergeMode) locateCheck(ctx context.Context, t *tx, err error, live string) error {
	if n := errorNumber(err); n != 4025 && n != 3819 { // MariaDB's and MySQL's failed CHECK
		return nil
	}
	p := mm.p
	checks, qerr := t.QueryRows(ctx, "SELECT CONSTRAINT_NAME, LEVEL, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "+
		"WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?", p.schema, p.table)
	if qerr != nil { // MySQL's view has neither TABLE_NAME nor LEVEL
		checks, qerr = t.QueryRows(ctx, "SELECT cc.CONSTRAINT_NAME, 'Table', cc.CHECK_CLAUSE FROM information_schema.TABLE_CONSTRAINTS tc "+
			"JOIN information_schema.CHECK_CONSTRAINTS cc ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME "+
			"WHERE tc.TABLE_SCHEMA = ? AND tc.TABLE_NAME = ? AND tc.CONSTRAINT_TYPE = 'CHECK'", p.schema, p.table)
		if qerr != nil {
			return nil
		}
	}
	cond := " WHERE "
	if live != "" {
		cond = live + " AND "
	}
	for _, c := range checks {
		name, _ := c[0].(string)
		level, _ := c[1].(string)
		clause, _ := c[2].(string)
		var col column
		isCol := false
		if level == "Column" {
			col, isCol = p.column(name)
		}
		sel := quoteIdent(seqColumn)
		if isCol {
			sel += ", s." + quoteIdent(col.Name)
		}
		// A column absent from the stage makes the query fail: that constraint cannot be
		// checked here.
		rows, qerr := t.QueryRows(ctx, "SELECT "+sel+" FROM "+mm.stage+" s"+cond+"NOT ("+clause+") ORDER BY "+
			quoteIdent(seqColumn)+" LIMIT 1")
		if qerr != nil || len(rows) == 0 {
			continue
		}
		seq, _ := rows[0][0].(int64)
		reason := fmt.Errorf("fails CHECK constraint %s (%s): %w", quoteIdent(name), clause, err)
		if isCol {
			ve := &ValueError{Table: p.name(), Row: seq, Column: col.Name, Value: shown(rows[0][1]), Err: reason}
			if pos, ok := mm.track.Locate(seq); ok {
				ve.Source, ve.Line = pos.Source, pos.Line
			}
			return ve
		}
		loc := ""
		if pos, ok := mm.track.Locate(seq); ok {
			loc = pos.String() + ": "
		}
		return fmt.Errorf("%stable %s, row %d: %w", loc, p.name(), seq, reason)
	}
	return nil
}
