// Command mysqlrefresh times sluice's full refresh of a MySQL or MariaDB table from a CSV
// file against the server's own command-line client loading the same file with LOAD DATA
// LOCAL INFILE in one transaction, interleaved in one run.
//
// It generates the 9-column CSV (see bench/internal/dataset), then for each of -runs runs
// loads it with every case in turn. Before every load the target table is rebuilt untimed
// as an "old version" of the same size (same ids, other values) with PRIMARY KEY (id). The
// cases are:
//
//	client-delete  mariadb (or mysql) -e: START TRANSACTION; DELETE FROM t;
//	               LOAD DATA LOCAL INFILE ... ; COMMIT                  (the baseline)
//	client-swap    CREATE TABLE n LIKE t; LOAD DATA LOCAL INFILE into n;
//	               RENAME TABLE t TO o, n TO t; DROP TABLE o
//	sluice-delete  sources/csv -> sinks/mysql full refresh, strategy delete
//	sluice-swap    the same, strategy swap
//
// The sluice cases run with the unique-key and row-count checks on. Each case is a child
// process timed from start to exit, and its peak RSS is its own (see bench/internal/harness).
// After every load the table's fingerprint is compared with the CSV's, loaded once at setup.
//
// Usage:
//
//	go run ./bench/mysqlrefresh -rows 2000000 -runs 3
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/sluice-etl/sluice/bench/internal/dataset"
	"github.com/sluice-etl/sluice/bench/internal/harness"
)

const (
	table       = "t"
	allCases    = "client-delete,sluice-delete,client-swap,sluice-swap"
	targetRatio = 1.0  // sluice vs the client's LOAD DATA in one transaction
	targetRSS   = 64.0 // MiB
)

type config struct {
	rows     int64
	runs     int
	dsn      string
	database string
	cases    string
	client   string
	verify   bool
	tmpdir   string

	// Set only in a child.
	child string
	csv   string
}

var childOnly = []string{harness.ChildFlag, "csv"}

func defaultDSN() string {
	if dsn := os.Getenv("SLUICE_TEST_MYSQL_URL"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/test"
}

func defaultClient() string {
	for _, c := range []string{"mariadb", "mysql"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return "mysql"
}

func main() {
	var c config
	flag.Int64Var(&c.rows, "rows", 2_000_000, "rows in the generated CSV and in the old table")
	flag.IntVar(&c.runs, "runs", 3, "interleaved runs of each case; the report gives medians")
	flag.StringVar(&c.dsn, "dsn", defaultDSN(), "MySQL DSN in go-sql-driver form (defaults to $SLUICE_TEST_MYSQL_URL)")
	flag.StringVar(&c.database, "database", "sluice_bench", "database that holds the tables and sluice's run records; dropped and recreated")
	flag.StringVar(&c.cases, "cases", allCases, "comma-separated cases to run, in order")
	flag.StringVar(&c.client, "client", defaultClient(), "the server's command-line client, mariadb or mysql")
	flag.BoolVar(&c.verify, "verify", true, "fingerprint the table after every load and compare it with the CSV")
	flag.StringVar(&c.tmpdir, "tmpdir", "", "directory for the generated CSV files (defaults to the system temp directory)")
	flag.StringVar(&c.child, harness.ChildFlag, "", "internal: run the sluice side of one case")
	flag.StringVar(&c.csv, "csv", "", "internal: CSV file for -child")
	flag.Usage = usage
	flag.Parse()

	harness.Main("mysqlrefresh", c.child,
		func(ctx context.Context) int { return runChild(ctx, c) },
		func(ctx context.Context, out io.Writer) error { return run(ctx, c, out) })
}

func usage() {
	out := flag.CommandLine.Output()
	fmt.Fprintf(out, "usage: go run ./bench/mysqlrefresh [flags]\n\n")
	flag.VisitAll(func(f *flag.Flag) {
		if slices.Contains(childOnly, f.Name) {
			return
		}
		def := f.DefValue
		if f.Name == "dsn" {
			def = redactDSN(def)
		}
		fmt.Fprintf(out, "  -%s\t%s (default %q)\n", f.Name, f.Usage, def)
	})
}

// redactDSN hides the password of a go-sql-driver DSN.
func redactDSN(dsn string) string {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	if cfg.Passwd != "" {
		cfg.Passwd = "xxxxx"
	}
	return cfg.FormatDSN()
}

// redactErr removes the DSN's password from an error that may quote it.
func redactErr(dsn string, err error) error {
	cfg, perr := mysqldriver.ParseDSN(dsn)
	if err == nil || perr != nil || cfg.Passwd == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), cfg.Passwd, "xxxxx"))
}

// withDatabase returns dsn with its database set to db.
func withDatabase(dsn, db string) (string, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	cfg.DBName = db
	return cfg.FormatDSN(), nil
}

// runChild is the sluice loader, re-executed by the driver. It prints the run's result as
// JSON on stdout for the driver to check.
func runChild(ctx context.Context, c config) int {
	strategy, ok := strings.CutPrefix(c.child, "sluice-")
	if !ok {
		return harness.ExitUnknownChild(c.child)
	}
	res, err := sluiceFullRefresh(ctx, loadSpec{DSN: c.dsn, Table: table, CSV: c.csv, Rows: c.rows, Strategy: strategy})
	return harness.FinishChild(res, redactErr(c.dsn, err), 0)
}

func run(ctx context.Context, c config, out io.Writer) error {
	cases, err := harness.SelectCases(c.cases, allCases)
	if err != nil {
		return err
	}
	d, err := newDriver(ctx, c)
	if err != nil {
		return redactErr(c.dsn, err)
	}
	defer d.close()

	fx, err := d.fixture(ctx)
	if err != nil {
		return redactErr(c.dsn, err)
	}
	defer os.Remove(fx.csv.Path)
	defer os.Remove(fx.old.Path)

	fmt.Fprintf(out, "# sluice full refresh vs the MySQL client's LOAD DATA, %d rows\n\n", c.rows)
	fmt.Fprintf(out, "- client: %s %s/%s, %d CPUs, GOMAXPROCS %d, load average %s\n", runtime.Version(), runtime.GOOS,
		runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), harness.LoadAverage())
	fmt.Fprintf(out, "- server: %s\n- sluice: %s\n", d.serverInfo(ctx), harness.Revision())
	fmt.Fprintf(out, "- CSV: %d rows, %.1f MB; old table: %d rows with PRIMARY KEY (id); medians of %d interleaved runs; %s\n",
		fx.csv.Rows, float64(fx.csv.Bytes)/1e6, c.rows, c.runs, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "- sluice cases: sources/csv -> sinks/mysql full refresh with the unique-key and row-count checks on\n\n")

	plan := harness.Plan{Runs: c.runs}
	for _, name := range cases {
		plan.Cases = append(plan.Cases, d.loadCase(fx, name))
	}
	res := plan.Run(ctx)
	res.WriteTable(out)

	// The target is the client's LOAD DATA in one transaction, for either strategy; the
	// table's ratio column compares each case with its own shape.
	var targets []harness.Target
	for _, pair := range [][2]string{{"sluice-delete", "client-delete"}, {"sluice-swap", "client-delete"}} {
		if slices.Contains(cases, pair[0]) && slices.Contains(cases, pair[1]) {
			targets = append(targets, res.RatioTarget(pair[0], pair[1], targetRatio))
		}
	}
	for _, name := range []string{"sluice-delete", "sluice-swap"} {
		if slices.Contains(cases, name) {
			targets = append(targets, res.RSSTarget(name, targetRSS))
		}
	}
	harness.WriteFooter(out, targets)
	return ctx.Err()
}

// driver holds the benchmark driver's own connection. It never loads data itself.
type driver struct {
	c   config
	dsn string // c.dsn with the benchmark's database
	db  *sql.DB
}

func newDriver(ctx context.Context, c config) (*driver, error) {
	admin, err := sql.Open("mysql", c.dsn)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(c.database)); err != nil {
		return nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(c.database)+" CHARACTER SET utf8mb4"); err != nil {
		return nil, err
	}
	dsn, err := withDatabase(c.dsn, c.database)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	return &driver{c: c, dsn: dsn, db: db}, nil
}

func (d *driver) close() {
	_, _ = d.db.Exec("DROP DATABASE IF EXISTS " + quoteIdent(d.c.database))
	_ = d.db.Close()
}

func (d *driver) serverInfo(ctx context.Context) string {
	var version, pool, flush, binlog string
	if err := d.db.QueryRowContext(ctx, "SELECT VERSION(), @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit, @@log_bin").
		Scan(&version, &pool, &flush, &binlog); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return fmt.Sprintf("%s, innodb_buffer_pool_size=%s innodb_flush_log_at_trx_commit=%s log_bin=%s", version, pool, flush, binlog)
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func quoteLiteral(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", "''").Replace(s) + "'"
}

// columns is the table's shape in MySQL types. The CSV's timestamps are whole seconds in
// UTC, "2006-01-02 15:04:05+00".
const columns = `id BIGINT NOT NULL,
	name VARCHAR(255) NOT NULL,
	email VARCHAR(255) NOT NULL,
	gender VARCHAR(255) NOT NULL,
	country VARCHAR(255) NOT NULL,
	amount DECIMAL(12,2) NOT NULL,
	created DATETIME NOT NULL,
	modified DATETIME NOT NULL,
	deleted BOOLEAN NOT NULL`

func createTable(name string) string {
	return "CREATE TABLE " + quoteIdent(name) + " (\n\t" + columns + ",\n\tPRIMARY KEY (id)\n)"
}

// loadDataSQL is the hand-written LOAD DATA of the CSV into table: the form a person
// writes for this file, turning "+00" timestamps and t/f into MySQL's values.
func loadDataSQL(path, table string) string {
	return "LOAD DATA LOCAL INFILE " + quoteLiteral(path) + " INTO TABLE " + quoteIdent(table) +
		" CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n' IGNORE 1 LINES" +
		" (id, name, email, gender, country, amount, @created, @modified, @deleted)" +
		" SET created = LEFT(@created, 19), modified = LEFT(@modified, 19), deleted = (@deleted = 't')"
}

// client runs SQL with the command-line client, as a person would, and measures it.
func (d *driver) client(ctx context.Context, sqlText string) (harness.Sample, error) {
	cfg, err := mysqldriver.ParseDSN(d.dsn)
	if err != nil {
		return harness.Sample{}, err
	}
	args := []string{"--no-defaults", "--local-infile=1", "--batch", "-u", cfg.User}
	switch cfg.Net {
	case "unix":
		args = append(args, "--socket="+cfg.Addr)
	default:
		host, port, ok := strings.Cut(cfg.Addr, ":")
		args = append(args, "-h", host, "--protocol=TCP")
		if ok {
			args = append(args, "-P", port)
		}
	}
	args = append(args, cfg.DBName, "-e", sqlText)
	cmd := exec.CommandContext(ctx, d.c.client, args...)
	if cfg.Passwd != "" {
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+cfg.Passwd)
	}
	s, err := harness.Measure(cmd)
	return s, redactErr(d.dsn, err)
}

// fixture is the generated CSV, the old version's CSV, and the fingerprint a correct load
// of the CSV leaves.
type fixture struct {
	csv, old dataset.File
	expected string
}

func (d *driver) fixture(ctx context.Context) (*fixture, error) {
	start := time.Now()
	f, err := dataset.CreateFile(d.c.tmpdir, d.c.rows, dataset.DefaultSeed)
	if err != nil {
		return nil, err
	}
	old, err := dataset.CreateFile(d.c.tmpdir, d.c.rows, dataset.DefaultSeed+1)
	if err != nil {
		os.Remove(f.Path)
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "generated %s and the old version: %d rows, %.1f MB in %.2f s\n", f.Path, f.Rows,
		float64(f.Bytes)/1e6, time.Since(start).Seconds())
	fx := &fixture{csv: f, old: old}
	fail := func(err error) (*fixture, error) {
		os.Remove(f.Path)
		os.Remove(old.Path)
		return nil, err
	}
	// The old version, kept in a table of its own that every run copies.
	if _, err := d.client(ctx, createTable("old")+"; "+loadDataSQL(old.Path, "old")); err != nil {
		return fail(fmt.Errorf("load the old version: %w", err))
	}
	if !d.c.verify {
		return fx, nil
	}
	if _, err := d.client(ctx, createTable("expected")+"; "+loadDataSQL(f.Path, "expected")); err != nil {
		return fail(fmt.Errorf("load the reference copy: %w", err))
	}
	if fx.expected, err = d.fingerprint(ctx, "expected"); err != nil {
		return fail(err)
	}
	if _, err := d.db.ExecContext(ctx, "DROP TABLE expected"); err != nil {
		return fail(err)
	}
	if !strings.HasPrefix(fx.expected, strconv.FormatInt(d.c.rows, 10)+" rows") {
		return fail(fmt.Errorf("reference copy has %s, want %d rows", fx.expected, d.c.rows))
	}
	return fx, nil
}

// fingerprint is an order-independent digest of a table's rows.
func (d *driver) fingerprint(ctx context.Context, name string) (string, error) {
	var n int64
	var sum string
	err := d.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, name, email, gender, country, "+
		"amount, created, modified, deleted))), 0) FROM "+quoteIdent(name)).Scan(&n, &sum)
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", name, err)
	}
	return fmt.Sprintf("%d rows, sum %s", n, sum), nil
}

// prepare rebuilds the target as the old version with its primary key, so that every
// load replaces a full table.
func (d *driver) prepare(ctx context.Context) error {
	for _, q := range []string{
		"DROP TABLE IF EXISTS " + quoteIdent(table) + ", t__new, t__old, t__sluice_new, t__sluice_old",
		createTable(table),
		"INSERT INTO " + quoteIdent(table) + " SELECT * FROM old",
		"ANALYZE TABLE " + quoteIdent(table),
	} {
		if _, err := d.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%.40s: %w", q, err)
		}
	}
	return nil
}

func (d *driver) loadCase(fx *fixture, name string) harness.Case {
	c := harness.Case{Name: name, Prepare: d.prepare}
	switch name {
	case "client-delete":
		script := "START TRANSACTION; DELETE FROM t; " + loadDataSQL(fx.csv.Path, table) + "; COMMIT;"
		c.Run = func(ctx context.Context) (harness.Sample, error) { return d.client(ctx, script) }
	case "client-swap":
		c.Baseline = "client-delete"
		script := "CREATE TABLE t__new LIKE t; " + loadDataSQL(fx.csv.Path, "t__new") +
			"; RENAME TABLE t TO t__old, t__new TO t; DROP TABLE t__old;"
		c.Run = func(ctx context.Context) (harness.Sample, error) { return d.client(ctx, script) }
	default:
		c.Baseline = "client-" + strings.TrimPrefix(name, "sluice-")
		c.Run = func(ctx context.Context) (harness.Sample, error) {
			cmd, err := harness.Child(ctx, name, "-dsn", d.dsn, "-csv", fx.csv.Path, "-rows", strconv.FormatInt(d.c.rows, 10))
			if err != nil {
				return harness.Sample{}, err
			}
			s, err := harness.MeasureChild(cmd)
			return s, redactErr(d.dsn, err)
		}
	}
	c.Verify = func(ctx context.Context, s harness.Sample) (string, error) {
		var notes []string
		if strings.HasPrefix(name, "sluice-") {
			cr, err := harness.ReadChildResult(s.Stdout)
			if err != nil {
				return "", err
			}
			if cr.Stats.RowsWritten != d.c.rows {
				return "", fmt.Errorf("sluice wrote %d rows, want %d", cr.Stats.RowsWritten, d.c.rows)
			}
			notes = append(notes, cr.CheckSummary())
		}
		if d.c.verify {
			got, err := d.fingerprint(ctx, table)
			if err != nil {
				return "", err
			}
			if got != fx.expected {
				return "", fmt.Errorf("table differs from the CSV: %s, want %s", got, fx.expected)
			}
			notes = append(notes, "contents verified")
		}
		return strings.Join(notes, "; "), nil
	}
	return c
}
