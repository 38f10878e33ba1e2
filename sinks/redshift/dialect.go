package redshift

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
	"github.com/sluice-etl/sluice/internal/pgxrows"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
)

// dialect is Redshift's side of the load protocol in internal/load.
type dialect struct {
	connect func(ctx context.Context) (DB, error)
	// onSession, when set, is given the connection of each session, so that a mode can
	// run statements outside the protocol's transactions (reading the load error log
	// after a failed COPY, creating the table before the upload).
	onSession func(DB)
}

var (
	_ load.Dialect  = dialect{}
	_ load.TxLocker = dialect{}
)

// LocksInTransaction is true: Redshift's only lock is the LOCK each mode takes on the
// target inside the load's transaction.
func (dialect) LocksInTransaction() bool { return true }

func (dialect) Name() string { return "redshift" }

func (dialect) QuoteIdent(name string) string { return redshiftcopy.QuoteIdentifier(name) }

func (dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

func (dialect) Qualify(schema, name string) string {
	return redshiftcopy.Table{Schema: schema, Name: name}.String()
}

// ColumnType maps a logical type to the Redshift type of the tables sluice creates. TEXT
// is VARCHAR(256) on Redshift, too short for error messages, so text is VARCHAR(65535).
func (dialect) ColumnType(t etl.Type) string { return sqlType(t) }

func sqlType(t etl.Type) string {
	switch t {
	case etl.TypeInt64:
		return "BIGINT"
	case etl.TypeFloat64:
		return "DOUBLE PRECISION"
	case etl.TypeNumeric:
		return "NUMERIC(38,10)"
	case etl.TypeBool:
		return "BOOLEAN"
	case etl.TypeTimestamp:
		return "TIMESTAMPTZ"
	case etl.TypeDate:
		return "DATE"
	}
	return "VARCHAR(65535)"
}

// Retryable reports Redshift's isolation conflicts (see [IsRetryable]), which the
// protocol answers by running the whole transaction again from the staged files.
func (dialect) Retryable(err error) bool { return IsRetryable(err) }

func (d dialect) Session(ctx context.Context) (load.Session, error) {
	db, err := d.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("redshift: connect: %w", err)
	}
	if d.onSession != nil {
		d.onSession(db)
	}
	return &session{db: db}, nil
}

// session is one connection held for a whole load. Transactions are BEGIN, COMMIT and
// ROLLBACK statements sent through the DB seam.
type session struct {
	db DB
}

// Lock is a no-op: Redshift has no advisory locks. Each mode's Prepare takes LOCK on the
// target as the first statement of the transaction instead, so a second run of the same
// pipeline waits for the first to commit.
func (s *session) Lock(context.Context, string, time.Duration) (func(context.Context), error) {
	return func(context.Context) {}, nil
}

func (s *session) Begin(ctx context.Context) (load.Tx, error) {
	if _, err := s.db.Exec(ctx, "BEGIN"); err != nil {
		return nil, err
	}
	return &tx{db: s.db}, nil
}

// Close closes the connection when the seam can be closed (a *pgx.Conn can).
func (s *session) Close(ctx context.Context) {
	if c, ok := s.db.(interface{ Close(context.Context) error }); ok {
		_ = c.Close(ctx)
	}
}

type tx struct {
	db   DB
	done bool
}

func (t *tx) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := t.db.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (t *tx) QueryRows(ctx context.Context, sql string, args ...any) ([][]any, error) {
	return pgxrows.Collect(t.db.Query(ctx, sql, args...))
}

func (t *tx) Commit(ctx context.Context) error {
	if t.done {
		return fmt.Errorf("redshift: transaction already ended")
	}
	t.done = true
	tag, err := t.db.Exec(ctx, "COMMIT")
	if err != nil {
		// Make sure the session is out of the transaction before it is reused; after a
		// failed COMMIT there is usually none left, which is harmless.
		_, _ = t.db.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	if tag.String() == "ROLLBACK" {
		return fmt.Errorf("redshift: COMMIT rolled back an aborted transaction")
	}
	return nil
}

func (t *tx) Rollback(ctx context.Context) error {
	if t.done {
		return nil
	}
	t.done = true
	_, err := t.db.Exec(ctx, "ROLLBACK")
	return err
}
