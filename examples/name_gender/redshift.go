package main

import (
	"context"
	"fmt"
	"net/url"

	"github.com/sluice-etl/sluice/sinks/redshift"
)

// redshiftDSN turns the redshift://user:password@host[:port]/database URL this program
// takes into the PostgreSQL-protocol URL that sinks/redshift connects with: port 5439,
// Redshift's own, unless one is given, and TLS required unless sslmode says otherwise.
func redshiftDSN(spec string) (string, error) {
	u, err := url.Parse(spec)
	if err != nil || u.Scheme != "redshift" || u.Host == "" {
		return "", &usageError{fmt.Sprintf("target %q: want redshift://user:password@host[:5439]/database", displayURL(spec))}
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

// redshiftConnect opens a connection to the cluster with the settings sinks/redshift needs.
// The tests swap in internal/redshifttest's harness, which runs the same statements on
// PostgreSQL and reads COPY's files from an in-process S3 server.
var redshiftConnect = func(ctx context.Context, dsn string) (redshift.DB, error) {
	return redshift.Connect(ctx, dsn)
}

// openRedshift declares the table on the cluster and returns a full-refresh loader that
// stages the rows in S3 as gzip CSV parts and loads them with COPY, in one transaction with
// the checks. Redshift does not enforce the primary key: the unique-key check is what
// catches a duplicate name there.
func openRedshift(ctx context.Context, cfg config, name string) (*target, error) {
	dsn, err := redshiftDSN(cfg.target)
	if err != nil {
		return nil, err
	}
	if cfg.staging.bucket == "" {
		return nil, &usageError{fmt.Sprintf("target %s: a Redshift load stages its rows in S3: set -s3-bucket", name)}
	}
	connect := func(ctx context.Context) (redshift.DB, error) { return redshiftConnect(ctx, dsn) }

	db, err := connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", name, err)
	}
	_, err = db.Exec(ctx, tableDDL)
	if c, ok := db.(interface{ Close(context.Context) error }); ok {
		_ = c.Close(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("target %s: create table %s: %w", name, table, err)
	}

	sink := &redshift.FullRefresh{Target: redshift.Target{
		Connect: connect,
		Staging: redshift.StageConfig{
			Bucket:       cfg.staging.bucket,
			Prefix:       cfg.staging.prefix,
			IAMRole:      cfg.staging.iamRole,
			Region:       cfg.staging.region,
			Endpoint:     cfg.staging.endpoint,
			UsePathStyle: cfg.staging.endpoint != "",
		},
		Table:  table,
		Key:    []string{"name"},
		Checks: loadChecks,
	}}
	return &target{name: name, sink: sink, close: func() {}}, nil
}
