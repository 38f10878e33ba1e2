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
	return &session{conn: conn, meta: d.meta}, nil
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
	conn *pgxpool.Conn
	meta string
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

// Lock takes the pipeline's session-level advisory lock. A zero wait tries once; a
// positive wait blocks in the server under lock_timeout, so nothing polls. The lock lives
// with the connection, so a killed process releases it when its session ends.
func (s *session) Lock(ctx context.Context, pipeline string, wait time.Duration) (func(context.Context), error) {
	conn := s.conn.Conn()
	schema := s.meta
	if schema == "" {
		if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return nil, fmt.Errorf("pipeline %q: take lock: %w", pipeline, err)
		}
	}
	key := LockKey(schema, pipeline)
	locked := fmt.Errorf("pipeline %q (advisory lock %d): %w", pipeline, key, etl.ErrLocked)
	if wait <= 0 {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
			return nil, fmt.Errorf("pipeline %q: take lock: %w", pipeline, err)
		}
		if !ok {
			return nil, locked
		}
	} else {
		ms := max(wait.Milliseconds(), 1)
		if _, err := conn.Exec(ctx, "SELECT set_config('lock_timeout', $1, false)", strconv.FormatInt(ms, 10)); err != nil {
			return nil, fmt.Errorf("pipeline %q: take lock: %w", pipeline, err)
		}
		_, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key)
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), "RESET lock_timeout"); rerr != nil && err == nil {
			err = rerr
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" {
			return nil, locked
		}
		if err != nil {
			return nil, fmt.Errorf("pipeline %q: take lock: %w", pipeline, err)
		}
	}
	return func(ctx context.Context) {
		if conn.IsClosed() {
			return
		}
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", key).Scan(&ok); err != nil || !ok {
			// Never hand a connection that may still hold the lock back to the pool.
			_ = conn.Close(ctx)
		}
	}, nil
}

func (s *session) Begin(ctx context.Context) (load.Tx, error) {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{tx: tx}, nil
}

func (s *session) Close(context.Context) { s.conn.Release() }

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
