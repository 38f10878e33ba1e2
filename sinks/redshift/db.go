package redshift

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	cfg, err := ConnConfig(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, redact(err, dsn, cfg.Password)
	}
	return conn, nil
}

// ConnConfig parses dsn into a pgx configuration with the settings [Connect] uses, for
// callers that build their own connection or pool.
func ConnConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, redact(err, dsn, "")
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	cfg.StatementCacheCapacity = 0
	cfg.DescriptionCacheCapacity = 0
	return cfg, nil
}

// RedactDSN returns dsn with its password replaced by "xxxxx", in URL or keyword/value
// form, for logs and errors.
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	fields := strings.Fields(dsn)
	for i, f := range fields {
		if k, _, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
			fields[i] = k + "=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}

// redactedError hides a password inside a wrapped error's text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with the DSN and password scrubbed from its text. The original
// stays reachable through errors.Is and errors.As for its kind, not for printing.
func redact(err error, dsn, password string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if dsn != "" {
		msg = strings.ReplaceAll(msg, dsn, RedactDSN(dsn))
	}
	if password == "" {
		if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
			password, _ = u.User.Password()
		}
		for _, f := range strings.Fields(dsn) {
			if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
				password = strings.Trim(v, "'")
			}
		}
	}
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
	}
	return &redactedError{msg: msg, err: err}
}

// IsRetryable reports whether err is a serialization failure that a retry of the whole
// transaction may get past: Redshift's "ERROR: 1023 DETAIL: Serializable isolation
// violation on table" (SQLSTATE XX000, message "1023"), or SQLSTATE 40001.
func IsRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001":
		return true
	case "XX000":
		return strings.HasPrefix(strings.TrimSpace(pgErr.Message), "1023") ||
			strings.Contains(pgErr.Detail, "Serializable isolation violation")
	}
	return false
}
