package redshift

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-etl/sluice/dag"
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
// form, for logs and errors. It is [dag.RedactDSN], which does not trust dsn to parse:
// a quoted keyword password with spaces, or a URL password that url.Parse rejects, is
// still hidden.
func RedactDSN(dsn string) string { return dag.RedactDSN(dsn) }

// redactedError hides a password inside a wrapped error's text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with the DSN and password scrubbed from its text. When the caller
// does not know the password (dsn did not parse), it is dug out of dsn. The original
// stays reachable through errors.Is and errors.As for its kind, not for printing.
func redact(err error, dsn, password string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if dsn != "" {
		msg = strings.ReplaceAll(msg, dsn, RedactDSN(dsn))
	}
	secrets := []string{password}
	if password == "" {
		secrets = dsnPasswords(dsn)
	}
	for _, pw := range secrets {
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return &redactedError{msg: msg, err: err}
}

var (
	// kvPassword matches password=x or password = 'a b' in keyword/value form.
	kvPassword = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'?|\S*)`)
	// queryPassword matches a password parameter in a URL query.
	queryPassword = regexp.MustCompile(`(?i)[?&]password=([^&#]*)`)
)

// dsnPasswords returns the password of a DSN that may not parse, as written and as
// decoded, for scrubbing from error text.
func dsnPasswords(dsn string) []string {
	var out []string
	add := func(raw string) {
		out = append(out, raw)
		if u, err := url.PathUnescape(raw); err == nil && u != raw {
			out = append(out, u)
		}
	}
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.IndexByte(rest[:at], ':'); c >= 0 {
				add(rest[c+1 : at])
			}
		}
		for _, m := range queryPassword.FindAllStringSubmatch(dsn, -1) {
			add(m[1])
		}
		return out
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		v := m[1]
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			out = append(out, v)
			v = strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(v[1 : len(v)-1])
		}
		out = append(out, v)
	}
	return out
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
