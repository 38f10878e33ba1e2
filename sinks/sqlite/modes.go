package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
	"github.com/sluice-etl/sluice/internal/origin"
)

// maxVariables is SQLite's default bound on parameters per statement.
const maxVariables = 32766

// DefaultBatchRows is how many rows one prepared INSERT carries.
const DefaultBatchRows = 500

// arrivalColumn orders a merge's stage by arrival, to break ties of the cursor.
const arrivalColumn = "sluice_arrival"

// stream is what every mode knows about the load: the target and the stream's schema.
type stream struct {
	table     string // unquoted
	key       []string
	create    bool
	batchRows int
	schema    etl.Schema
	started   bool
}

// Prepare makes sure the target exists, first in the transaction, so that the checks'
// count of the rows before the load finds it: it creates a missing table from the
// stream's schema when the loader says Create, and fails with etl.ErrNoTable otherwise.
func (s *stream) Prepare(ctx context.Context, ltx load.Tx, run *etl.Run) error {
	t, err := asTx(ltx)
	if err != nil {
		return err
	}
	if !s.create {
		rows, err := t.QueryRows(ctx, "SELECT 1 FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ?", s.table)
		if err != nil {
			return etl.WithStep("stage", fmt.Errorf("look up table %s: %w", s.table, err))
		}
		if len(rows) == 0 {
			return etl.WithStep("stage", fmt.Errorf("table %s: %w (set Create to make it from the stream's schema)", s.table, etl.ErrNoTable))
		}
		return nil
	}
	if err := createTable(ctx, t, quoteIdent(s.table), s.schema, s.key); err != nil {
		return etl.WithStep("stage", fmt.Errorf("create table %s: %w", s.table, err))
	}
	return nil
}

// CanReplay reports whether the stream is still unread: a transaction that failed before
// staging began (SQLITE_BUSY at BEGIN) can run again, one that read rows cannot.
func (s *stream) CanReplay() bool { return !s.started }

func asTx(t load.Tx) (*tx, error) {
	x, ok := t.(*tx)
	if !ok {
		return nil, fmt.Errorf("sqlite: transaction of type %T is not SQLite's", t)
	}
	return x, nil
}

// createTable creates table from schema unless it exists, with key as its PRIMARY KEY
// (key columns NOT NULL, since SQLite's PRIMARY KEY admits NULL otherwise).
func createTable(ctx context.Context, t *tx, qualified string, schema etl.Schema, key []string, extra ...string) error {
	inKey := map[string]bool{}
	for _, k := range key {
		inKey[k] = true
	}
	defs := make([]string, 0, len(schema)+len(extra)+1)
	for _, c := range schema {
		d := quoteIdent(c.Name) + " " + columnType(c.Type)
		if c.NotNull || inKey[c.Name] {
			d += " NOT NULL"
		}
		defs = append(defs, d)
	}
	defs = append(defs, extra...)
	if len(key) > 0 {
		defs = append(defs, "PRIMARY KEY ("+quoteList(key)+")")
	}
	_, err := t.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+qualified+" ("+strings.Join(defs, ", ")+")")
	return err
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// rowFilter vets one encoded row before it is inserted.
type rowFilter func(n int64, vals []any) error

// insertRows streams in into table in prepared multi-row INSERTs and returns the rows
// SQLite inserted. withArrival appends each row's 1-based position as a last column.
func (s *stream) insertRows(ctx context.Context, t *tx, qualified string, in etl.Stream, withArrival bool, vet rowFilter) (int64, error) {
	cols := s.schema.Names()
	if withArrival {
		cols = append(cols, arrivalColumn)
	}
	width := len(cols)
	per := s.batchRows
	if per <= 0 {
		per = DefaultBatchRows
	}
	per = max(1, min(per, maxVariables/width))
	head := "INSERT INTO " + qualified + " (" + quoteList(cols) + ") VALUES "
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	values := func(n int) string { return strings.TrimSuffix(strings.Repeat(one+", ", n), ", ") }

	var full *sql.Stmt
	defer func() {
		if full != nil {
			_ = full.Close()
		}
	}()
	buf := make([]any, 0, per*width)
	var loaded, n int64
	track := origin.New(in)
	exec := func() error {
		rows := len(buf) / width
		var res sql.Result
		var err error
		if rows == per {
			if full == nil {
				if full, err = t.s.conn.PrepareContext(ctx, head+values(per)); err != nil {
					return err
				}
			}
			res, err = full.ExecContext(ctx, buf...)
		} else {
			res, err = t.s.conn.ExecContext(ctx, head+values(rows), buf...)
		}
		if err != nil {
			return s.explain(ctx, t, qualified, err, buf, width, n-int64(rows), track)
		}
		k, err := res.RowsAffected()
		loaded += k
		buf = buf[:0]
		return err
	}
	s.started = true
	for row, err := range in.Rows {
		if err != nil {
			return loaded, err
		}
		n++
		track.Next()
		if len(row) != len(s.schema) {
			return loaded, fmt.Errorf("%stable %s: row %d has %d values for %d columns", where(track, n), s.table, n, len(row), len(s.schema))
		}
		start := len(buf)
		for i, v := range row {
			ev, err := encodeValue(s.schema[i].Type, v)
			if err != nil {
				ve := &ValueError{Table: s.table, Row: n, Column: s.schema[i].Name, Value: clipValue(v), Err: err}
				if pos, ok := track.Locate(n); ok {
					ve.Source, ve.Line = pos.Source, pos.Line
				}
				return loaded, ve
			}
			buf = append(buf, ev)
		}
		if withArrival {
			buf = append(buf, n)
		}
		if vet != nil {
			if err := vet(n, buf[start:]); err != nil {
				return loaded, fmt.Errorf("%s%w", where(track, n), err)
			}
		}
		if len(buf) == per*width {
			if err := exec(); err != nil {
				return loaded, err
			}
		}
	}
	if len(buf) > 0 {
		if err := exec(); err != nil {
			return loaded, err
		}
	}
	return loaded, nil
}

// DuplicateKeyError reports a row whose key the target's PRIMARY KEY or unique index
// already holds, from an earlier row of the same load or, in a merge, from the table.
type DuplicateKeyError struct {
	// Table is the target table.
	Table string
	// Key names the key columns: the sink's Key, or else the columns of the constraint
	// SQLite names. Value holds the row's key values.
	Key   []string
	Value []any
	// Row is the 1-based position of the row in the stream.
	Row int64
	// Source and Line say where the row came from, when the stream says so (see
	// [etl.Stream.Position]).
	Source string
	Line   int64
	// Err is SQLite's constraint error.
	Err error
}

// Error implements the error interface.
func (e *DuplicateKeyError) Error() string {
	parts := make([]string, len(e.Key))
	for i, k := range e.Key {
		parts[i] = fmt.Sprintf("%s=%v", k, e.Value[i])
	}
	loc := ""
	if e.Source != "" {
		loc = fmt.Sprintf("%s: line %d: ", e.Source, e.Line)
	}
	return fmt.Sprintf("%stable %s: row %d: duplicate key %s: %v", loc, e.Table, e.Row, strings.Join(parts, ", "), e.Err)
}

// where returns "source: line N: " for row n, or "" when its position is unknown.
func where(track *origin.Tracker, n int64) string {
	if pos, ok := track.Locate(n); ok {
		return pos.String() + ": "
	}
	return ""
}

// constraintColumns returns the columns SQLite names in a UNIQUE or PRIMARY KEY
// constraint error ("UNIQUE constraint failed: t.a, t.b"), when each is a column of the
// stream.
func (s *stream) constraintColumns(err error) []string {
	msg := err.Error()
	const mark = "constraint failed: " // the driver may say it twice; the columns follow the last
	i := strings.LastIndex(msg, mark)
	if i < 0 {
		return nil
	}
	rest := msg[i+len(mark):]
	if j := strings.Index(rest, " ("); j >= 0 { // the driver appends " (1555)"
		rest = rest[:j]
	}
	var cols []string
	for _, part := range strings.Split(rest, ", ") {
		_, col, ok := strings.Cut(part, ".")
		if !ok || s.schema.Index(col) < 0 {
			return nil
		}
		cols = append(cols, col)
	}
	return cols
}

// Unwrap returns SQLite's error.
func (e *DuplicateKeyError) Unwrap() error { return e.Err }

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// explain turns a unique violation of a batch into a *DuplicateKeyError naming the row
// and its key, by looking for the first row of the batch whose key is already in the
// table or earlier in the batch. SQLite undid the failed statement only, so the table
// holds exactly the earlier batches.
//
// Without a Key on the sink, the key is the constraint's, as SQLite's error names it, so
// that a table's own PRIMARY KEY is reported as PostgreSQL's is.
func (s *stream) explain(ctx context.Context, t *tx, qualified string, err error, buf []any, width int, first int64, track *origin.Tracker) error {
	if !isUniqueViolation(err) {
		return err
	}
	keyCols := s.key
	if len(keyCols) == 0 {
		if keyCols = s.constraintColumns(err); len(keyCols) == 0 {
			return err
		}
	}
	idx := make([]int, len(keyCols))
	for i, k := range keyCols {
		if idx[i] = s.schema.Index(k); idx[i] < 0 {
			return err
		}
	}
	conds := make([]string, len(keyCols))
	for i, k := range keyCols {
		conds[i] = quoteIdent(k) + " = ?"
	}
	q := "SELECT 1 FROM " + qualified + " WHERE " + strings.Join(conds, " AND ") + " LIMIT 1"
	seen := map[string]bool{}
	for r := 0; r*width < len(buf); r++ {
		vals := buf[r*width : (r+1)*width]
		key := make([]any, len(idx))
		for i, j := range idx {
			key[i] = vals[j]
		}
		sig := fmt.Sprintf("%#v", key)
		dup := seen[sig]
		if !dup {
			rows, qerr := queryRows(ctx, t.s.conn, q, key...)
			if qerr != nil {
				return err
			}
			dup = len(rows) > 0
		}
		if dup {
			de := &DuplicateKeyError{Table: s.table, Key: keyCols, Value: key, Row: first + int64(r) + 1, Err: err}
			if pos, ok := track.Locate(de.Row); ok {
				de.Source, de.Line = pos.Source, pos.Line
			}
			return de
		}
		seen[sig] = true
	}
	return err
}

// fullRefresh replaces the whole table: DELETE (inside the transaction, so readers keep
// the old rows until commit) and insert.
type fullRefresh struct {
	stream
	loaded int64
}

func (*fullRefresh) Kind() string { return "full_refresh" }

func (m *fullRefresh) Stage(ctx context.Context, ltx load.Tx, run *etl.Run, in etl.Stream) (int64, error) {
	t, err := asTx(ltx)
	if err != nil {
		return 0, err
	}
	table := quoteIdent(m.table)
	if _, err := t.Exec(ctx, "DELETE FROM "+table); err != nil {
		return 0, fmt.Errorf("empty table %s: %w", m.table, err)
	}
	m.loaded, err = m.insertRows(ctx, t, table, in, false, nil)
	return m.loaded, err
}

// Apply has nothing left to do: the rows went straight into the emptied table.
func (m *fullRefresh) Apply(context.Context, load.Tx, *etl.Run) (load.Applied, error) {
	return load.Applied{Written: m.loaded}, nil
}

// windowReplace replaces the rows whose time column falls in the run's window.
type windowReplace struct {
	stream
	timeColumn string
	loaded     int64
}

func (*windowReplace) Kind() string { return "window_replace" }

// bounds returns the window in the stored text form of the time column, so that the
// comparison is text order. For a date column a row's day counts as its midnight, so the
// bounds round up to the next whole day.
func (m *windowReplace) bounds(run *etl.Run) (lo, hi string, err error) {
	w := run.Window
	if w.IsZero() {
		return "", "", fmt.Errorf("table %s: window replace needs a run window", m.table)
	}
	i := m.schema.Index(m.timeColumn)
	if i < 0 {
		return "", "", fmt.Errorf("table %s: the stream has no time column %q", m.table, m.timeColumn)
	}
	switch m.schema[i].Type {
	case etl.TypeTimestamp:
		return formatTimestamp(w.Start), formatTimestamp(w.End), nil
	case etl.TypeDate:
		return ceilDate(w.Start), ceilDate(w.End), nil
	}
	return "", "", fmt.Errorf("table %s: time column %q is %s, not timestamp or date", m.table, m.timeColumn, m.schema[i].Type)
}

// ceilDate returns the first calendar day (as stored) whose midnight UTC is not before t.
func ceilDate(t time.Time) string {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if d.Before(t) {
		d = d.AddDate(0, 0, 1)
	}
	return d.Format(DateLayout)
}

func (m *windowReplace) Stage(ctx context.Context, ltx load.Tx, run *etl.Run, in etl.Stream) (int64, error) {
	t, err := asTx(ltx)
	if err != nil {
		return 0, err
	}
	lo, hi, err := m.bounds(run)
	if err != nil {
		return 0, err
	}
	table := quoteIdent(m.table)
	col := quoteIdent(m.timeColumn)
	if _, err := t.Exec(ctx, "DELETE FROM "+table+" WHERE "+col+" >= ? AND "+col+" < ?", lo, hi); err != nil {
		return 0, fmt.Errorf("table %s: delete window %s: %w", m.table, run.Window, err)
	}
	// A row outside the window would survive the next replace of its own window and be
	// duplicated, so it fails the load.
	i := m.schema.Index(m.timeColumn)
	vet := func(n int64, vals []any) error {
		s, _ := vals[i].(string)
		if vals[i] == nil || s < lo || s >= hi {
			return fmt.Errorf("table %s: row %d: %s %v is outside the window %s", m.table, n, m.timeColumn, vals[i], run.Window)
		}
		return nil
	}
	m.loaded, err = m.insertRows(ctx, t, table, in, false, vet)
	return m.loaded, err
}

// Apply has nothing left to do: the rows went straight into the emptied window. The old
// rows are replaced, not counted as deleted, as in a full refresh.
func (m *windowReplace) Apply(context.Context, load.Tx, *etl.Run) (load.Applied, error) {
	return load.Applied{Written: m.loaded}, nil
}

// merge applies changed rows by key: stage into a TEMP table with each row's arrival,
// keep the latest row per key (by cursor, then arrival), delete the target's rows with
// those keys, and insert the staged rows that are not deletes.
type merge struct {
	stream
	in          etl.Stream // for the columns it declares; its rows are read by Stage
	cursor      string     // Merge.Cursor, then as resolved by load.MergeColumns
	deleted     string     // Merge.Deleted, then as resolved by load.MergeColumns
	keepDeleted bool
	reconcile   *Reconcile
	stage       string // quoted temp.name
}

func (*merge) Kind() string { return "merge" }

// Prepare checks the merge's columns against the stream before creating the target.
func (m *merge) Prepare(ctx context.Context, ltx load.Tx, run *etl.Run) error {
	if len(m.key) == 0 {
		return etl.WithStep("stage", fmt.Errorf("table %s: merge needs a key", m.table))
	}
	for _, c := range m.key {
		if m.schema.Index(c) < 0 {
			return etl.WithStep("stage", fmt.Errorf("table %s: the stream has no key column %q", m.table, c))
		}
	}
	var err error
	if m.cursor, m.deleted, err = load.MergeColumns(m.table, m.in, m.cursor, m.deleted); err != nil {
		return etl.WithStep("stage", err)
	}
	if m.schema.Index(arrivalColumn) >= 0 {
		return etl.WithStep("stage", fmt.Errorf("table %s: column name %q is reserved for the merge stage", m.table, arrivalColumn))
	}
	return m.stream.Prepare(ctx, ltx, run)
}

func (m *merge) Stage(ctx context.Context, ltx load.Tx, run *etl.Run, in etl.Stream) (int64, error) {
	t, err := asTx(ltx)
	if err != nil {
		return 0, err
	}
	// The stage is per run, in the connection's temp database; it is dropped before
	// commit and vanishes with a rollback.
	m.stage = `temp.` + quoteIdent("sluice_stage_"+run.ID)
	plain := make(etl.Schema, len(m.schema))
	for i, c := range m.schema {
		plain[i] = etl.Column{Name: c.Name, Type: c.Type}
	}
	if err := createTable(ctx, t, m.stage, plain, nil, quoteIdent(arrivalColumn)+" INTEGER NOT NULL"); err != nil {
		return 0, fmt.Errorf("create the stage of %s: %w", m.table, err)
	}
	return m.insertRows(ctx, t, m.stage, in, true, nil)
}

// tombstone returns the SQL condition, over the stage, for a row that is a delete.
func (m *merge) tombstone() string {
	if m.deleted == "" {
		return "0"
	}
	col := quoteIdent(m.deleted)
	if m.schema[m.schema.Index(m.deleted)].Type == etl.TypeBool {
		return col + " = 1"
	}
	return col + " IS NOT NULL" // a deleted_at timestamp
}

func (m *merge) Apply(ctx context.Context, ltx load.Tx, run *etl.Run) (load.Applied, error) {
	var a load.Applied
	t, err := asTx(ltx)
	if err != nil {
		return a, err
	}
	target := quoteIdent(m.table)
	keys := quoteList(m.key)
	arrival := quoteIdent(arrivalColumn)
	order := arrival + " DESC"
	if m.cursor != "" {
		c := quoteIdent(m.cursor)
		if m.schema[m.schema.Index(m.cursor)].Type == etl.TypeNumeric {
			c = "CAST(" + c + " AS NUMERIC)" // decimals are stored as text
		}
		order = c + " DESC, " + order
	}
	type step struct {
		what, sql string
		n         *int64
	}
	steps := []step{
		{"dedupe the stage", "DELETE FROM " + m.stage + " WHERE " + arrival + " NOT IN (SELECT " + arrival +
			" FROM (SELECT " + arrival + ", ROW_NUMBER() OVER (PARTITION BY " + keys + " ORDER BY " + order +
			") AS sluice_rn FROM " + m.stage + ") WHERE sluice_rn = 1)", nil},
		{"index the stage", "CREATE INDEX " + quoteIdent("temp") + "." + quoteIdent("sluice_stage_key_"+run.ID) +
			" ON " + quoteIdent("sluice_stage_"+run.ID) + " (" + keys + ")", nil},
	}
	if !m.keepDeleted {
		steps = append(steps, step{"apply deletes", "DELETE FROM " + target + " WHERE (" + keys + ") IN (SELECT " + keys + " FROM " + m.stage +
			" WHERE " + m.tombstone() + ")", &a.Deleted})
	}
	live := "NOT (" + m.tombstone() + ")"
	if m.keepDeleted || m.deleted == "" {
		live = "1"
	} else if m.schema[m.schema.Index(m.deleted)].Type == etl.TypeBool {
		live = quoteIdent(m.deleted) + " IS NOT 1"
	}
	steps = append(steps,
		step{"delete replaced rows", "DELETE FROM " + target + " WHERE (" + keys + ") IN (SELECT " + keys + " FROM " + m.stage +
			" WHERE " + live + ")", nil},
		step{"insert", "INSERT INTO " + target + " (" + quoteList(m.schema.Names()) + ") SELECT " + quoteList(m.schema.Names()) +
			" FROM " + m.stage + " WHERE " + live + " ORDER BY " + arrival, &a.Written},
		step{"drop the stage", "DROP TABLE " + m.stage, nil},
	)
	for _, s := range steps {
		n, err := t.Exec(ctx, s.sql)
		if err != nil {
			return a, fmt.Errorf("table %s: merge: %s: %w", m.table, s.what, err)
		}
		if s.n != nil {
			*s.n = n
		}
	}
	if m.reconcile != nil {
		n, err := m.reconcileKeys(ctx, t, run)
		if err != nil {
			return a, err
		}
		a.Deleted += n
	}
	return a, nil
}

// reconcileKeys stages the source's key stream and deletes the target rows in scope
// whose key is not in it.
func (m *merge) reconcileKeys(ctx context.Context, t *tx, run *etl.Run) (int64, error) {
	r := m.reconcile
	keys, err := r.Keys.Extract(ctx, run)
	if err != nil {
		return 0, fmt.Errorf("table %s: reconcile: extract keys: %w", m.table, err)
	}
	if len(keys.Schema) != len(m.key) {
		return 0, fmt.Errorf("table %s: reconcile: the key stream has columns %v, the key is %v", m.table, keys.Schema.Names(), m.key)
	}
	for _, k := range m.key {
		if keys.Schema.Index(k) < 0 {
			return 0, fmt.Errorf("table %s: reconcile: the key stream has no column %q", m.table, k)
		}
	}
	name := "sluice_keys_" + run.ID
	ks := stream{table: m.table, batchRows: m.batchRows, schema: keys.Schema}
	stage := "temp." + quoteIdent(name)
	if err := createTable(ctx, t, stage, keys.Schema, nil); err != nil {
		return 0, fmt.Errorf("table %s: reconcile: %w", m.table, err)
	}
	n, err := ks.insertRows(ctx, t, stage, keys, false, nil)
	if err != nil {
		return 0, fmt.Errorf("table %s: reconcile: %w", m.table, err)
	}
	if n == 0 && !run.AllowEmpty {
		// An empty key stream would delete every row in scope: as with a full refresh,
		// that is far likelier a broken source than a truth.
		return 0, fmt.Errorf("table %s: reconcile: the key stream is empty: %w", m.table, etl.ErrEmpty)
	}
	keyList := quoteList(m.key)
	q := "DELETE FROM " + quoteIdent(m.table) + " WHERE (" + keyList + ") NOT IN (SELECT " + keyList + " FROM " + stage + ")"
	if r.Scope != "" {
		q += " AND (" + r.Scope + ")"
	}
	gone, err := t.Exec(ctx, q, r.ScopeArgs...)
	if err != nil {
		return 0, fmt.Errorf("table %s: reconcile: delete rows gone from the source: %w", m.table, err)
	}
	if _, err := t.Exec(ctx, "DROP TABLE "+stage); err != nil {
		return 0, fmt.Errorf("table %s: reconcile: %w", m.table, err)
	}
	return gone, nil
}

// UniqueViolation names the key of a *DuplicateKeyError, so that the load protocol can
// report a duplicate refused by the table's key as the unique_key check's failure.
func (dialect) UniqueViolation(err error) (string, bool) {
	var de *DuplicateKeyError
	if !errors.As(err, &de) {
		return "", false
	}
	parts := make([]string, len(de.Key))
	for i, k := range de.Key {
		parts[i] = fmt.Sprintf("%s=%v", k, de.Value[i])
	}
	return strings.Join(parts, ", "), true
}
