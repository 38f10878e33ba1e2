// Command incremental times sluice's incremental sync of one PostgreSQL table into another
// against a hand-written psql script that does the same work, in one run, interleaved.
//
// Setup (once): a source table and a target table of -rows rows each, the 9-column shape
// (see bench/internal/dataset), in two schemas of one database, identical, both with
// PRIMARY KEY (id); the source also has an index on modified. Every generated modified time
// is before dataset.Horizon, which serves as the watermark X of the previous sync.
//
// Before every timed run (untimed): the target is restored to the previous sync's state;
// at the source, 10% of the rows (id % 10 = 3) get a new amount and a modified time after
// X, and 1% (id % 100 = 7) are soft-deleted (deleted = true, modified after X), 11% in all;
// both tables are vacuumed and a checkpoint is taken; the sluice pipeline's watermark is
// reset to X. Each run therefore does the same work. The cases are:
//
//	psql-incremental    psql -f: \copy (SELECT ... WHERE modified > X) TO a file, then one
//	                    transaction: temp stage, \copy stage FROM the file, DELETE FROM
//	                    target USING stage, INSERT the stage rows that are not deleted
//	sluice-incremental  sources/postgres incremental by modified, deleted flag ->
//	                    sinks/postgres merge by id with hard deletes, no file
//
// After every run the target must equal the source's non-deleted rows (a fingerprint of
// both is compared).
//
// Usage:
//
//	go run ./bench/incremental -rows 2000000 -runs 3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-etl/sluice/bench/internal/dataset"
	"github.com/sluice-etl/sluice/bench/internal/harness"
)

const (
	table       = "t"
	pipeline    = "bench_incremental"
	allCases    = "psql-incremental,sluice-incremental"
	targetRatio = 1.0  // sluice vs the psql script
	targetRSS   = 64.0 // MiB

	// changed selects the rows the benchmark updates and soft-deletes; they are disjoint.
	updatedRows = "id % 10 = 3"
	deletedRows = "id % 100 = 7"
	changedRows = "(" + updatedRows + " OR " + deletedRows + ")"
)

type config struct {
	rows   int64
	runs   int
	dsn    string
	schema string
	cases  string
	verify bool
	tmpdir string

	child string
}

func main() {
	var c config
	flag.Int64Var(&c.rows, "rows", 2_000_000, "rows in the source and in the target")
	flag.IntVar(&c.runs, "runs", 3, "interleaved runs of each case; the report gives medians")
	flag.StringVar(&c.dsn, "dsn", harness.DSNFromEnv(), "PostgreSQL connection string (defaults to $SLUICE_TEST_DATABASE_URL)")
	flag.StringVar(&c.schema, "schema", "sluice_bench", "prefix of the schemas <prefix>_src and <prefix>_dst; both are dropped and recreated")
	flag.StringVar(&c.cases, "cases", allCases, "comma-separated cases to run, in order")
	flag.BoolVar(&c.verify, "verify", true, "after every run, check that the target equals the source's non-deleted rows")
	flag.StringVar(&c.tmpdir, "tmpdir", "", "directory for the generated CSV and psql's change file (defaults to the system temp directory)")
	flag.StringVar(&c.child, harness.ChildFlag, "", "internal: run the sluice side of one case")
	flag.Usage = harness.Usage("incremental", harness.ChildFlag)
	flag.Parse()

	harness.Main("incremental", c.child,
		func(ctx context.Context) int { return runChild(ctx, c) },
		func(ctx context.Context, out io.Writer) error { return run(ctx, c, out) })
}

// The source and target schemas are named by -schema and these suffixes.
const srcSuffix, dstSuffix = "_src", "_dst"

func (c config) src() string { return c.schema + srcSuffix }
func (c config) dst() string { return c.schema + dstSuffix }

// runChild is the sluice side, re-executed by the driver. It prints the run's result as
// JSON on stdout for the driver to check.
func runChild(ctx context.Context, c config) int {
	if c.child != "sluice-incremental" {
		return harness.ExitUnknownChild(c.child)
	}
	res, err := sluiceIncremental(ctx, syncSpec{
		DSN: c.dsn, SourceSchema: c.src(), TargetSchema: c.dst(), Table: table, Pipeline: pipeline,
	})
	return harness.FinishChild(res, err, 0)
}

func run(ctx context.Context, c config, out io.Writer) error {
	cases, err := harness.SelectCases(c.cases, allCases)
	if err != nil {
		return err
	}
	conn, err := harness.ConnectAndClaim(ctx, c.dsn, c.schema)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	d := &driver{c: c, conn: conn, psql: harness.PSQL{DSN: c.dsn}}
	if err := d.setup(ctx); err != nil {
		return err
	}

	harness.WriteHeader(ctx, out, conn, fmt.Sprintf("sluice incremental sync vs psql, %d rows", c.rows))
	fmt.Fprintf(out, "- source %s.%s and target %s.%s: %d rows each, PRIMARY KEY (id), source index on modified\n",
		c.src(), table, c.dst(), table, c.rows)
	fmt.Fprintf(out, "- per run: %d rows updated (%s), %d soft-deleted (%s), %d changed rows after the watermark %s\n",
		d.updated, updatedRows, d.deleted, deletedRows, d.updated+d.deleted, dataset.Horizon.Format(time.RFC3339))
	fmt.Fprintf(out, "- medians of %d interleaved runs; %s\n\n", c.runs, time.Now().UTC().Format(time.RFC3339))

	plan := harness.Plan{Runs: c.runs}
	for _, name := range cases {
		plan.Cases = append(plan.Cases, d.syncCase(name))
	}
	res := plan.Run(ctx)
	res.WriteTable(out)

	targets := []harness.Target{
		res.RatioTarget("sluice-incremental", "psql-incremental", targetRatio),
		res.RSSTarget("sluice-incremental", targetRSS),
	}
	harness.WriteFooter(out, targets)
	return ctx.Err()
}

// driver holds the benchmark driver's own connection. It never syncs data itself.
type driver struct {
	c    config
	conn *pgx.Conn
	psql harness.PSQL

	updated, deleted int64
	expected         *harness.Fingerprint
}

func (d *driver) srcTable() string {
	return harness.QuoteIdent(d.c.src()) + "." + harness.QuoteIdent(table)
}

func (d *driver) dstTable() string {
	return harness.QuoteIdent(d.c.dst()) + "." + harness.QuoteIdent(table)
}

// pristine holds the changed rows as they were at the previous sync, to restore from.
func (d *driver) pristine() string {
	return harness.QuoteIdent(d.c.src()) + "." + harness.QuoteIdent("pristine")
}

func (d *driver) exec(ctx context.Context, qs ...string) error {
	for _, q := range qs {
		if _, err := d.conn.Exec(ctx, q); err != nil {
			if len(q) > 60 {
				q = q[:60] + "..."
			}
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// setup builds the source and target tables from a generated CSV.
func (d *driver) setup(ctx context.Context) error {
	start := time.Now()
	f, err := dataset.CreateFile(d.c.tmpdir, d.c.rows, dataset.DefaultSeed)
	if err != nil {
		return err
	}
	defer os.Remove(f.Path)
	fmt.Fprintf(os.Stderr, "generated %s: %d rows, %.1f MB in %.2f s\n", f.Path, f.Rows, float64(f.Bytes)/1e6, time.Since(start).Seconds())

	src, dst := harness.QuoteIdent(d.c.src()), harness.QuoteIdent(d.c.dst())
	if err := d.exec(ctx,
		"DROP SCHEMA IF EXISTS "+src+" CASCADE", "DROP SCHEMA IF EXISTS "+dst+" CASCADE",
		"CREATE SCHEMA "+src, "CREATE SCHEMA "+dst,
		dataset.CreateTable(d.srcTable(), false)); err != nil {
		return err
	}
	if _, err := d.psql.Script(ctx, `\copy `+d.srcTable()+" FROM "+harness.QuoteLiteral(f.Path)+" WITH (FORMAT csv, HEADER true)\n"); err != nil {
		return fmt.Errorf("load the source: %w", err)
	}
	if err := d.exec(ctx,
		"ALTER TABLE "+d.srcTable()+" ADD PRIMARY KEY (id)",
		"CREATE INDEX ON "+d.srcTable()+" (modified)",
		"CREATE TABLE "+d.pristine()+" AS SELECT * FROM "+d.srcTable()+" WHERE "+changedRows+" ORDER BY id",
		dataset.CreateTable(d.dstTable(), false),
		"INSERT INTO "+d.dstTable()+" SELECT * FROM "+d.srcTable()+" ORDER BY id",
		"ALTER TABLE "+d.dstTable()+" ADD PRIMARY KEY (id)",
	); err != nil {
		return err
	}
	if err := d.conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE "+updatedRows+"), count(*) FILTER (WHERE "+deletedRows+") FROM "+d.pristine()).
		Scan(&d.updated, &d.deleted); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "setup done in %.1f s\n", time.Since(start).Seconds())
	return nil
}

// prepare restores the target to the previous sync's state and applies the change at the
// source. Both steps are idempotent, so every run starts from the same tables.
func (d *driver) prepare(ctx context.Context, sluice bool) error {
	x := harness.QuoteLiteral(dataset.Horizon.Format("2006-01-02 15:04:05-07"))
	if err := d.exec(ctx,
		"DELETE FROM "+d.dstTable()+" WHERE "+changedRows,
		"INSERT INTO "+d.dstTable()+" SELECT * FROM "+d.pristine()+" ORDER BY id",
		"UPDATE "+d.srcTable()+" AS s SET amount = p.amount + 1, deleted = false, modified = timestamptz "+x+
			" + (s.id % 3600) * interval '1 second' FROM "+d.pristine()+" AS p WHERE s.id = p.id AND p."+updatedRows,
		"UPDATE "+d.srcTable()+" AS s SET amount = p.amount, deleted = true, modified = timestamptz "+x+
			" + interval '1 hour' + (s.id % 3600) * interval '1 second' FROM "+d.pristine()+" AS p WHERE s.id = p.id AND p."+deletedRows,
		"VACUUM (ANALYZE) "+d.srcTable(),
		"VACUUM (ANALYZE) "+d.dstTable(),
	); err != nil {
		return err
	}
	if sluice {
		if err := resetWatermark(ctx, d.c.dsn, d.c.dst(), pipeline, dataset.Horizon); err != nil {
			return fmt.Errorf("reset the watermark: %w", err)
		}
	}
	if d.c.verify && d.expected == nil {
		want, err := harness.TableFingerprint(ctx, d.conn, d.srcTable(), "NOT deleted")
		if err != nil {
			return err
		}
		d.expected = &want
	}
	return d.exec(ctx, "CHECKPOINT")
}

func (d *driver) syncCase(name string) harness.Case {
	c := harness.Case{Name: name}
	switch name {
	case "psql-incremental":
		c.Prepare = func(ctx context.Context) error { return d.prepare(ctx, false) }
		c.Run = d.psqlIncremental
	case "sluice-incremental":
		c.Baseline = "psql-incremental"
		c.Prepare = func(ctx context.Context) error { return d.prepare(ctx, true) }
		c.Run = func(ctx context.Context) (harness.Sample, error) {
			return harness.MeasureSluiceChild(ctx, d.c.dsn, name, "-dsn", d.c.dsn, "-schema", d.c.schema)
		}
	}
	c.Verify = func(ctx context.Context, s harness.Sample) (string, error) {
		var notes []string
		if strings.HasPrefix(name, "sluice-") {
			cr, err := harness.ReadChildResult(s.Stdout)
			if err != nil {
				return "", err
			}
			if cr.Stats.RowsRead != d.updated+d.deleted {
				return "", fmt.Errorf("sluice read %d rows, want %d", cr.Stats.RowsRead, d.updated+d.deleted)
			}
			notes = append(notes, fmt.Sprintf("read %d, wrote %d, deleted %d", cr.Stats.RowsRead, cr.Stats.RowsWritten, cr.Stats.RowsDeleted))
		}
		if d.c.verify {
			got, err := harness.TableFingerprint(ctx, d.conn, d.dstTable(), "")
			if err != nil {
				return "", err
			}
			if got != *d.expected {
				return "", fmt.Errorf("target differs from the source's live rows: %v, want %v", got, *d.expected)
			}
			notes = append(notes, "target = source verified")
		}
		return strings.Join(notes, "; "), nil
	}
	return c
}

// psqlIncremental is the hand-written baseline: export the changes to a file, then stage,
// delete and insert in one transaction.
func (d *driver) psqlIncremental(ctx context.Context) (harness.Sample, error) {
	f, err := os.CreateTemp(d.c.tmpdir, "sluice-bench-changes-*.csv")
	if err != nil {
		return harness.Sample{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	x := harness.QuoteLiteral(dataset.Horizon.Format("2006-01-02 15:04:05-07"))
	file := harness.QuoteLiteral(f.Name())
	script := `\copy (SELECT ` + strings.Join(dataset.ColumnNames, ", ") + ` FROM ` + d.srcTable() +
		` WHERE modified > ` + x + `) TO ` + file + " WITH (FORMAT csv)\n" +
		"BEGIN;\n" +
		"CREATE TEMP TABLE stage (LIKE " + d.dstTable() + ") ON COMMIT DROP;\n" +
		`\copy stage FROM ` + file + " WITH (FORMAT csv)\n" +
		"DELETE FROM " + d.dstTable() + " AS t USING stage AS s WHERE t.id = s.id;\n" +
		"INSERT INTO " + d.dstTable() + " SELECT * FROM stage WHERE NOT deleted;\n" +
		"COMMIT;\n"
	return d.psql.Script(ctx, script)
}
