package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
)

// sessionMode is the sql_mode of every load session. Strict mode turns a value the
// column cannot hold into an error in INSERT ... SELECT and DELETE; NO_AUTO_VALUE_ON_ZERO
// stores a 0 sent for an AUTO_INCREMENT column as 0 instead of a new number, as the
// stream says; the zero-date modes refuse '0000-00-00'. It leaves out ANSI_QUOTES and
// NO_BACKSLASH_ESCAPES, whose meaning the statements here depend on. LOAD DATA LOCAL
// turns errors into warnings whatever the mode, so every load also checks the warnings
// (see loadData).
const sessionMode = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO," +
	"NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO"

// dialect is MySQL's side of the load protocol in internal/load.
type dialect struct {
	db *sql.DB
	// meta is the database of sluice_state; with the pipeline's name it scopes the lock.
	meta string
}

var (
	_ load.Dialect        = dialect{}
	_ load.UniqueIndexer  = dialect{}
	_ load.UniqueViolator = dialect{}
)

func (dialect) Name() string { return "mysql" }

// QuoteIdent quotes one identifier with backticks, doubling embedded backticks.
func (dialect) QuoteIdent(name string) string { return quoteIdent(name) }

func (dialect) Placeholder(int) string { return "?" }

func (dialect) Qualify(schema, name string) string { return qualify(schema, name) }

func (dialect) ColumnType(t etl.Type) string { return sqlType(t, false) }

// Retryable reports deadlocks. The protocol retries only modes that can replay their
// stage, and a LOAD DATA from a stream cannot, so in practice a load is never run twice.
func (dialect) Retryable(err error) bool { return errorNumber(err) == 1213 }

// UniqueViolation recognises a duplicate refused by a unique index: error 1062 from a
// statement, or the warning 1062 that LOAD DATA LOCAL reports instead (it skips the row,
// which the load refuses), and returns the key as the server quotes it, such as
// "'7' for key 'PRIMARY'".
func (dialect) UniqueViolation(err error) (string, bool) {
	var we *WarningsError
	if errors.As(err, &we) {
		for _, w := range we.Warnings {
			if w.Code == 1062 {
				return duplicateKey(w.Message), true
			}
		}
		return "", false
	}
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) && me.Number == 1062 {
		return duplicateKey(me.Message), true
	}
	return "", false
}

// duplicateKey cuts "Duplicate entry '7' for key 'PRIMARY'" down to "'7' for key 'PRIMARY'".
func duplicateKey(msg string) string {
	return strings.TrimPrefix(msg, "Duplicate entry ")
}

// errorNumber returns the server's error number in err's chain, or 0.
func errorNumber(err error) uint16 {
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func quoteIdent(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

func qualify(schema, name string) string {
	if schema == "" {
		return quoteIdent(name)
	}
	return quoteIdent(schema) + "." + quoteIdent(name)
}

// quoteList quotes names and joins them with ", ".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// sqlType maps a logical type to the MySQL type of the tables sluice creates. A key
// column cannot be TEXT or BLOB without a prefix length, so key text and bytes get
// VARCHAR(255) and VARBINARY(255); a longer value is refused, not cut. Numeric gets
// MySQL's widest DECIMAL(65,30); a value with more than 30 decimal places is refused.
func sqlType(t etl.Type, key bool) string {
	switch t {
	case etl.TypeInt64:
		return "BIGINT"
	case etl.TypeFloat64:
		return "DOUBLE"
	case etl.TypeNumeric:
		return "DECIMAL(65,30)"
	case etl.TypeBool:
		return "BOOLEAN"
	case etl.TypeTimestamp:
		return "DATETIME(6)"
	case etl.TypeDate:
		return "DATE"
	case etl.TypeBytes:
		if key {
			return "VARBINARY(255)"
		}
		return "LONGBLOB"
	case etl.TypeJSON:
		return "JSON"
	}
	if key {
		return "VARCHAR(255)"
	}
	return "LONGTEXT"
}

func (d dialect) Session(ctx context.Context) (load.Session, error) {
	return openSession(ctx, d.db, d.meta)
}

// openSession takes a connection from db for the whole load and sets its session: the
// strict sql_mode, utf8mb4, UTC as the time zone (a TIMESTAMP column then stores the
// instant and a DATETIME its UTC wall-clock time), and notes counted as warnings, so that
// a decimal rounded to the column's scale is seen. Since these settings would leak into
// whoever used the connection next, Close discards it rather than give it back to the
// pool.
func openSession(ctx context.Context, db *sql.DB, meta string) (*session, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysql: connect: %w", err)
	}
	s := &session{conn: conn, db: db, meta: meta}
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID(), COALESCE((SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()), '')").Scan(&s.id, &s.host); err != nil {
		s.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("mysql: set up the session: %w", err)
	}
	for _, q := range []string{
		"SET NAMES utf8mb4",
		"SET SESSION sql_mode = '" + sessionMode + "', time_zone = '+00:00', sql_notes = 1",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			s.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("mysql: set up the session: %w", err)
		}
	}
	return s, nil
}

// session is one connection held for a whole load.
type session struct {
	conn *sql.Conn
	db   *sql.DB
	id   int64  // the server's CONNECTION_ID() of conn
	host string // the client's address and port as the server's process list shows conn
	meta string
	// atClose runs when the load is over, rolled back or committed, on the session's
	// connection and while its locks are still held.
	atClose []func(context.Context, *sql.Conn)
}

// LockName returns the name of the GET_LOCK lock that a pipeline whose state lives in the
// database schema holds while it loads: "sluice:", a hash of the schema and the pipeline,
// and as much of a readable form of both as fits MySQL's 64-character limit. The lock has
// the same scope as the state, so pipelines of one name that keep their state in
// different databases do not block each other. Other programs can take the same lock with
// GET_LOCK to keep out of a pipeline's way.
func LockName(schema, pipeline string) string {
	return lockName("sluice:", schema, pipeline)
}

// swapLockName is the lock a swap holds on its target table, so that two pipelines
// swapping one table never share its new and old tables.
func swapLockName(schema, table string) string {
	return lockName("sluice-swap:", schema, table)
}

// maxLockName is MySQL's limit on a user-level lock's name.
const maxLockName = 64

func lockName(prefix, scope, name string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + name))
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(hex.EncodeToString(sum[:8]))
	b.WriteByte(':')
	for _, r := range scope + "." + name {
		if b.Len() >= maxLockName {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// getLock takes the named lock, waiting at most wait (rounded up to whole seconds, the
// unit of GET_LOCK). It reports false when the wait ran out.
func getLock(ctx context.Context, conn *sql.Conn, name string, wait time.Duration) (bool, error) {
	secs := int64(0)
	if wait > 0 {
		secs = int64(math.Ceil(wait.Seconds()))
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, secs).Scan(&got); err != nil {
		return false, err
	}
	if !got.Valid {
		return false, fmt.Errorf("GET_LOCK(%q) failed", name)
	}
	return got.Int64 == 1, nil
}

// Lock takes the pipeline's lock with GET_LOCK. A zero wait tries once; a positive wait
// blocks in the server. The lock lives with the connection, so a killed process releases
// it when its session ends.
func (s *session) Lock(ctx context.Context, pipeline string, wait time.Duration) (func(context.Context), error) {
	schema := s.meta
	if schema == "" {
		var db sql.NullString
		if err := s.conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&db); err != nil {
			return nil, fmt.Errorf("pipeline %q: take lock: %w", pipeline, err)
		}
		schema = db.String
	}
	name := LockName(schema, pipeline)
	ok, err := getLock(ctx, s.conn, name, wait)
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: take lock: %w", pipeline, err)
	}
	if !ok {
		return nil, fmt.Errorf("pipeline %q (GET_LOCK %q, waited %s; set LockWait to wait longer): %w",
			pipeline, name, wait, etl.ErrLocked)
	}
	return func(ctx context.Context) {
		// Close discards the connection anyway, which releases every lock it holds.
		_, _ = s.conn.ExecContext(ctx, "SELECT RELEASE_LOCK(?)", name)
	}, nil
}

func (s *session) Begin(ctx context.Context) (load.Tx, error) {
	if _, err := s.conn.ExecContext(ctx, "START TRANSACTION"); err != nil {
		return nil, err
	}
	return &tx{conn: s.conn, s: s}, nil
}

// Close runs what the load left to do at its end, then discards the connection: its
// session settings, temporary tables and locks end with it.
//
// A connection the driver gave up on (a cancelled statement closes the socket) leaves
// its server thread behind until the server notices, which for a statement still
// running, a LOAD DATA rolling back say, is when that statement ends; until then the
// thread keeps the pipeline's lock and the next run finds it taken. So when the
// connection is lost, Close ends the thread with KILL through another connection and
// waits, within ctx, until it is gone.
func (s *session) Close(ctx context.Context) {
	for _, f := range s.atClose {
		f(ctx, s.conn)
	}
	lost := s.conn.PingContext(ctx) != nil
	_ = s.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = s.conn.Close()
	if lost && s.id != 0 && s.host != "" && ctx.Err() == nil {
		endThread(ctx, s.db, s.id, s.host)
	}
}

// endThread kills the server thread id, a connection this process lost, and waits until
// it has gone. Killing a thread of one's own user needs no privilege. The thread must
// still show the client address and port it had (host): after a restart of the server,
// or behind a proxy, the id may name another client's connection, which is left alone.
// An error (the thread already gone, the server unreachable) ends the wait, and so does
// etl.DefaultCleanupTimeout when ctx has no deadline: the thread then ends when the
// server notices.
func endThread(ctx context.Context, db *sql.DB, id int64, host string) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, etl.DefaultCleanupTimeout)
		defer cancel()
	}
	alive := func() bool {
		var n int
		err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND HOST = ?", id, host).Scan(&n)
		return err == nil && n > 0
	}
	if !alive() {
		return
	}
	if _, err := db.ExecContext(ctx, "KILL "+strconv.FormatInt(id, 10)); err != nil {
		return
	}
	load.WaitGone(ctx, alive)
}

// tx is a transaction on the session's connection, begun and ended with plain
// statements rather than database/sql's Tx, so that a mode can run DDL, which MySQL
// commits implicitly, and open the transaction again on the same connection.
type tx struct {
	conn *sql.Conn
	s    *session
}

func (t *tx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.conn.ExecContext(ctx, q, bindArgs(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *tx) QueryRows(ctx context.Context, q string, args ...any) ([][]any, error) {
	return queryRows(ctx, t.conn, q, args...)
}

func (t *tx) Commit(ctx context.Context) error {
	_, err := t.conn.ExecContext(ctx, "COMMIT")
	return err
}

func (t *tx) Rollback(ctx context.Context) error {
	_, err := t.conn.ExecContext(ctx, "ROLLBACK")
	return err
}

// ddl runs a statement that MySQL commits implicitly (CREATE, DROP, RENAME, ANALYZE
// TABLE) and then opens a new transaction, so that what follows is atomic again. Only
// call it where committing the transaction so far is harmless.
func (t *tx) ddl(ctx context.Context, q string) error {
	if _, err := t.conn.ExecContext(ctx, q); err != nil {
		return err
	}
	_, err := t.conn.ExecContext(ctx, "START TRANSACTION")
	return err
}

// asTx returns this package's transaction; every Tx this package's modes receive comes
// from its own dialect.
func asTx(ltx load.Tx) (*tx, error) {
	t, ok := ltx.(*tx)
	if !ok {
		return nil, fmt.Errorf("mysql: mode run with a %T transaction", ltx)
	}
	return t, nil
}

// bindArgs turns time.Time into the UTC text a DATETIME stores (the session's time zone
// is UTC, so a TIMESTAMP stores the same instant), and etl.Decimal into its text, so that
// neither depends on the driver's loc setting in the user's DSN.
func bindArgs(args []any) []any {
	out := args
	for i, a := range args {
		var v any
		switch x := a.(type) {
		case time.Time:
			v = x.UTC().Format("2006-01-02 15:04:05.999999")
		case etl.Decimal:
			v = string(x)
		default:
			continue
		}
		if &out[0] == &args[0] {
			out = append([]any(nil), args...) // the caller's slice stays as it was
		}
		out[i] = v
	}
	return out
}

type rowQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryRows runs q and returns every row, with each value converted by its column's type
// to what the rest of sluice expects: int64 (uint64 past its range), float64, string,
// []byte for binary columns, time.Time in UTC for DATETIME, TIMESTAMP and DATE, and the
// text of a DECIMAL (an int64 when it has no fraction, as COUNT and SUM do).
func queryRows(ctx context.Context, q rowQuerier, query string, args ...any) ([][]any, error) {
	rows, err := q.QueryContext(ctx, query, bindArgs(args)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = fromDB(types[i].DatabaseTypeName(), v)
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

func fromDB(typ string, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		// parseTime=true reads the wall clock in the DSN's loc; the session writes UTC.
		return time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return x
	case float32:
		return float64(x)
	case []byte:
		s := string(x)
		switch {
		case strings.HasPrefix(typ, "UNSIGNED "):
			if n, err := strconv.ParseUint(s, 10, 64); err == nil {
				return fromDB(typ, n)
			}
		case strings.HasSuffix(typ, "INT") || typ == "YEAR":
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
		case typ == "DECIMAL":
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
			return s
		case typ == "DOUBLE" || typ == "FLOAT":
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f
			}
		case typ == "DATETIME" || typ == "TIMESTAMP":
			if t, err := time.Parse("2006-01-02 15:04:05.999999", s); err == nil {
				return t
			}
		case typ == "DATE":
			if t, err := time.Parse("2006-01-02", s); err == nil {
				return t
			}
		case strings.HasSuffix(typ, "BLOB") || strings.HasSuffix(typ, "BINARY") || typ == "BIT" || typ == "GEOMETRY":
			return x
		}
		return s
	}
	return v
}
