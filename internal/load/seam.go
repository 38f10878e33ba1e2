package load

import (
	"context"
	"time"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
)

// Dialect is what a sink tells the protocol about its database.
type Dialect interface {
	checks.Dialect
	// Name is the database's name for messages, such as "postgres".
	Name() string
	// Session opens one connection for the whole load.
	Session(ctx context.Context) (Session, error)
	// Qualify returns schema.name quoted for SQL; an empty schema means the default one.
	Qualify(schema, name string) string
	// ColumnType returns the SQL type the protocol's own tables use for t (text, int64 and
	// timestamp only).
	ColumnType(t etl.Type) string
	// Retryable reports whether a failed transaction may be run again, such as Redshift's
	// serializable isolation violation (1023).
	Retryable(err error) bool
}

// Session is one database connection held for a whole load.
type Session interface {
	// Lock takes the lock of the named pipeline, waiting at most wait. When the wait runs
	// out it returns an error that wraps etl.ErrLocked. The lock is released by the
	// returned function or when the session ends, so a killed process never leaves it
	// held. A dialect without session locks (Redshift) returns a no-op and locks the target
	// table in its Mode's Prepare instead.
	Lock(ctx context.Context, pipeline string, wait time.Duration) (release func(context.Context), err error)
	// Begin starts a transaction.
	Begin(ctx context.Context) (Tx, error)
	// Close gives the connection back.
	Close(ctx context.Context)
}

// Tx is an open transaction.
type Tx interface {
	checks.DB
	// Exec runs sql and returns the rows it affected.
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Mode stages and applies one load. A sink builds a fresh Mode for every load.
type Mode interface {
	// Kind names the mode in run records: "full_refresh", "merge" or "window_replace".
	Kind() string
	// Stage delivers the rows of in to the database inside tx and returns how many rows
	// the database received, as the database counted them. It is called once per attempt;
	// only a [Replayer] is given a second attempt, with the same, already consumed, stream.
	Stage(ctx context.Context, tx Tx, run *etl.Run, in etl.Stream) (int64, error)
	// Apply moves the staged rows into the target.
	Apply(ctx context.Context, tx Tx, run *etl.Run) (Applied, error)
}

// Applied is what [Mode.Apply] did to the target.
type Applied struct {
	Written, Deleted int64
}

// Preparer is implemented by modes that must act first in every transaction, such as
// taking Redshift's LOCK on the target.
type Preparer interface {
	Prepare(ctx context.Context, tx Tx, run *etl.Run) error
}

// Prestager is implemented by modes that can move the stream out of the process before
// the transaction begins, such as uploading it to S3, so that the lock a Preparer takes on
// the target covers only the COPY and the apply, not the upload. The protocol reads the
// stored watermark first, calls Prestage once, and then runs the attempts; Stage is still
// called in each attempt, with the already consumed stream, to load what was prestaged. A
// watermark that moved between the read and the commit fails the load, since the
// prestaged rows may then be stale.
type Prestager interface {
	Prestage(ctx context.Context, run *etl.Run, in etl.Stream) error
}

// Publisher is implemented by modes that load into a table of their own and put it in
// the target's place only after the checks pass, for databases that cannot do that inside
// the transaction (MySQL's RENAME TABLE commits implicitly). The checks, and a
// [UniqueIndexer], look at the table CheckTable names instead of the target. Publish runs
// after the checks pass and before the watermark and the run record are written; a
// Publish that commits must leave a transaction open for them, and must leave the target
// untouched when it fails.
type Publisher interface {
	CheckTable() (schema, table string)
	Publish(ctx context.Context, tx Tx, run *etl.Run) error
}

// Replayer is implemented by modes whose staged data outlives a rolled-back transaction
// (files staged in S3, say), so that a [Dialect.Retryable] failure can run the transaction
// again.
type Replayer interface {
	CanReplay() bool
}

// Cleaner is implemented by modes that leave something outside the transaction, such as
// staged S3 objects. Cleanup runs once at the end of the load, committed or not.
type Cleaner interface {
	Cleanup(ctx context.Context, committed bool) error
}

// UniqueIndexer is implemented by dialects that can tell whether a valid unique index
// covers exactly cols of a table, so a uniqueness check can rely on it.
type UniqueIndexer interface {
	UniqueIndex(ctx context.Context, tx Tx, schema, table string, cols []string) (bool, error)
}

// UniqueViolator is implemented by dialects whose database enforces unique keys. When the
// table's own unique index refuses a duplicate during the stage or apply step,
// UniqueViolation returns the duplicated key as people read it, such as "name=Ann", so
// that the protocol reports the failure as the unique_key check it is rather than as a
// staging error.
type UniqueViolator interface {
	UniqueViolation(err error) (key string, ok bool)
}
