package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
	"github.com/sluice-etl/sluice/internal/pgxrows"
)

// dialect is PostgreSQL's side of the load protocol in internal/load.
type dialect struct {
	pool *pgxpool.Pool
	// meta is the schema of sluice_state; with the pipeline's name it scopes the lock.
	meta string
}

var (
	_ load.Dialect        = dialect{}
	_ load.UniqueIndexer  = dialect{}
	_ load.UniqueViolator = dialect{}
)

// UniqueViolation recognises PostgreSQL's unique_violation (23505), raised by a COPY into
// a keyed table or by rebuilding a unique index after the COPY, and returns the key from
// its detail, such as "(name)=(Ann)".
func (dialect) UniqueViolation(err error) (string, bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return "", false
	}
	key := strings.TrimPrefix(pe.Detail, "Key ")
	key = strings.TrimSuffix(strings.TrimSuffix(key, " already exists."), " is duplicated.")
	if key == "" {
		key = pe.ConstraintName
	}
	return key, true
}

func (dialect) Name() string { return "postgres" }

// QuoteIdent quotes one identifier, doubling embedded quotes.
func (dialect) QuoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

func (dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

func (dialect) Qualify(schema, name string) string { return tableRef{Schema: schema, Name: name}.sql() }

func (dialect) ColumnType(t etl.Type) string { return sqlType(t) }

// sqlType maps a logical type to the PostgreSQL type of the tables sluice creates.
func sqlType(t etl.Type) string {
	switch t {
	case etl.TypeInt64:
		return "bigint"
	case etl.TypeFloat64:
		return "double precision"
	case etl.TypeNumeric:
		return "numeric"
	case etl.TypeBool:
		return "boolean"
	case etl.TypeTimestamp:
		return "timestamptz"
	case etl.TypeDate:
		return "date"
	case etl.TypeBytes:
		return "bytea"
	case etl.TypeJSON:
		return "jsonb"
	}
	return "text"
}

// Retryable reports serialization failures and deadlocks. The protocol only retries modes
// that can replay their stage, and a COPY from a stream cannot, so in practice a
// PostgreSQL load is never run twice.
func (dialect) Retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func (d dialect) Session(ctx context.Context) (load.Session, error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return &session{pool: d.pool, conn: conn, meta: d.meta}, nil
}

// uniqueIndexSQL finds a valid, immediate, non-partial unique index on plain columns whose
// key columns are exactly $2, and that cannot hold two rows with equal keys: every key
// column is NOT NULL or the index treats NULLs as equal.
const uniqueIndexSQL = `
SELECT EXISTS (
	SELECT 1 FROM pg_index i
	WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid AND i.indimmediate
	  AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = cardinality($2::text[])
	  AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FILTER (WHERE a.attnotnull OR i.indnullsnotdistinct)
	       FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
	       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
	       WHERE k.ord <= i.indnkeyatts)
	    = (SELECT array_agg(c ORDER BY c) FROM unnest($2::text[]) AS c)
)`

// UniqueIndex reports whether a unique index makes a uniqueness query on cols redundant.
func (dialect) UniqueIndex(ctx context.Context, tx load.Tx, schema, table string, cols []string) (bool, error) {
	rows, err := tx.QueryRows(ctx, uniqueIndexSQL, tableRef{Schema: schema, Name: table}.sql(), cols)
	if err != nil {
		return false, fmt.Errorf("look up unique indexes of %s: %w", tableRef{Schema: schema, Name: table}, err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return false, nil
	}
	ok, _ := rows[0][0].(bool)
	return ok, nil
}

// session is one pooled connection held for a whole load.
type session struct {
	pool     *pgxpool.Pool
	conn     *pgxpool.Conn
	meta     string
	released bool // conn went back to the pool early, dead
}

// LockKey returns the advisory lock key of a pipeline whose state lives in schema: the
// 64-bit FNV-1a hash of "sluice:", the schema, a NUL byte and the name. The lock has the
// same scope as the state, so pipelines of one name that keep their state in different
// schemas do not block each other. Other tools can take the same lock with
// pg_advisory_lock to keep out of a pipeline's way.
func LockKey(schema, pipeline string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("sluice:"))
	_, _ = h.Write([]byte(schema))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(pipeline))
	return int64(h.Sum64())
}

// clientCheckInterval is how often, while a load's statement runs, the server checks that
// the loader is still connected (client_connection_check_interval, PostgreSQL 14 and
// later; set on the load's session only). The pipeline's lock belongs to the session, and
// a server that does not check notices a killed loader only when its running statement
// ends: after an index build or a long DELETE, the next run would find the lock held for
// as long. With the check, the lock goes within about this interval of the kill.
const clientCheckInterval = time.Second

// Lock takes the pipeline's session-level advisory lock. A zero wait tries once; a
// positive wait blocks in the server under lock_timeout, so nothing polls. The lock lives
// with the connection, so a killed process releases it when its session ends, and the
// session checks every clientCheckInterval that its client is alive.
func (s *session) Lock(ctx context.Context, pipeline string, wait time.Duration) (func(context.Context), error) {
	conn := s.conn.Conn()
	checks := serverMajor(conn.PgConn().ParameterStatus("server_version")) >= 14
	// One round trip learns the schema that scopes the lock (when MetaSchema is unset) and
	// the backend's start time, which with its pid names it, and turns the client check
	// on, keeping the setting it replaces for the release.
	q := `SELECT current_schema(), backend_start, NULL, NULL FROM pg_stat_activity WHERE pid = pg_backend_pid()`
	args := []any{}
	if checks {
		q = `SELECT current_schema(), backend_start, current_setting('client_connection_check_interval'),
			set_config('client_connection_check_interval', $1, false) FROM pg_stat_activity WHERE pid = pg_backend_pid()`
		args = append(args, strconv.FormatInt(clientCheckInterval.Milliseconds(), 10))
	}
	var current string
	var started time.Time
	var prevCheck, setCheck *string
	if err := conn.QueryRow(ctx, q, args...).Scan(&current, &started, &prevCheck, &setCheck); err != nil {
		return nil, fmt.Errorf("pipeline %q: take lock: %w", pipeline, err)
	}
	schema := s.meta
	if schema == "" {
		schema = current
	}
	key := LockKey(schema, pipeline)
	locked := fmt.Errorf("pipeline %q (advisory lock %d): %w", pipeline, key, etl.ErrLocked)
	restore := func() {
		if prevCheck != nil {
			c, cancel := load.CleanupContext(ctx)
			defer cancel()
			_, _ = conn.Exec(c, "SELECT set_config('client_connection_check_interval', $1, false)", *prevCheck)
		}
	}
	if wait <= 0 {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
			restore()
			return nil, fmt.Errorf("pipeline %q: take lock: %w", pipeline, err)
		}
		if !ok {
			restore()
			return nil, locked
		}
	} else {
		ms := max(wait.Milliseconds(), 1)
		if _, err := conn.Exec(ctx, "SELECT set_config('lock_timeout', $1, false)", strconv.FormatInt(ms, 10)); err != nil {
			restore()
			return nil, fmt.Errorf("pipeline %q: take lock: %w", pipeline, err)
		}
		_, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key)
		c, cancel := load.CleanupContext(ctx)
		if _, rerr := conn.Exec(c, "RESET lock_timeout"); rerr != nil && err == nil {
			err = rerr
		}
		cancel()
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" {
			restore()
			return nil, locked
		}
		if err != nil {
			restore()
			return nil, fmt.Errorf("pipeline %q: take lock: %w", pipeline, err)
		}
	}
	pid := conn.PgConn().PID()
	return func(ctx context.Context) {
		if conn.IsClosed() {
			// A cancelled statement took the connection down. Its backend lives on, holding
			// the lock, until it notices; end it now, so the next run can take the lock at
			// once.
			s.conn.Release()
			s.released = true
			endBackend(ctx, s.pool, pid, started)
			return
		}
		var ok bool
		err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", key).Scan(&ok)
		if err == nil && prevCheck != nil {
			_, err = conn.Exec(ctx, "SELECT set_config('client_connection_check_interval', $1, false)", *prevCheck)
		}
		if err != nil || !ok {
			// Never hand a connection that may still hold the lock back to the pool.
			_ = conn.Close(ctx)
		}
	}, nil
}

// serverMajor returns the major version in a server_version such as "15.4 (Debian ...)",
// or 0.
func serverMajor(v string) int {
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(v)
	}
	n, _ := strconv.Atoi(v[:end])
	return n
}

// endBackend terminates the server process of a connection this process lost, named by
// its pid and start time (so a pid reused since is left alone), and waits until it has
// gone, through another connection of pool. Terminating a backend of one's own role needs
// no privilege.
func endBackend(ctx context.Context, pool *pgxpool.Pool, pid uint32, started time.Time) {
	const wait = 5000 // ms the server waits for the process to end
	_, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid, $3) FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2`,
		int64(pid), started, int64(wait))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42883" {
		return // done, or the server cannot be reached: the backend then ends when it notices
	}
	// Before PostgreSQL 14 the function cannot wait: signal, then watch it go.
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2`,
		int64(pid), started); err != nil {
		return
	}
	load.WaitGone(ctx, func() bool {
		var alive bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2)`,
			int64(pid), started).Scan(&alive)
		return err == nil && alive
	})
}

func (s *session) Begin(ctx context.Context) (load.Tx, error) {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{tx: tx}, nil
}

func (s *session) Close(context.Context) {
	if !s.released {
		s.conn.Release()
	}
}

// pgTx adapts pgx.Tx to the protocol's Tx and gives this package's modes the connection
// for COPY.
type pgTx struct {
	tx pgx.Tx
}

func (t *pgTx) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (t *pgTx) QueryRows(ctx context.Context, sql string, args ...any) ([][]any, error) {
	return pgxrows.Collect(t.tx.Query(ctx, sql, args...))
}

func (t *pgTx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t *pgTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// asPgTx returns the transaction's pgx side; every Tx this package's modes receive comes
// from its own dialect.
func asPgTx(tx load.Tx) (*pgTx, error) {
	p, ok := tx.(*pgTx)
	if !ok {
		return nil, fmt.Errorf("postgres: mode run with a %T transaction", tx)
	}
	return p, nil
}
