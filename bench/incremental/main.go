// Command incremental times sluice's incremental sync of one PostgreSQL table into another
// against a hand-written psql script that does the same work, in one run, interleaved.
//
// Setup (once): a source table orders and two targets of -rows rows each, the 9-column
// shape (see bench/internal/dataset), identical: the source and the target orders with
// PRIMARY KEY (id), the target orders_nokey with a plain (not unique) index on id; the
// source also has an index on modified (-source-index). Every generated modified time is
// before dataset.Horizon, which serves as the watermark X of the previous sync.
//
// Before every timed run (untimed): the case's target is restored to the previous sync's
// state; at the source, 10% of the rows (id % 10 = 3) get a new amount and a modified time
// after X, and 1% (id % 100 = 7) are soft-deleted (deleted = true, modified after X), 11%
// in all; both tables are vacuumed and a checkpoint is taken (-quiesce); the sluice
// pipeline's watermark is reset to X. Each run therefore does the same work. The cases are:
//
//	psql-incremental          psql -f: \copy (SELECT ... WHERE modified > X) TO a file,
//	                          then one transaction: temp stage, \copy stage FROM the
//	                          file, DELETE FROM target USING stage, INSERT the stage rows
//	                          that are not deleted
//	sluice-incremental        sources/postgres incremental by modified, deleted flag ->
//	                          sinks/postgres merge by id with hard deletes, no file
//	sluice-readme             the README's incremental program as written (look-back 5
//	                          minutes, Create), on one pool per side
//	psql-incremental-nokey    psql-incremental into orders_nokey
//	sluice-incremental-nokey  sluice-incremental into orders_nokey
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
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-etl/sluice/bench/internal/dataset"
	"github.com/sluice-etl/sluice/bench/internal/harness"
	"github.com/sluice-etl/sluice/etl"
)

const (
	// table is the source's and the keyed target's name: orders, as in the README's
	// program, which the sluice-readme case runs as it is.
	table = "orders"
	// nokeyTable is the second target, whose id has a plain (not unique) index.
	nokeyTable    = "orders_nokey"
	pipeline      = "bench_incremental"
	nokeyPipeline = "bench_incremental_nokey"
	// readmePipeline is the README program's pipeline name.
	readmePipeline = "orders_sync"
	allCases       = "psql-incremental,sluice-incremental,sluice-readme,psql-incremental-nokey,sluice-incremental-nokey"
	targetRatio    = 0.7  // sluice vs the psql script, unique key
	targetNoKey    = 0.8  // sluice vs the psql script, key without a unique index
	targetRSS      = 64.0 // MiB

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
	// sourceIndex puts an index on the source's cursor column.
	sourceIndex bool
	// quiesce vacuums both tables and takes a checkpoint before every run.
	quiesce bool

	child string
	// cpuprofile is where each sluice child writes its CPU profile, suffixed with the case
	// and the run.
	cpuprofile string
}

func main() {
	var c config
	flag.Int64Var(&c.rows, "rows", 2_000_000, "rows in the source and in the target")
	flag.IntVar(&c.runs, "runs", 3, "interleaved runs of each case; the report gives medians")
	flag.StringVar(&c.dsn, "dsn", harness.DSNFromEnv(), "PostgreSQL connection string (defaults to $SLUICE_TEST_DATABASE_URL)")
	flag.StringVar(&c.schema, "schema", "sluice_bench", "prefix of the schemas <prefix>_src and <prefix>_dst; both are dropped and recreated")
	flag.StringVar(&c.cases, "cases", allCases, "comma-separated cases to run, in order")
	flag.BoolVar(&c.verify, "verify", true, "after every run, check that the target equals the source's non-deleted rows")
	flag.BoolVar(&c.sourceIndex, "source-index", true, "index the source's cursor column, modified")
	flag.BoolVar(&c.quiesce, "quiesce", true, "VACUUM (ANALYZE) both tables and CHECKPOINT before every run; false leaves them to autovacuum, as a user's tables are")
	flag.StringVar(&c.tmpdir, "tmpdir", "", "directory for the generated CSV and psql's change file (defaults to the system temp directory)")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write each sluice run's CPU profile to this path, suffixed with the case and the run's time")
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
	spec := syncSpec{DSN: c.dsn, SourceSchema: c.src(), TargetSchema: c.dst(), SourceTable: table, TargetTable: table, Pipeline: pipeline}
	var (
		res etl.Result
		err error
	)
	if c.cpuprofile != "" {
		f, err := os.Create(fmt.Sprintf("%s.%s.%d", c.cpuprofile, c.child, time.Now().UnixNano()))
		if err != nil {
			return harness.FinishChild(res, err, 0)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return harness.FinishChild(res, err, 0)
		}
		defer pprof.StopCPUProfile()
	}
	switch c.child {
	case "sluice-incremental":
		res, err = sluiceIncremental(ctx, spec)
	case "sluice-incremental-nokey":
		spec.TargetTable, spec.Pipeline = nokeyTable, nokeyPipeline
		res, err = sluiceIncremental(ctx, spec)
	case "sluice-readme":
		res, err = sluiceReadme(ctx, spec)
	default:
		return harness.ExitUnknownChild(c.child)
	}
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
	index := "an index on modified"
	if !c.sourceIndex {
		index = "no index on modified"
	}
	fmt.Fprintf(out, "- source %s: %d rows, PRIMARY KEY (id), %s; targets %s (PRIMARY KEY (id)) and %s (a plain index on id), the same rows\n",
		d.srcTable(), c.rows, index, d.dstTable(table), d.dstTable(nokeyTable))
	fmt.Fprintf(out, "- per run: %d rows updated (%s), %d soft-deleted (%s), %d changed rows after the watermark %s\n",
		d.updated, updatedRows, d.deleted, deletedRows, d.updated+d.deleted, dataset.Horizon.Format(time.RFC3339))
	quiet := "VACUUM (ANALYZE) of the source and the target and a CHECKPOINT before every run"
	if !c.quiesce {
		quiet = "no VACUUM or CHECKPOINT between runs (autovacuum only)"
	}
	fmt.Fprintf(out, "- %s; medians of %d interleaved runs; %s\n\n", quiet, c.runs, time.Now().UTC().Format(time.RFC3339))

	plan := harness.Plan{Runs: c.runs}
	for _, name := range cases {
		plan.Cases = append(plan.Cases, d.syncCase(name))
	}
	res := plan.Run(ctx)
	res.WriteTable(out)
	writeCPUPerRow(out, res, d.updated+d.deleted)

	var targets []harness.Target
	for _, t := range []struct {
		name, base string
		limit      float64
	}{
		{"sluice-incremental", "psql-incremental", targetRatio},
		{"sluice-readme", "psql-incremental", targetRatio},
		{"sluice-incremental-nokey", "psql-incremental-nokey", targetNoKey},
	} {
		if slices.Contains(cases, t.name) {
			targets = append(targets, res.RatioTarget(t.name, t.base, t.limit), res.RSSTarget(t.name, targetRSS))
		}
	}
	harness.WriteFooter(out, targets)
	return ctx.Err()
}

// writeCPUPerRow prints each case's median client CPU per changed row: what the loader
// process itself spends, which the machine's other work disturbs less than wall time.
func writeCPUPerRow(out io.Writer, res harness.Results, changed int64) {
	if changed == 0 {
		return
	}
	var parts []string
	for _, r := range res {
		if r.OK() {
			parts = append(parts, fmt.Sprintf("%s %.2f µs", r.Name, float64(r.MedianCPU().Nanoseconds())/1e3/float64(changed)))
		}
	}
	fmt.Fprintf(out, "\nClient CPU per changed row (median): %s\n", strings.Join(parts, ", "))
}

// driver holds the benchmark driver's own connection. It never syncs data itself.
type driver struct {
	c    config
	conn *pgx.Conn
	psql harness.PSQL

	updated, deleted int64
	// lookBack counts the unchanged rows the README's 5-minute look-back re-reads.
	lookBack int64
	expected *harness.Fingerprint
}

func (d *driver) srcTable() string {
	return harness.QuoteIdent(d.c.src()) + "." + harness.QuoteIdent(table)
}

func (d *driver) dstTable(name string) string {
	return harness.QuoteIdent(d.c.dst()) + "." + harness.QuoteIdent(name)
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

// setup builds the source and both targets from a generated CSV.
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
	qs := []string{"ALTER TABLE " + d.srcTable() + " ADD PRIMARY KEY (id)"}
	if d.c.sourceIndex {
		qs = append(qs, "CREATE INDEX ON "+d.srcTable()+" (modified)")
	}
	qs = append(qs,
		"CREATE TABLE "+d.pristine()+" AS SELECT * FROM "+d.srcTable()+" WHERE "+changedRows+" ORDER BY id",
	)
	qs = append(qs, d.rebuild(table)...)
	qs = append(qs, d.rebuild(nokeyTable)...)
	if err := d.exec(ctx, qs...); err != nil {
		return err
	}
	if err := d.conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE "+updatedRows+"), count(*) FILTER (WHERE "+deletedRows+") FROM "+d.pristine()).
		Scan(&d.updated, &d.deleted); err != nil {
		return err
	}
	x := dataset.Horizon
	if err := d.conn.QueryRow(ctx, "SELECT count(*) FROM "+d.srcTable()+" WHERE modified > $1 AND modified <= $2 AND NOT "+changedRows,
		x.Add(-readmeLookBack), x).Scan(&d.lookBack); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "setup done in %.1f s\n", time.Since(start).Seconds())
	return nil
}

// rebuild returns the statements that make target anew as the previous sync left it: the
// source's unchanged rows and the changed rows' previous versions, in id order, then its
// index (the primary key of orders, a plain index on orders_nokey), vacuumed.
func (d *driver) rebuild(target string) []string {
	index := "ALTER TABLE " + d.dstTable(target) + " ADD PRIMARY KEY (id)"
	if target == nokeyTable {
		index = "CREATE INDEX ON " + d.dstTable(target) + " (id)"
	}
	return []string{
		"DROP TABLE IF EXISTS " + d.dstTable(target),
		dataset.CreateTable(d.dstTable(target), false),
		"INSERT INTO " + d.dstTable(target) + " SELECT * FROM (SELECT * FROM " + d.srcTable() + " WHERE NOT " + changedRows +
			" UNION ALL SELECT * FROM " + d.pristine() + ") r ORDER BY id",
		index,
		"VACUUM (ANALYZE) " + d.dstTable(target),
	}
}

// readmeLookBack is the README program's LookBack.
const readmeLookBack = 5 * time.Minute

// prepare restores the target to the previous sync's state and applies the change at the
// source. Both steps are idempotent, so every run starts from the same tables. A sluice
// run's pipeline gets the previous sync's watermark back.
func (d *driver) prepare(ctx context.Context, target, pipeline string) error {
	x := harness.QuoteLiteral(dataset.Horizon.Format("2006-01-02 15:04:05-07"))
	// A quiesced run gets the target rebuilt in id order, so that every run meets the same
	// pages whatever the case before it left (a merge's updates and a delete and insert
	// leave different free space behind, and a restore in place keeps it). Without
	// -quiesce the changed rows are restored in place, as churn leaves a user's table.
	qs := []string{
		"DELETE FROM " + d.dstTable(target) + " WHERE " + changedRows,
		"INSERT INTO " + d.dstTable(target) + " SELECT * FROM " + d.pristine() + " ORDER BY id",
	}
	if d.c.quiesce {
		qs = d.rebuild(target)
	}
	qs = append(qs,
		"UPDATE "+d.srcTable()+" AS s SET amount = p.amount + 1, deleted = false, modified = timestamptz "+x+
			" + (s.id % 3600) * interval '1 second' FROM "+d.pristine()+" AS p WHERE s.id = p.id AND p."+updatedRows,
		"UPDATE "+d.srcTable()+" AS s SET amount = p.amount, deleted = true, modified = timestamptz "+x+
			" + interval '1 hour' + (s.id % 3600) * interval '1 second' FROM "+d.pristine()+" AS p WHERE s.id = p.id AND p."+deletedRows,
	)
	if d.c.quiesce {
		qs = append(qs, "VACUUM (ANALYZE) "+d.srcTable())
	}
	if err := d.exec(ctx, qs...); err != nil {
		return err
	}
	if pipeline != "" {
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
	if d.c.quiesce {
		return d.exec(ctx, "CHECKPOINT")
	}
	return nil
}

func (d *driver) syncCase(name string) harness.Case {
	c := harness.Case{Name: name}
	target, pipe, read := table, "", d.updated+d.deleted
	switch name {
	case "psql-incremental-nokey":
		target = nokeyTable
	case "sluice-incremental":
		c.Baseline, pipe = "psql-incremental", pipeline
	case "sluice-readme":
		c.Baseline, pipe, read = "psql-incremental", readmePipeline, read+d.lookBack
	case "sluice-incremental-nokey":
		c.Baseline, pipe, target = "psql-incremental-nokey", nokeyPipeline, nokeyTable
	}
	c.Prepare = func(ctx context.Context) error { return d.prepare(ctx, target, pipe) }
	if strings.HasPrefix(name, "psql-") {
		c.Run = func(ctx context.Context) (harness.Sample, error) { return d.psqlIncremental(ctx, target) }
	} else {
		c.Run = func(ctx context.Context) (harness.Sample, error) {
			return harness.MeasureSluiceChild(ctx, d.c.dsn, name, "-dsn", d.c.dsn, "-schema", d.c.schema, "-cpuprofile", d.c.cpuprofile)
		}
	}
	c.Verify = func(ctx context.Context, s harness.Sample) (string, error) {
		var notes []string
		if strings.HasPrefix(name, "sluice-") {
			cr, err := harness.ReadChildResult(s.Stdout)
			if err != nil {
				return "", err
			}
			if cr.Stats.RowsRead != read {
				return "", fmt.Errorf("sluice read %d rows, want %d", cr.Stats.RowsRead, read)
			}
			if cr.Stats.RowsDeleted != d.deleted {
				return "", fmt.Errorf("sluice deleted %d rows, want %d", cr.Stats.RowsDeleted, d.deleted)
			}
			notes = append(notes, fmt.Sprintf("read %d, wrote %d, deleted %d", cr.Stats.RowsRead, cr.Stats.RowsWritten, cr.Stats.RowsDeleted))
		}
		if d.c.verify {
			got, err := harness.TableFingerprint(ctx, d.conn, d.dstTable(target), "")
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
func (d *driver) psqlIncremental(ctx context.Context, target string) (harness.Sample, error) {
	f, err := os.CreateTemp(d.c.tmpdir, "sluice-bench-changes-*.csv")
	if err != nil {
		return harness.Sample{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	x := harness.QuoteLiteral(dataset.Horizon.Format("2006-01-02 15:04:05-07"))
	file := harness.QuoteLiteral(f.Name())
	dst := d.dstTable(target)
	script := `\copy (SELECT ` + strings.Join(dataset.ColumnNames, ", ") + ` FROM ` + d.srcTable() +
		` WHERE modified > ` + x + `) TO ` + file + " WITH (FORMAT csv)\n" +
		"BEGIN;\n" +
		"CREATE TEMP TABLE stage (LIKE " + dst + ") ON COMMIT DROP;\n" +
		`\copy stage FROM ` + file + " WITH (FORMAT csv)\n" +
		"DELETE FROM " + dst + " AS t USING stage AS s WHERE t.id = s.id;\n" +
		"INSERT INTO " + dst + " SELECT * FROM stage WHERE NOT deleted;\n" +
		"COMMIT;\n"
	return d.psql.Script(ctx, script)
}
