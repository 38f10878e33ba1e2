package main

// The command line: flags and variables in, a summary out.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-etl/sluice/etl"
)

// config is what the flags and the environment say. A flag wins over its variable.
type config struct {
	source, target string
	maxBad         int
	verbose        bool
	staging        staging // for redshift:// targets, and -region/-s3-endpoint for s3:// sources
}

// staging says where a Redshift load stages its rows in S3.
type staging struct {
	bucket, prefix, iamRole, region, endpoint string
}

// usageError is a mistake on the command line; main exits 2 for it.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func parse(args []string, env func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("name_gender", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.source, "source", env("SLUICE_SOURCE"),
		"CSV to load: a local path, an https:// URL or an s3:// URI (env SLUICE_SOURCE; default the embedded sample)")
	fs.StringVar(&c.target, "target", env("SLUICE_TARGET"),
		"sqlite:PATH, postgres://... or redshift://... (env SLUICE_TARGET; default "+defaultTarget+")")
	fs.IntVar(&c.maxBad, "max-bad-rows", 10, "bad rows to skip and report before the run fails")
	fs.BoolVar(&c.verbose, "v", false, "log the run's progress to stderr")
	fs.StringVar(&c.staging.bucket, "s3-bucket", env("SLUICE_S3_BUCKET"), "redshift: S3 bucket to stage rows in (env SLUICE_S3_BUCKET)")
	fs.StringVar(&c.staging.prefix, "s3-prefix", env("SLUICE_S3_PREFIX"), "redshift: key prefix for staged rows (env SLUICE_S3_PREFIX)")
	fs.StringVar(&c.staging.iamRole, "iam-role", env("SLUICE_IAM_ROLE"), "redshift: role ARN that COPY assumes (env SLUICE_IAM_ROLE; default the cluster's default role)")
	fs.StringVar(&c.staging.region, "region", env("AWS_REGION"), "AWS region of the S3 bucket (env AWS_REGION)")
	fs.StringVar(&c.staging.endpoint, "s3-endpoint", env("SLUICE_S3_ENDPOINT"), "S3-compatible endpoint URL, path-style, such as MinIO (env SLUICE_S3_ENDPOINT)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return c, &usageError{fmt.Sprintf("unexpected argument %q (use -source and -target)", fs.Arg(0))}
	}
	if c.target == "" {
		c.target = defaultTarget
	}
	if c.maxBad < 0 {
		return c, &usageError{"-max-bad-rows must not be negative"}
	}
	return c, nil
}

// report prints what the run did, or how far it got.
func report(w io.Writer, source, target string, res etl.Result, runErr error) {
	s := res.Stats
	status := "loaded"
	if runErr != nil {
		status = "FAILED, target unchanged"
		if step := etl.Step(runErr); step != "" {
			status = "FAILED at " + step + ", target unchanged"
		}
	}
	fmt.Fprintf(w, "name_gender: %s\n", status)
	fmt.Fprintf(w, "  source    %s\n", source)
	fmt.Fprintf(w, "  target    %s (table %s, full refresh)\n", target, table)
	fmt.Fprintf(w, "  rows      %d read, %d loaded, %d rejected\n", s.RowsRead, s.RowsWritten, s.RowsRejected)
	for _, r := range res.Rejects {
		fmt.Fprintf(w, "            rejected %s\n", r.Error())
	}
	var passed, failed []string
	for _, c := range res.Checks {
		if c.Passed {
			passed = append(passed, c.Name)
		} else {
			failed = append(failed, c.Name)
		}
	}
	if len(passed) > 0 {
		fmt.Fprintf(w, "  checks    passed: %s\n", strings.Join(passed, ", "))
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "  checks    FAILED: %s\n", strings.Join(failed, ", "))
	}
	fmt.Fprintf(w, "  duration  %s\n", s.Duration.Round(time.Millisecond))
	if res.RunID != "" {
		fmt.Fprintf(w, "  run       %s (recorded in the target's sluice_runs)\n", res.RunID)
	}
}

// explain adds what a database said about a failure but left out of its error text, such
// as PostgreSQL's "Key (name)=(Ann) is duplicated.", which lives in the error's detail.
func explain(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Detail != "" && !strings.Contains(err.Error(), pg.Detail) {
		return fmt.Errorf("%w: %s", err, pg.Detail)
	}
	return err
}
