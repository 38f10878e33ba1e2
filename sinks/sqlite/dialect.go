package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
)

// dialect is SQLite's side of the load protocol.
type dialect struct{ db *DB }

var (
	_ load.Dialect       = dialect{}
	_ load.UniqueIndexer = dialect{}
)

func (dialect) Name() string { return "sqlite" }

// QuoteIdent quotes name as an SQLite identifier: double quotes, embedded ones doubled.
func (dialect) QuoteIdent(name string) string { return quoteIdent(name) }

func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func (dialect) Placeholder(int) string { return "?" }

// Qualify treats schema as the name of an attached database ("main", "temp" or one given
// to ATTACH); an empty schema means the connection's default lookup.
func (dialect) Qualify(schema, name string) string {
	if schema == "" {
		return quoteIdent(name)
	}
	return quoteIdent(schema) + "." + quoteIdent(name)
}

func (dialect) ColumnType(t etl.Type) string { return columnType(t) }

// columnType maps a logical type to the declared type of the tables this package creates.
// Exact values (decimals, timestamps, dates) are TEXT: a NUMERIC or REAL column would
// round a decimal through a double.
func columnType(t etl.Type) string {
	switch t {
	case etl.TypeInt64, etl.TypeBool:
		return "INTEGER"
	case etl.TypeFloat64:
		return "REAL"
	case etl.TypeBytes:
		return "BLOB"
	}
	return "TEXT"
}

// Retryable reports SQLITE_BUSY: another connection held the write lock for longer than
// the busy timeout. A transaction that failed so may run again when its stream is unread.
func (dialect) Retryable(err error) bool { return isBusy(err) }

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

func (d dialect) Session(ctx context.Context) (load.Session, error) {
	conn, err := d.db.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", d.db.path, err)
	}
	return &session{db: d.db, conn: conn}, nil
}

// UniqueIndex reports whether table has a unique, non-partial index on exactly cols, all of
// them NOT NULL (SQLite's unique indexes admit several NULLs), or cols is the table's
// INTEGER PRIMARY KEY (the rowid, unique and never NULL).
func (dialect) UniqueIndex(ctx context.Context, tx load.Tx, schema, table string, cols []string) (bool, error) {
	if len(cols) == 0 {
		return false, nil
	}
	args := func(first string) []any {
		if schema == "" {
			return []any{first}
		}
		return []any{first, schema}
	}
	sch := ""
	if schema != "" {
		sch = ", ?"
	}
	info, err := tx.QueryRows(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?`+sch+`)`, args(table)...)
	if err != nil {
		return false, err
	}
	notNull := map[string]bool{}
	var pks []string
	var pkType string
	for _, r := range info {
		name, _ := r[0].(string)
		typ, _ := r[1].(string)
		nn, _ := r[2].(int64)
		pk, _ := r[3].(int64)
		notNull[name] = nn == 1
		if pk > 0 {
			pks = append(pks, name)
			pkType = typ
		}
	}
	if len(cols) == 1 && len(pks) == 1 && pks[0] == cols[0] && strings.EqualFold(pkType, "INTEGER") {
		return true, nil
	}
	for _, c := range cols {
		if !notNull[c] {
			return false, nil
		}
	}
	idx, err := tx.QueryRows(ctx, `SELECT name FROM pragma_index_list(?`+sch+`) WHERE "unique" = 1 AND partial = 0`, args(table)...)
	if err != nil {
		return false, err
	}
	for _, r := range idx {
		name, _ := r[0].(string)
		icols, err := tx.QueryRows(ctx, `SELECT name FROM pragma_index_info(?`+sch+`)`, args(name)...)
		if err != nil {
			return false, err
		}
		if sameSet(icols, cols) {
			return true, nil
		}
	}
	return false, nil
}

func sameSet(rows [][]any, cols []string) bool {
	if len(rows) != len(cols) {
		return false
	}
	want := make(map[string]bool, len(cols))
	for _, c := range cols {
		want[c] = true
	}
	for _, r := range rows {
		name, ok := r[0].(string) // NULL for an expression
		if !ok || !want[name] {
			return false
		}
		delete(want, name)
	}
	return len(want) == 0
}

// session is one pooled connection held for a whole load. database/sql's BeginTx cannot
// say BEGIN IMMEDIATE, so the session runs BEGIN, COMMIT and ROLLBACK itself and tracks
// whether a transaction is open.
type session struct {
	db   *DB
	conn *sql.Conn
	inTx bool
	lock *pipelineLock
}

func (s *session) Lock(ctx context.Context, pipeline string, wait time.Duration) (func(context.Context), error) {
	l, err := acquire(ctx, s.db.path, pipeline, wait)
	if err != nil {
		return nil, err
	}
	s.lock = l
	return func(context.Context) { s.unlock() }, nil
}

func (s *session) unlock() {
	if s.lock != nil {
		if err := s.lock.release(); err != nil {
			s.db.cfg.Logger.Warn("sqlite: releasing the pipeline lock failed", "error", err)
		}
		s.lock = nil
	}
}

// Begin takes SQLite's write lock at once (BEGIN IMMEDIATE), waiting up to the busy
// timeout, so the load never fails halfway on a lock upgrade.
func (s *session) Begin(ctx context.Context) (load.Tx, error) {
	if s.inTx {
		return nil, errors.New("sqlite: a transaction is already open on this session")
	}
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return nil, fmt.Errorf("sqlite %s: begin: %w", s.db.path, err)
	}
	s.inTx = true
	return &tx{s: s}, nil
}

// Close rolls back a transaction left open and gives the connection back. A connection
// whose state is unknown is closed instead of pooled.
func (s *session) Close(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if s.inTx {
		if _, err := s.conn.ExecContext(ctx, "ROLLBACK"); err == nil {
			s.inTx = false
		}
	}
	if s.inTx {
		_ = s.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = s.conn.Close()
	s.unlock()
}

// tx is the session's open transaction.
type tx struct {
	s    *session
	done bool
}

func (t *tx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.s.conn.ExecContext(ctx, q, bindArgs(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *tx) QueryRows(ctx context.Context, q string, args ...any) ([][]any, error) {
	return queryRows(ctx, t.s.conn, q, bindArgs(args)...)
}

func (t *tx) Commit(ctx context.Context) error {
	if t.done {
		return errors.New("sqlite: transaction already ended")
	}
	if _, err := t.s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		// SQLite may keep the transaction open after a failed COMMIT; end it so the
		// connection is clean.
		_ = t.Rollback(context.WithoutCancel(ctx))
		return fmt.Errorf("sqlite %s: commit: %w", t.s.db.path, err)
	}
	t.done, t.s.inTx = true, false
	return nil
}

func (t *tx) Rollback(ctx context.Context) error {
	if t.done {
		return nil
	}
	t.done = true
	if _, err := t.s.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		// SQLite rolls back by itself on some errors (a full disk, say); then there is
		// no transaction left and the connection is fine.
		if strings.Contains(err.Error(), "no transaction is active") {
			t.s.inTx = false
			return nil
		}
		return fmt.Errorf("sqlite %s: rollback: %w", t.s.db.path, err)
	}
	t.s.inTx = false
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryRows runs q and returns every row, each value as int64, float64, string, []byte or
// nil.
func queryRows(ctx context.Context, db queryer, q string, args ...any) ([][]any, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			switch x := v.(type) {
			case time.Time: // a column the user declared DATE, DATETIME or TIMESTAMP
				vals[i] = formatTimestamp(x)
			case bool:
				vals[i] = boolInt(x)
			case []byte:
				if x == nil { // an empty BLOB, not NULL
					vals[i] = []byte{}
				}
			}
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// bindArgs turns the protocol's own arguments (times, bools, decimals) into values with
// the same text form as this package's column encoding.
func bindArgs(in []any) []any {
	args := make([]any, len(in))
	copy(args, in)
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			args[i] = formatTimestamp(v)
		case bool:
			args[i] = boolInt(v)
		case etl.Decimal:
			args[i] = string(v)
		case int:
			args[i] = int64(v)
		}
	}
	return args
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
