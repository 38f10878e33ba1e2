// Command fullrefresh times sluice's full refresh of a PostgreSQL table from a CSV file
// against the hand-written psql baselines, in one run, interleaved.
//
// It generates the 9-column CSV (see bench/internal/dataset), then for each of -runs runs
// loads it with every case in turn. With -method checkpoint, before every load the target
// table is rebuilt untimed as an "old version" of the same size with PRIMARY KEY (id),
// vacuumed and checkpointed, so each load replaces a full table on a quiet WAL; with
// -method none the loads run back to back, each replacing what the one before left, with
// whatever WAL and dirty buffers it left; -method both runs the two in turn. The cases are:
//
//	psql-truncate    psql -f: BEGIN; TRUNCATE; \copy ... CSV HEADER; COMMIT  (the plain baseline)
//	psql-noindex     the same into a table with no index at all
//	psql-tuned       psql -f: BEGIN; TRUNCATE; drop the PK; \copy ... FREEZE; add the PK; COMMIT
//	psql-delete      psql -f: BEGIN; DELETE FROM; \copy ... CSV HEADER; COMMIT
//	floor-binary     psql-tuned's script loading a ready binary COPY file of the same rows:
//	                 the server's side of sluice-truncate with no client work, its floor
//	sluice-truncate  sources/csv -> sinks/postgres full refresh, strategy truncate
//	sluice-delete    the same, strategy delete
//	sluice-swap      the same, strategy swap
//
// The sluice cases run with the unique-key and row-count checks on. Each case is a child
// process timed from start to exit, and its peak RSS is its own (see bench/internal/harness).
// After every load the table's fingerprint is compared with the CSV's, loaded once at setup.
//
// Usage:
//
//	go run ./bench/fullrefresh -rows 2000000 -runs 3 -method both
//	go run ./bench/fullrefresh -rows 200000 -runs 3
//	go run ./bench/fullrefresh -rows 2000000 -observer -cases ''
//
// -observer adds a comparison of the fastest sluice strategy with and without a no-op
// etl.Observer (issue 8: it must add under 1%). -rss-rows N adds loads of every sluice
// case at N rows, as often as -runs, to show that peak RSS does not grow with the input.
//
// Every case also reports where its time went: psql's \timing of each statement of its
// script, and for sluice the time of each statement its connection ran, traced in the
// child (see harness.PhaseTimer).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-etl/sluice/bench/internal/dataset"
	"github.com/sluice-etl/sluice/bench/internal/harness"
	"github.com/sluice-etl/sluice/etl"
)

const (
	table        = "t"         // the target, with PRIMARY KEY (id)
	tableNoIndex = "t_noindex" // psql-noindex's target: no index at all
	allCases     = "psql-truncate,psql-noindex,psql-tuned,psql-delete,floor-binary,sluice-truncate,sluice-delete,sluice-swap"
	targetPlain  = 0.5             // fastest sluice strategy vs psql-truncate
	targetTuned  = 0.6             // fastest sluice strategy vs psql-tuned
	targetEquiv  = 1.1             // sluice truncate/delete vs their psql equivalents
	targetRSS    = 64.0            // MiB
	targetCPU    = 1 * time.Second // client CPU of a sluice case per 2M rows
	targetObs    = 1.0             // % added by a no-op observer
	targetGrow   = 1.1             // peak RSS at -rows over peak RSS at -rss-rows
)

// The -method values: what happens between two loads.
const (
	methodCheckpoint = "checkpoint" // rebuild the old version, VACUUM (ANALYZE), CHECKPOINT
	methodNone       = "none"       // nothing: back to back
	methodBoth       = "both"
)

var methodText = map[string]string{
	methodCheckpoint: "before every load the target is rebuilt untimed as an old version of the same size, VACUUM (ANALYZE)d and CHECKPOINTed",
	methodNone:       "loads run back to back: each replaces what the one before left, with no VACUUM or CHECKPOINT in between",
}

func methods(v string) ([]string, error) {
	switch v {
	case methodCheckpoint, methodNone:
		return []string{v}, nil
	case methodBoth:
		return []string{methodCheckpoint, methodNone}, nil
	}
	return nil, fmt.Errorf("unknown -method %q (checkpoint, none or both)", v)
}

type config struct {
	rows        int64
	runs        int
	dsn         string
	schema      string
	cases       string
	observer    bool
	obsStrategy string
	obsRuns     int
	rssRows     int64
	verify      bool
	tmpdir      string
	method      string

	// Set only in a child.
	child      string
	csv        string
	observed   bool
	backendCPU bool
}

// childOnly are the flags the driver passes to its children; usage does not list them.
var childOnly = []string{harness.ChildFlag, "csv", "observed", "backend-cpu"}

func main() {
	var c config
	flag.Int64Var(&c.rows, "rows", 2_000_000, "rows in the generated CSV and in the old table")
	flag.IntVar(&c.runs, "runs", 3, "interleaved runs of each case; the report gives medians")
	flag.StringVar(&c.dsn, "dsn", harness.DSNFromEnv(), "PostgreSQL connection string (defaults to $SLUICE_TEST_DATABASE_URL)")
	flag.StringVar(&c.schema, "schema", "sluice_bench", "schema that holds the target table and sluice's run records; dropped and recreated")
	flag.StringVar(&c.cases, "cases", allCases, "comma-separated cases to run, in order")
	flag.BoolVar(&c.observer, "observer", false, "also time the fastest sluice strategy with and without a no-op etl.Observer")
	flag.IntVar(&c.obsRuns, "observer-runs", 0, "interleaved runs for -observer (defaults to -runs); a 1% effect needs many")
	flag.StringVar(&c.obsStrategy, "observer-strategy", "", "strategy for -observer (defaults to the fastest measured, else swap)")
	flag.Int64Var(&c.rssRows, "rss-rows", 0, "also load every sluice case once at this many rows, to compare peak RSS (0: off)")
	flag.BoolVar(&c.verify, "verify", true, "fingerprint the table after every load and compare it with the CSV")
	flag.StringVar(&c.method, "method", methodCheckpoint, "between loads: checkpoint (rebuild, VACUUM, CHECKPOINT), none (back to back) or both")
	flag.StringVar(&c.tmpdir, "tmpdir", "", "directory for the generated CSV (defaults to the system temp directory)")
	flag.StringVar(&c.child, harness.ChildFlag, "", "internal: run the sluice side of one case")
	flag.StringVar(&c.csv, "csv", "", "internal: CSV file for -child")
	flag.BoolVar(&c.observed, "observed", false, "internal: set a no-op observer in -child")
	flag.BoolVar(&c.backendCPU, "backend-cpu", false, "internal: report the CPU time of the server process in -child")
	flag.Usage = harness.Usage("fullrefresh", childOnly...)
	flag.Parse()

	harness.Main("fullrefresh", c.child,
		func(ctx context.Context) int { return runChild(ctx, c) },
		func(ctx context.Context, out io.Writer) error { return run(ctx, c, out) })
}

// runChild is the sluice loader, re-executed by the driver. It prints the run's result as
// JSON on stdout for the driver to check.
func runChild(ctx context.Context, c config) int {
	strategy, ok := strings.CutPrefix(c.child, "sluice-")
	if !ok {
		return harness.ExitUnknownChild(c.child)
	}
	// The observer only counts, so the report can say how often a run calls it.
	var obs etl.Observer
	var events atomic.Int64
	if c.observed {
		obs = etl.ObserverFunc(func(context.Context, etl.Event) { events.Add(1) })
	}
	timer := &harness.PhaseTimer{Classify: phaseOf}
	var backend []harness.Phase
	spec := loadSpec{
		DSN: c.dsn, Schema: c.schema, Table: table, CSV: c.csv, Rows: c.rows,
		Strategy: strategy, Observer: obs, Tracer: timer, Loaded: timer.Pause,
	}
	if c.backendCPU {
		spec.BackendCPU = func(d time.Duration) {
			backend = append(backend, harness.Phase{Name: backendCPU, Seconds: d.Seconds()})
		}
	}
	res, err := sluiceFullRefresh(ctx, spec)
	return harness.FinishChild(res, err, events.Load(), append(timer.Phases(), backend...)...)
}

// backendCPU is the column of the table of phases that holds the CPU time of the server
// process that ran the load (parallel index-build workers not included).
const backendCPU = "server backend CPU"

// phaseOrder is the order of the columns of the report's table of phases.
var phaseOrder = []string{"truncate", "delete", "drop indexes", "copy", "build indexes", "analyze", "checks", "swap", "commit", "other", "client between statements", backendCPU}

// phaseOf names the step of the load a statement of the sluice child belongs to.
func phaseOf(sql string) string {
	q := strings.ToUpper(strings.TrimSpace(sql))
	switch {
	case q == "COMMIT":
		return "commit"
	case strings.HasPrefix(q, "TRUNCATE "):
		return "truncate"
	case strings.HasPrefix(q, "DELETE FROM ") && !strings.Contains(q, " WHERE "):
		return "delete"
	case strings.Contains(q, " DROP CONSTRAINT ") || strings.HasPrefix(q, "DROP INDEX "):
		return "drop indexes"
	case strings.Contains(q, " ADD CONSTRAINT ") || strings.HasPrefix(q, "CREATE INDEX ") || strings.HasPrefix(q, "CREATE UNIQUE INDEX "):
		return "build indexes"
	case strings.HasPrefix(q, "ANALYZE "):
		return "analyze"
	case strings.HasPrefix(q, "DROP TABLE ") || strings.Contains(q, " RENAME "):
		return "swap"
	case strings.Contains(q, "INDISUNIQUE") || strings.HasPrefix(q, "SELECT COUNT("):
		return "checks"
	}
	return "other"
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
	if err := d.setupSchema(ctx); err != nil {
		return err
	}
	// A local server lets a load read its own process's CPU time; a remote one, or a user
	// without pg_read_server_files, does not, and the column is left out.
	var stat string
	if err := conn.QueryRow(ctx, harness.BackendCPUSQL).Scan(&stat); err == nil {
		_, err = harness.ParseBackendCPU(stat)
		d.backendCPU = err == nil
	}

	fx, err := d.fixture(ctx, c.rows, slices.Contains(cases, "floor-binary"))
	if err != nil {
		return err
	}
	defer fx.remove()

	ms, err := methods(c.method)
	if err != nil {
		return err
	}
	harness.WriteHeader(ctx, out, conn, fmt.Sprintf("sluice full refresh vs psql, %d rows", c.rows))
	fmt.Fprintf(out, "- CSV: %d rows, %.1f MB; target: %d rows with PRIMARY KEY (id) (psql-noindex: no index); medians of %d interleaved runs; %s\n",
		fx.csv.Rows, float64(fx.csv.Bytes)/1e6, c.rows, c.runs, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "- sluice cases: sources/csv -> sinks/postgres full refresh with the unique-key and row-count checks on\n")
	fmt.Fprintf(out, "- cpu: user + system time of the loader process (psql, or the sluice child), not the server's\n")

	var targets []harness.Target
	var first harness.Results
	for i, m := range ms {
		fmt.Fprintf(out, "\n## Method %s: %s\n\n", m, methodText[m])
		phases := &harness.PhaseTable{Order: phaseOrder}
		plan := harness.Plan{Runs: c.runs}
		for _, name := range cases {
			lc := d.loadCase(fx, name, baselineOf(name), false, m)
			lc.Phases = phases
			plan.Cases = append(plan.Cases, lc.Case)
		}
		res := plan.Run(ctx)
		res.WriteTablePerRow(out, c.rows)
		if !phases.Empty() {
			fmt.Fprintf(out, "\nWhere the time goes, medians in seconds (psql: \\timing of each statement; sluice: each statement of its connection, the COPY being the longest gap between two; server backend CPU: user + system time of the server process that ran the load, parallel index-build workers not included):\n\n")
			phases.Write(out)
		}
		targets = append(targets, d.targets(res, cases, m)...)
		if i == 0 {
			first = res
		}
	}

	sluiceCases := []string{"sluice-truncate", "sluice-delete", "sluice-swap"}
	if c.rssRows > 0 {
		t, err := d.rssComparison(ctx, out, first, sluiceCases)
		if err != nil {
			return err
		}
		targets = append(targets, t...)
	}
	if c.observer {
		strategy := c.obsStrategy
		if strategy == "" {
			strategy = "swap"
			if f := first.Fastest(sluiceCases...); f != nil {
				strategy = strings.TrimPrefix(f.Name, "sluice-")
			}
		}
		targets = append(targets, d.observerComparison(ctx, out, fx, strategy)...)
	}

	harness.WriteFooter(out, targets)
	return ctx.Err()
}

// targets are the verdicts of one method's run: the fastest sluice strategy against the
// plain and the tuned psql scripts, each strategy against its psql equivalent, and each
// sluice case's client CPU and peak RSS.
func (d *driver) targets(res harness.Results, cases []string, method string) []harness.Target {
	var targets []harness.Target
	add := func(t harness.Target) {
		t.Goal += " [" + method + "]"
		targets = append(targets, t)
	}
	sluiceCases := []string{"sluice-truncate", "sluice-delete", "sluice-swap"}
	selected := func(names ...string) bool {
		for _, n := range names {
			if !slices.Contains(cases, n) {
				return false
			}
		}
		return true
	}
	anySluice := slices.ContainsFunc(sluiceCases, func(n string) bool { return selected(n) })
	for _, base := range []struct {
		name  string
		limit float64
	}{{"psql-tuned", targetTuned}, {"psql-truncate", targetPlain}} {
		if !selected(base.name) || !anySluice {
			continue
		}
		if f := res.Fastest(sluiceCases...); f != nil {
			t := res.RatioTarget(f.Name, base.name, base.limit)
			t.Goal = "fastest sluice strategy (" + f.Name + ") vs " + base.name
			add(t)
		} else {
			add(harness.Target{Goal: "fastest sluice strategy vs " + base.name, Missing: "no sluice case ran"})
		}
	}
	for _, pair := range [][2]string{{"sluice-truncate", "psql-truncate"}, {"sluice-delete", "psql-delete"}} {
		if selected(pair[0], pair[1]) {
			add(res.RatioTarget(pair[0], pair[1], targetEquiv))
		}
	}
	for _, name := range sluiceCases {
		if selected(name) {
			add(res.CPUTarget(name, d.c.rows, targetCPU))
			add(res.RSSTarget(name, targetRSS))
		}
	}
	return targets
}

// rssComparison loads every sluice case -runs times at -rss-rows and compares the peak
// RSS with the main run's.
func (d *driver) rssComparison(ctx context.Context, out io.Writer, big harness.Results, names []string) ([]harness.Target, error) {
	var run []string
	for _, name := range names {
		if big.Get(name).OK() {
			run = append(run, name)
		}
	}
	if len(run) == 0 {
		return []harness.Target{{Goal: "peak RSS does not grow with rows", Missing: "no sluice case ran"}}, nil
	}
	fx, err := d.fixture(ctx, d.c.rssRows, false)
	if err != nil {
		return nil, err
	}
	defer fx.remove()
	// As many loads as the big run had: peak RSS is the largest over a case's runs, and the
	// larger of more samples of a noisy figure would be larger for no other reason.
	plan := harness.Plan{Runs: d.c.runs}
	for _, name := range run {
		plan.Cases = append(plan.Cases, d.loadCase(fx, name, "", false, methodCheckpoint).Case)
	}
	small := plan.Run(ctx)
	fmt.Fprintf(out, "\nPeak RSS at %d rows vs %d rows (the largest over %d loads each, method checkpoint):\n\n", d.c.rows, d.c.rssRows, d.c.runs)
	fmt.Fprintln(out, "| case | RSS MiB at "+strconv.FormatInt(d.c.rows, 10)+" | RSS MiB at "+strconv.FormatInt(d.c.rssRows, 10)+" |")
	fmt.Fprintln(out, "|---|---:|---:|")
	var targets []harness.Target
	for _, s := range small {
		b := big.Get(s.Name)
		t := harness.Target{Goal: fmt.Sprintf("peak RSS of %s at %d rows over %d rows", s.Name, d.c.rows, d.c.rssRows), Limit: targetGrow, Unit: "x"}
		if !s.OK() {
			t.Missing = "small load failed: " + s.Err.Error()
		} else {
			t.Got = float64(b.PeakRSS()) / float64(s.PeakRSS())
			fmt.Fprintf(out, "| %s | %.1f | %.1f |\n", s.Name, float64(b.PeakRSS())/(1<<20), float64(s.PeakRSS())/(1<<20))
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// observerComparison times one strategy with and without a no-op observer, interleaved.
// Besides the wall-time overhead it reports the client CPU the observer added, as a share
// of the wall time: the observer runs in the client, so that is an upper bound on what it
// can add to the wall time, and CPU time is far less disturbed by a busy machine.
func (d *driver) observerComparison(ctx context.Context, out io.Writer, fx *fixture, strategy string) []harness.Target {
	plain, observed := "sluice-"+strategy, "sluice-"+strategy+"+observer"
	runs := d.c.obsRuns
	if runs <= 0 {
		runs = d.c.runs
	}
	plan := harness.Plan{Runs: runs, Cases: []harness.Case{
		d.loadCase(fx, plain, "", false, methodCheckpoint).Case,
		d.loadCase(fx, observed, plain, true, methodCheckpoint).Case,
	}}
	fmt.Fprintf(out, "\nNo-op observer overhead, strategy %s, %d interleaved runs:\n\n", strategy, runs)
	res := plan.Run(ctx)
	res.WriteTable(out)
	wall := harness.Target{Goal: "wall time added by a no-op observer to " + plain, Limit: targetObs, Unit: "%"}
	cpu := harness.Target{Goal: "client CPU added by a no-op observer to " + plain + ", as a share of its wall time", Limit: targetObs, Unit: "%"}
	if q, ok := res.Ratio(observed, plain); ok {
		wall.Got = (q - 1) * 100
		p, o := res.Get(plain), res.Get(observed)
		cpu.Got = float64(o.MedianCPU()-p.MedianCPU()) / float64(p.Median()) * 100
	} else {
		wall.Missing = "not measured" + errorOf(res, plain, observed)
		cpu.Missing = wall.Missing
	}
	return []harness.Target{wall, cpu}
}

func errorOf(res harness.Results, names ...string) string {
	for _, n := range names {
		if r := res.Get(n); r != nil && r.Err != nil {
			return ": " + r.Err.Error()
		}
	}
	return ""
}

func baselineOf(name string) string {
	switch name {
	case "sluice-truncate", "sluice-swap", "psql-noindex", "psql-tuned", "floor-binary":
		return "psql-truncate"
	case "sluice-delete":
		return "psql-delete"
	}
	return ""
}

// driver holds the benchmark driver's own connection. It never loads data itself.
type driver struct {
	c          config
	conn       *pgx.Conn
	psql       harness.PSQL
	backendCPU bool // the server runs here and lets a load read its process's CPU time
}

// fixture is one generated CSV and the fingerprint a correct load of it leaves.
type fixture struct {
	rows     int64
	csv      dataset.File
	binary   string // the same rows as a binary COPY file, when floor-binary runs
	expected harness.Fingerprint
}

func (fx *fixture) remove() {
	os.Remove(fx.csv.Path)
	if fx.binary != "" {
		os.Remove(fx.binary)
	}
}

func (d *driver) qualified(name string) string {
	return harness.QuoteIdent(d.c.schema) + "." + harness.QuoteIdent(name)
}

// tableOf returns the table a case loads.
func tableOf(name string) string {
	if name == "psql-noindex" {
		return tableNoIndex
	}
	return table
}

func (d *driver) setupSchema(ctx context.Context) error {
	s := harness.QuoteIdent(d.c.schema)
	_, err := d.conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+s+" CASCADE; CREATE SCHEMA "+s)
	return err
}

// fixture generates the CSV for rows and fingerprints it by loading it once with psql
// into a scratch table. With binary it also writes that table as a binary COPY file, for
// floor-binary.
func (d *driver) fixture(ctx context.Context, rows int64, binary bool) (fx *fixture, err error) {
	start := time.Now()
	f, err := dataset.CreateFile(d.c.tmpdir, rows, dataset.DefaultSeed)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "generated %s: %d rows, %.1f MB in %.2f s\n", f.Path, f.Rows, float64(f.Bytes)/1e6, time.Since(start).Seconds())
	fx = &fixture{rows: rows, csv: f}
	if !d.c.verify && !binary {
		return fx, nil
	}
	defer func() {
		if err != nil {
			fx.remove()
		}
	}()
	ref := harness.QuoteIdent(d.c.schema) + "." + harness.QuoteIdent("expected")
	script := "DROP TABLE IF EXISTS " + ref + ";\n" + dataset.CreateTable(ref, false) + ";\n" +
		`\copy ` + ref + " FROM " + harness.QuoteLiteral(f.Path) + " WITH (FORMAT csv, HEADER true)\n"
	if binary {
		fx.binary = f.Path + ".bin"
		script += `\copy (SELECT * FROM ` + ref + " ORDER BY id) TO " + harness.QuoteLiteral(fx.binary) + " WITH (FORMAT binary)\n"
	}
	if _, err := d.psql.Script(ctx, script); err != nil {
		return nil, fmt.Errorf("load the reference copy: %w", err)
	}
	if fx.expected, err = harness.TableFingerprint(ctx, d.conn, ref, ""); err == nil {
		_, err = d.conn.Exec(ctx, "DROP TABLE "+ref)
	}
	if err != nil {
		return nil, err
	}
	if fx.expected.Rows != rows {
		return nil, fmt.Errorf("reference copy has %d rows, want %d", fx.expected.Rows, rows)
	}
	return fx, nil
}

// prepare puts name in the state a load starts from. With methodCheckpoint it rebuilds
// it as a vacuumed old version of rows rows (with the primary key unless it is the
// index-free table), then checkpoints, so that every load starts from the same table and
// a quiet WAL. With methodNone it builds the old version only when the table is missing,
// and does nothing else: the load replaces what the one before left.
func (d *driver) prepare(ctx context.Context, rows int64, name, method string) error {
	t := d.qualified(name)
	if method == methodNone {
		var exists bool
		if err := d.conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t).Scan(&exists); err != nil || exists {
			return err
		}
	}
	qs := []string{
		"DROP TABLE IF EXISTS " + t + " CASCADE",
		dataset.CreateTable(t, false),
		dataset.InsertOldVersion(t, rows),
	}
	if name == table {
		qs = append(qs, "ALTER TABLE "+t+" ADD PRIMARY KEY (id)")
	}
	if method == methodCheckpoint {
		qs = append(qs, "VACUUM (ANALYZE) "+t, "CHECKPOINT")
	}
	for _, q := range qs {
		if _, err := d.conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", firstWords(q), err)
		}
	}
	return nil
}

func firstWords(q string) string {
	if len(q) > 40 {
		return q[:40] + "..."
	}
	return q
}

// loadCase is a harness.Case with the phase table its runs report to.
type loadCase struct {
	harness.Case
	// Phases, when set, receives each verified run's phases.
	Phases *harness.PhaseTable
}

// psqlScript returns a case's psql script, starting with \timing on, and the phase of
// each statement it times.
func (d *driver) psqlScript(fx *fixture, name string) (string, []string) {
	t := d.qualified(tableOf(name))
	copyFrom := func(opts string) string {
		return `\copy ` + t + " FROM " + harness.QuoteLiteral(fx.csv.Path) + " WITH (FORMAT csv, HEADER true" + opts + ")"
	}
	stmts := [][2]string{{"BEGIN;", "other"}}
	switch name {
	case "psql-truncate", "psql-noindex":
		stmts = append(stmts, [2]string{"TRUNCATE " + t + ";", "truncate"}, [2]string{copyFrom(""), "copy"})
	case "psql-delete":
		stmts = append(stmts, [2]string{"DELETE FROM " + t + ";", "delete"}, [2]string{copyFrom(""), "copy"})
	case "psql-tuned", "floor-binary":
		// What a careful hand writes: no index maintenance during the COPY, rows written
		// frozen (the table was truncated in this transaction), the key built once. The
		// floor runs the same script on a binary file, so the server does exactly what
		// it does for sluice-truncate and nothing parses text.
		cp := copyFrom(", FREEZE true")
		if name == "floor-binary" {
			cp = `\copy ` + t + " FROM " + harness.QuoteLiteral(fx.binary) + " WITH (FORMAT binary, FREEZE true)"
		}
		pkey := harness.QuoteIdent(table + "_pkey")
		stmts = append(stmts,
			[2]string{"TRUNCATE " + t + ";", "truncate"},
			[2]string{"ALTER TABLE " + t + " DROP CONSTRAINT " + pkey + ";", "drop indexes"},
			[2]string{cp, "copy"},
			[2]string{"ALTER TABLE " + t + " ADD CONSTRAINT " + pkey + " PRIMARY KEY (id);", "build indexes"})
	}
	stmts = append(stmts, [2]string{"COMMIT;", "commit"})
	if d.backendCPU {
		stmts = append(stmts, [2]string{"\\pset tuples_only on\n\\pset format unaligned\nSELECT 'backend-stat:' || pg_read_file('/proc/self/stat');", "after"})
	}
	script := "\\timing on\n"
	labels := make([]string, len(stmts))
	for i, st := range stmts {
		script += st[0] + "\n"
		labels[i] = st[1]
	}
	return script, labels
}

func (d *driver) loadCase(fx *fixture, name, baseline string, observed bool, method string) *loadCase {
	lc := &loadCase{Case: harness.Case{
		Name:     name,
		Baseline: baseline,
		Prepare:  func(ctx context.Context) error { return d.prepare(ctx, fx.rows, tableOf(name), method) },
	}}
	var labels []string
	if strings.HasPrefix(name, "psql-") || name == "floor-binary" {
		var script string
		script, labels = d.psqlScript(fx, name)
		lc.Run = func(ctx context.Context) (harness.Sample, error) { return d.psql.Script(ctx, script) }
	} else {
		child := strings.TrimSuffix(name, "+observer")
		lc.Run = func(ctx context.Context) (harness.Sample, error) {
			return harness.MeasureSluiceChild(ctx, d.c.dsn, child, "-dsn", d.c.dsn, "-schema", d.c.schema,
				"-csv", fx.csv.Path, "-rows", strconv.FormatInt(fx.rows, 10), "-observed="+strconv.FormatBool(observed),
				"-backend-cpu="+strconv.FormatBool(d.backendCPU))
		}
	}
	lc.Verify = func(ctx context.Context, s harness.Sample) (string, error) {
		var notes []string
		var phases []harness.Phase
		if labels != nil {
			var err error
			if phases, err = harness.PSQLPhases(s.Stdout, labels); err != nil {
				return "", err
			}
			phases = slices.DeleteFunc(phases, func(p harness.Phase) bool { return p.Name == "after" })
			if _, stat, ok := strings.Cut(string(s.Stdout), "backend-stat:"); ok {
				if cpu, err := harness.ParseBackendCPU(stat); err == nil {
					phases = append(phases, harness.Phase{Name: backendCPU, Seconds: cpu.Seconds()})
				}
			}
		} else {
			cr, err := harness.ReadChildResult(s.Stdout)
			if err != nil {
				return "", err
			}
			if cr.Stats.RowsWritten != fx.rows {
				return "", fmt.Errorf("sluice wrote %d rows, want %d", cr.Stats.RowsWritten, fx.rows)
			}
			phases = cr.Phases
			notes = append(notes, cr.CheckSummary())
			if observed {
				notes = append(notes, fmt.Sprintf("%d observer events", cr.Events))
			}
		}
		if d.c.verify {
			got, err := harness.TableFingerprint(ctx, d.conn, d.qualified(tableOf(name)), "")
			if err != nil {
				return "", err
			}
			if got != fx.expected {
				return "", fmt.Errorf("table differs from the CSV: %v, want %v", got, fx.expected)
			}
			notes = append(notes, "contents verified")
		}
		if lc.Phases != nil {
			lc.Phases.Add(name, phases)
		}
		return strings.Join(notes, "; "), nil
	}
	return lc
}
