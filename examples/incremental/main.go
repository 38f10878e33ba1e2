// Command incremental keeps a copy of a PostgreSQL table in another PostgreSQL database (or
// schema) up to date: each run reads only the rows changed since the last one, by their
// modified column, and merges them by key; rows soft-deleted at the source (deleted = true)
// are deleted from the copy. The watermark commits in the same transaction as the rows,
// so a failed run changes nothing and the next one picks up where the last success ended.
//
//	SLUICE_SOURCE_URL=postgres://app@prod-replica/app \
//	SLUICE_TARGET_URL=postgres://etl@warehouse/wh SLUICE_TARGET_SCHEMA=app_copy \
//	go run ./examples/incremental
//
// Put it in cron as often as you like: runs never overlap, and a re-run is a no-op. See
// README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/postgres"
	pgsource "github.com/sluice-etl/sluice/sources/postgres"
)

// configError is a missing or bad setting; main exits 2 for it.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// config is read from the environment.
type config struct {
	sourceURL, sourceSchema string // the application's database
	targetURL, targetSchema string // where the copy lives
	table                   string // the same name on both sides
	lookBack                time.Duration
}

func readConfig(env func(string) string) (config, error) {
	c := config{
		sourceURL:    env("SLUICE_SOURCE_URL"),
		sourceSchema: env("SLUICE_SOURCE_SCHEMA"), // default: the connection's search_path
		targetURL:    env("SLUICE_TARGET_URL"),
		targetSchema: env("SLUICE_TARGET_SCHEMA"),
		table:        env("SLUICE_TABLE"),
		lookBack:     5 * time.Minute,
	}
	if c.sourceURL == "" {
		return c, &configError{"set SLUICE_SOURCE_URL to the source database, such as postgres://postgres@127.0.0.1:5432/test"}
	}
	if c.targetURL == "" {
		c.targetURL = c.sourceURL
	}
	if c.targetSchema == "" {
		c.targetSchema = "replica"
	}
	if c.table == "" {
		c.table = "customers"
	}
	if s := env("SLUICE_LOOKBACK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return c, &configError{fmt.Sprintf("SLUICE_LOOKBACK=%q: want a duration such as 5m", s)}
		}
		c.lookBack = d
	}
	if c.targetURL == c.sourceURL && c.targetSchema == c.sourceSchema {
		return c, &configError{"the source and the target are the same table: set SLUICE_TARGET_SCHEMA or SLUICE_TARGET_URL"}
	}
	return c, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(*configError)):
		fmt.Fprintln(os.Stderr, "incremental:", err)
		os.Exit(2)
	case errors.Is(err, etl.ErrLocked):
		fmt.Fprintln(os.Stderr, "incremental: another run is syncing; this one did nothing:", err)
		os.Exit(75) // EX_TEMPFAIL: cron's next run catches up
	default:
		fmt.Fprintln(os.Stderr, "incremental: FAILED:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its inputs passed in so tests can run it in process.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("incremental", flag.ContinueOnError)
	fs.SetOutput(stderr)
	setup := fs.Bool("setup", false, "create the source table with a few sample rows, for trying the example")
	verbose := fs.Bool("v", false, "log the run's progress to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := readConfig(env)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	srcPool, err := pgxpool.New(ctx, cfg.sourceURL)
	if err != nil {
		// pgx's error quotes the connection string, password and all.
		return &configError{"SLUICE_SOURCE_URL does not parse as a connection string"}
	}
	defer srcPool.Close()
	dstPool, err := pgxpool.New(ctx, cfg.targetURL)
	if err != nil {
		return &configError{"SLUICE_TARGET_URL does not parse as a connection string"}
	}
	defer dstPool.Close()

	if *setup {
		if err := createSample(ctx, srcPool, cfg); err != nil {
			return err
		}
	}
	if _, err := dstPool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(cfg.targetSchema)); err != nil {
		return fmt.Errorf("target: create schema %s: %w", cfg.targetSchema, err)
	}

	// The source reads rows with modified > watermark - LookBack (and <= the database's
	// now()) and carries the deleted flag along. Its stream declares both columns, so the
	// merge below applies the deletes without being told them again.
	src, err := pgsource.New(srcPool, pgsource.Config{
		Schema:   cfg.sourceSchema,
		Table:    cfg.table,
		Cursor:   "modified",
		LookBack: cfg.lookBack,
		Deleted:  "deleted",
	})
	if err != nil {
		return err
	}
	// The merge keeps the latest version of each id, deletes the copy's rows that were
	// soft-deleted at the source, and stores the watermark with the rows.
	sink := &postgres.Merge{
		Target: postgres.Target{
			Pool:   dstPool,
			Schema: cfg.targetSchema,
			Table:  cfg.table,
			Create: true, // from the source's columns, with id as the primary key
			Key:    []string{"id"},
			Checks: []checks.Check{
				checks.RowCount{},      // every changed row read reached the stage
				checks.UniqueKey("id"), // answered by the primary key's index, for free
			},
		},
	}
	p := &etl.Pipeline{
		Name: "sync_" + cfg.table,
		Meta: etl.Meta{
			Owner:       "data-team",
			Description: "A copy of the application's " + cfg.table + " table, minus deleted rows, for reporting.",
			Schedule:    "every 5 minutes",
		},
		Source: src,
		Sink:   sink,
		Logger: logger,
	}

	state := &postgres.State{Pool: dstPool, MetaSchema: cfg.targetSchema}
	before, err := state.Watermark(ctx, p.Name)
	if err != nil {
		return err
	}
	res, err := p.Run(ctx, etl.Window{})
	after := before
	if err == nil {
		if after, err = state.Watermark(ctx, p.Name); err != nil {
			return err
		}
	}
	report(stdout, cfg, p.Name, res, before, after, err)
	return err
}

// report prints what the run did.
func report(w io.Writer, cfg config, pipeline string, res etl.Result, before, after any, runErr error) {
	status := "synced"
	if runErr != nil {
		status = "FAILED, target and watermark unchanged"
		if step := etl.Step(runErr); step != "" {
			status = "FAILED at " + step + ", target and watermark unchanged"
		}
	}
	s := res.Stats
	fmt.Fprintf(w, "%s: %s\n", pipeline, status)
	fmt.Fprintf(w, "  source     %s %s\n", displayDSN(cfg.sourceURL), qualified(cfg.sourceSchema, cfg.table))
	fmt.Fprintf(w, "  target     %s %s\n", displayDSN(cfg.targetURL), qualified(cfg.targetSchema, cfg.table))
	fmt.Fprintf(w, "  rows       %d changed rows read, %d upserted, %d deleted\n", s.RowsRead, s.RowsWritten, s.RowsDeleted)
	fmt.Fprintf(w, "  watermark  %s -> %s (look-back %s)\n", show(before), show(after), cfg.lookBack)
	var passed []string
	for _, c := range res.Checks {
		if c.Passed {
			passed = append(passed, c.Name)
		}
	}
	if len(passed) > 0 {
		fmt.Fprintf(w, "  checks     passed: %s\n", strings.Join(passed, ", "))
	}
	fmt.Fprintf(w, "  duration   %s\n", s.Duration.Round(time.Millisecond))
}

func show(wm any) string {
	switch v := wm.(type) {
	case nil:
		return "none"
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(v)
	}
}

func qualified(schema, table string) string {
	if schema == "" {
		return table
	}
	return schema + "." + table
}

// displayDSN returns a connection string as this program prints it: rebuilt from its
// parts without the password (or any other parameter), so nothing secret is printed
// whatever form it was written in.
func displayDSN(dsn string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "(a connection string that does not parse)"
	}
	return fmt.Sprintf("postgres://%s@%s/%s", c.User, net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), c.Database)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// createSample creates the source table as an application would have it: a key, a
// modified time the application sets on every change, and a soft-delete flag.
func createSample(ctx context.Context, pool *pgxpool.Pool, cfg config) error {
	t := quoteIdent(cfg.table)
	if cfg.sourceSchema != "" {
		t = quoteIdent(cfg.sourceSchema) + "." + t
	}
	ddl := `CREATE TABLE IF NOT EXISTS ` + t + ` (
  id       bigint PRIMARY KEY,
  name     text NOT NULL,
  email    text,
  modified timestamptz NOT NULL DEFAULT now(),
  deleted  boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS ` + quoteIdent(cfg.table+"_modified") + ` ON ` + t + ` (modified);
INSERT INTO ` + t + ` (id, name, email) VALUES
  (1, 'Adaleigh', 'adaleigh@example.com'), (2, 'Amryn', NULL), (3, 'Apurva', 'apurva@example.com')
ON CONFLICT (id) DO NOTHING`
	if _, err := pool.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("source: create %s: %w", t, err)
	}
	return nil
}
