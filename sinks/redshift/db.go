package redshift

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-etl/sluice/internal/redact"
)

// DB is the seam through which the sink sends every statement to the cluster. A *pgx.Conn
// satisfies it. Transactions are plain BEGIN, COMMIT and ROLLBACK statements sent through
// Exec, so a test double such as internal/redshifttest sees them all.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var _ DB = (*pgx.Conn)(nil)

// Connect opens a connection to a Redshift cluster with the pgx settings Redshift needs:
// the exec query mode (no named prepared statements, no statement or description cache)
// and no type loading. The password in dsn never appears in a returned error.
func Connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := connConfig(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, redactError(err, dsn, cfg.Password)
	}
	return conn, nil
}

// connConfig parses dsn into a pgx configuration with the settings [Connect] uses.
func connConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, redactError(err, dsn, "")
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	cfg.StatementCacheCapacity = 0
	cfg.DescriptionCacheCapacity = 0
	return cfg, nil
}

// redactedError hides a password inside a wrapped error's text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactError returns err with the DSN and password scrubbed from its text. The password is
// dug out of dsn too, as written and as decoded, for when the caller does not know it
// (dsn did not parse) or the error quotes it as written. The original
// stays reachable through errors.Is and errors.As for its kind, not for printing.
func redactError(err error, dsn, password string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if dsn != "" {
		msg = strings.ReplaceAll(msg, dsn, redact.DSN(dsn))
	}
	for _, pw := range append(redact.Secrets(dsn), password) {
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return &redactedError{msg: msg, err: err}
}

// IsRetryable reports whether err is an isolation conflict that a retry of the whole
// transaction may get past:
//   - Redshift's "ERROR: 1023 DETAIL: Serializable isolation violation on table"
//     (SQLSTATE XX000, message "1023"), under SERIALIZABLE isolation;
//   - "could not complete because of conflict with concurrent transaction", the error of
//     SNAPSHOT isolation, the default of new clusters and Serverless workgroups, matched
//     by its message (its SQLSTATE is not documented);
//   - SQLSTATE 40001.
func IsRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001":
		return true
	}
	msg := strings.TrimSpace(pgErr.Message)
	return pgErr.Code == "XX000" && strings.HasPrefix(msg, "1023") ||
		strings.Contains(pgErr.Detail, "Serializable isolation violation") ||
		strings.Contains(msg, "conflict with concurrent transaction")
}
