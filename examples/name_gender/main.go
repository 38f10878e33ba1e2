// Command name_gender is the seed's first job done right: it reads a CSV of first names
// and their gender and loads it into the table name_gender as an atomic full refresh,
// with the row-count, unique-key and duplicate-row checks on. A failed load or check
// leaves the previous table as it was, and the program exits non-zero.
//
//	go run ./examples/name_gender                    # the embedded sample into ./name_gender.db
//	go run ./examples/name_gender -source https://example.com/name_gender.csv \
//	    -target postgres://etl@db.internal/warehouse
//
// The source is a local path, an https:// URL or an s3:// URI (-source or SLUICE_SOURCE);
// the target is sqlite:PATH, postgres://... or redshift://... (-target or SLUICE_TARGET).
// See README.md.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/postgres"
	"github.com/sluice-etl/sluice/sinks/sqlite"
	"github.com/sluice-etl/sluice/sources/csv"
)

// sampleCSV is the notes' public file, shipped with the program so that it runs on a fresh
// machine with nothing configured.
//
//go:embed name_gender.csv
var sampleCSV []byte

const (
	table         = "name_gender"
	defaultTarget = "sqlite:./name_gender.db"
	sampleName    = "name_gender.csv (embedded sample)"
)

// tableDDL declares the table as the notes do. The loaders would create a table from the
// stream's schema, but the lengths and the primary key are this job's to state. Redshift
// does not enforce the primary key, which is why the unique-key check is on.
const tableDDL = `CREATE TABLE IF NOT EXISTS name_gender (
  name   varchar(32) PRIMARY KEY,
  gender varchar(8)
)`

// schema is what the CSV must hold: a header with exactly these columns, in any order.
var schema = etl.Schema{
	{Name: "name", Type: etl.TypeText, NotNull: true},
	{Name: "gender", Type: etl.TypeText},
}

// loadChecks run inside the load's transaction; any failure rolls the load back.
var loadChecks = []checks.Check{
	checks.RowCount{Min: 1},  // every row read and not rejected reached the table
	checks.UniqueKey("name"), // what Redshift's unenforced PRIMARY KEY promises
	checks.DuplicateRows{},   // no row twice
}

// genders are the values the gender column may hold.
var genders = map[string]bool{"F": true, "M": true, "Unisex": true}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(*usageError)):
		fmt.Fprintln(os.Stderr, "name_gender:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "name_gender: FAILED:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its inputs passed in so tests can run it in process.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, env, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if cfg.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	src, srcName, err := openSource(cfg)
	if err != nil {
		return err
	}
	tgt, err := openTarget(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer tgt.close()

	p := &etl.Pipeline{
		Name: table,
		Meta: etl.Meta{
			Owner:       "data-team",
			Description: "First names and their gender, for the signup form's greeting.",
			Schedule:    "daily",
		},
		Source:     src,
		Transforms: []etl.Transformer{cleanNames(srcName, cfg.maxBad)},
		Sink:       tgt.sink,
		Logger:     logger,
	}
	res, err := p.Run(ctx, etl.Window{})
	report(stdout, srcName, tgt.name, res, err)
	if err != nil {
		return explain(err)
	}
	return nil
}

// openSource reads the CSV named by cfg, or the embedded sample.
func openSource(cfg config) (etl.Extractor, string, error) {
	c := csv.Config{Path: cfg.source, Schema: schema, MaxBadRows: cfg.maxBad}
	name := displayURL(cfg.source)
	if cfg.source == "" {
		c.Reader, c.Name, name = bytes.NewReader(sampleCSV), sampleName, sampleName
	}
	c.S3 = csv.S3Config{Region: cfg.staging.region, Endpoint: cfg.staging.endpoint, UsePathStyle: cfg.staging.endpoint != ""}
	src, err := csv.New(c)
	if err != nil {
		return nil, "", fmt.Errorf("source %s: %w", name, err)
	}
	return src, name, nil
}

// target is an opened sink and what to call it in the summary.
type target struct {
	name  string // the target as given, with any password redacted
	sink  etl.Loader
	close func()
}

// openTarget opens the database named by cfg.target, declares the table and returns a
// full-refresh loader for it.
func openTarget(ctx context.Context, cfg config, logger *slog.Logger) (*target, error) {
	spec := cfg.target
	name := displayURL(spec)
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		db, err := sqlite.OpenWith(strings.TrimPrefix(spec, "sqlite:"), sqlite.Config{Logger: logger})
		if err != nil {
			return nil, err
		}
		if _, err := db.SQL().ExecContext(ctx, tableDDL); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("target %s: create table %s: %w", name, table, err)
		}
		sink := &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: table, Key: []string{"name"}, Checks: loadChecks}}
		return &target{name: name, sink: sink, close: func() { _ = db.Close() }}, nil

	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		pool, err := pgxpool.New(ctx, spec)
		if err != nil {
			// pgx's error quotes the connection string, password and all.
			return nil, fmt.Errorf("target %s: the connection string does not parse", name)
		}
		if _, err := pool.Exec(ctx, tableDDL); err != nil {
			pool.Close()
			return nil, fmt.Errorf("target %s: create table %s: %w", name, table, err)
		}
		sink := &postgres.FullRefresh{Target: postgres.Target{Pool: pool, Table: table, Key: []string{"name"}, Checks: loadChecks}}
		return &target{name: name, sink: sink, close: pool.Close}, nil

	case strings.HasPrefix(spec, "redshift://"):
		return openRedshift(ctx, cfg, name)
	}
	return nil, &usageError{fmt.Sprintf("target %q: want sqlite:PATH, postgres://... or redshift://...", name)}
}

// cleanNames trims the spaces around both fields and rejects a row whose name is empty or
// longer than the column allows, or whose gender is not F, M or Unisex. A rejected row is
// skipped and listed in the run record; more than maxBad bad rows in all (the CSV's
// malformed ones included) fail the run, since a file that bad is the wrong file.
func cleanNames(source string, maxBad int) etl.Transformer {
	trim := etl.Map(nil, func(row etl.Row) (etl.Row, error) {
		row[0], row[1] = strings.TrimSpace(asText(row[0])), strings.TrimSpace(asText(row[1]))
		return row, nil
	})
	return etl.TransformFunc(func(ctx context.Context, run *etl.Run, in etl.Stream) (etl.Stream, error) {
		in, err := trim.Transform(ctx, run, in)
		if err != nil {
			return in, err
		}
		// Line is the record's line when no field spans lines, as names never do (the
		// header is line 1). The count is per run, so it lives in this closure.
		var record int64
		valid := etl.Validate(maxBad, func(row etl.Row) error {
			record++
			name, gender := row[0].(string), row[1].(string)
			reject := func(column string, err error) error {
				return etl.Reject{Source: source, Line: record + 1, Column: column, Err: err}
			}
			switch {
			case name == "":
				return reject("name", errors.New("empty name"))
			case utf8.RuneCountInString(name) > 32:
				return reject("name", fmt.Errorf("name %q is longer than 32 characters", name))
			case !genders[gender]:
				return reject("gender", fmt.Errorf("gender %q is not F, M or Unisex", gender))
			}
			return nil
		})
		return valid.Transform(ctx, run, in)
	})
}

// asText returns a text column's value; a NULL (which the CSV source never yields for
// text, but another source might) reads as "".
func asText(v any) string {
	s, _ := v.(string)
	return s
}
