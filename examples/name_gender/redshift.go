package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// redshiftDSN turns the redshift://user:password@host[:port]/database URL this program
// takes into the PostgreSQL-protocol URL that sinks/redshift connects with: port 5439,
// Redshift's own, unless one is given, and TLS required unless sslmode says otherwise.
func redshiftDSN(spec string) (string, error) {
	u, err := url.Parse(spec)
	if err != nil || u.Scheme != "redshift" || u.Host == "" {
		return "", &usageError{fmt.Sprintf("target %q: want redshift://user:password@host[:5439]/database", redactURL(spec))}
	}
	u.Scheme = "postgres"
	if u.Port() == "" {
		u.Host += ":5439"
	}
	q := u.Query()
	if !q.Has("sslmode") {
		q.Set("sslmode", "require")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// errNoRedshiftLoader says what is missing for redshift:// targets.
var errNoRedshiftLoader = errors.New("sinks/redshift has no full-refresh loader yet; load into postgres:// or sqlite: for now")

// openRedshift opens a Redshift target: a connection with the settings sinks/redshift
// needs, and S3 staging for the rows.
func openRedshift(_ context.Context, cfg config, name string) (*target, error) {
	if _, err := redshiftDSN(cfg.target); err != nil {
		return nil, err
	}
	if cfg.staging.bucket == "" {
		return nil, &usageError{fmt.Sprintf("target %s: a Redshift load stages its rows in S3: set -s3-bucket", name)}
	}
	return nil, fmt.Errorf("target %s: %w", name, errNoRedshiftLoader)
}
