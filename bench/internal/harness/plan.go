package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Case is one thing the benchmark times, such as "psql-truncate" or "sluice-swap".
type Case struct {
	// Name identifies the case in the report.
	Name string
	// Baseline names the case this one's ratio is taken against. Defaults to none.
	Baseline string
	// Prepare puts the database in the state every run of the case starts from. It is not
	// timed. Defaults to doing nothing.
	Prepare func(ctx context.Context) error
	// Run executes the case once and measures it. Required.
	Run func(ctx context.Context) (Sample, error)
	// Verify checks what the run left behind, untimed, and may return a short note for
	// the report. Defaults to no check.
	Verify func(ctx context.Context, s Sample) (string, error)
}

// Plan runs cases interleaved: run 1 of every case in order, then run 2, and so on.
type Plan struct {
	// Runs is the number of runs of each case. Defaults to 3.
	Runs int
	// Cases are run in this order within each run.
	Cases []Case
	// Log receives a progress line per run. Defaults to os.Stderr.
	Log io.Writer
}

// CaseResult holds the samples of one case.
type CaseResult struct {
	Name     string
	Baseline string
	Samples  []Sample
	// Note is the last note returned by Verify.
	Note string
	// Err is the error that stopped the case; a failed case is not run again.
	Err error
}

// Median returns the median wall time of the samples, 0 when there are none.
func (c *CaseResult) Median() time.Duration {
	ds := make([]time.Duration, len(c.Samples))
	for i, s := range c.Samples {
		ds[i] = s.Wall
	}
	return Median(ds)
}

// MedianCPU returns the median CPU time of the samples.
func (c *CaseResult) MedianCPU() time.Duration {
	ds := make([]time.Duration, len(c.Samples))
	for i, s := range c.Samples {
		ds[i] = s.CPU
	}
	return Median(ds)
}

// PeakRSS returns the largest MaxRSS over the samples, in bytes.
func (c *CaseResult) PeakRSS() int64 {
	var m int64
	for _, s := range c.Samples {
		m = max(m, s.MaxRSS)
	}
	return m
}

// OK reports whether the case ran without error at least once.
func (c *CaseResult) OK() bool { return c != nil && c.Err == nil && len(c.Samples) > 0 }

// Median returns the median of ds (the mean of the middle two for an even count), or 0.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Results is the outcome of a [Plan].
type Results []*CaseResult

// Get returns the result of the named case, or nil.
func (rs Results) Get(name string) *CaseResult {
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Ratio returns the median of case name over the median of case base, and whether both
// have samples.
func (rs Results) Ratio(name, base string) (float64, bool) {
	a, b := rs.Get(name), rs.Get(base)
	if !a.OK() || !b.OK() || b.Median() == 0 {
		return 0, false
	}
	return float64(a.Median()) / float64(b.Median()), true
}

// Run runs the plan. A case whose Prepare, Run or Verify fails is reported with its error
// and skipped in later runs; the other cases go on. Run returns early only when ctx ends.
func (p Plan) Run(ctx context.Context) Results {
	runs := p.Runs
	if runs <= 0 {
		runs = 3
	}
	log := p.Log
	if log == nil {
		log = os.Stderr
	}
	res := make(Results, len(p.Cases))
	for i, c := range p.Cases {
		res[i] = &CaseResult{Name: c.Name, Baseline: c.Baseline}
	}
	for run := 1; run <= runs; run++ {
		for i, c := range p.Cases {
			r := res[i]
			if r.Err != nil {
				continue
			}
			if ctx.Err() != nil {
				return res
			}
			s, note, err := runOnce(ctx, c)
			if err != nil {
				r.Err = err
				fmt.Fprintf(log, "run %d/%d %-28s FAILED: %v\n", run, runs, c.Name, err)
				continue
			}
			r.Samples = append(r.Samples, s)
			if note != "" {
				r.Note = note
			}
			fmt.Fprintf(log, "run %d/%d %-28s %7.2f s  cpu %6.2f s  rss %6.1f MiB (ru_maxrss %.1f)  %s\n",
				run, runs, c.Name, s.Wall.Seconds(), s.CPU.Seconds(), s.MiB(), float64(s.RusageMaxRSS)/(1<<20), note)
		}
	}
	return res
}

func runOnce(ctx context.Context, c Case) (Sample, string, error) {
	if c.Prepare != nil {
		if err := c.Prepare(ctx); err != nil {
			return Sample{}, "", fmt.Errorf("prepare: %w", err)
		}
	}
	s, err := c.Run(ctx)
	if err != nil {
		return s, "", err
	}
	var note string
	if c.Verify != nil {
		if note, err = c.Verify(ctx, s); err != nil {
			return s, "", fmt.Errorf("verify: %w", err)
		}
	}
	return s, note, nil
}

// Target is one performance goal and whether the run met it.
type Target struct {
	// Goal says what is measured, such as "fastest sluice strategy vs psql-truncate".
	Goal string
	// Got and Limit are the measured value and its upper bound, in Unit.
	Got, Limit float64
	// Unit is "x" for ratios, "%", "s" or "MiB"; it decides the number format.
	Unit string
	// Missing, when set, says why the value could not be measured.
	Missing string
}

// Pass reports whether the target was measured and met.
func (t Target) Pass() bool { return t.Missing == "" && t.Got <= t.Limit }

// String formats the target as one report line, starting with PASS, FAIL or "n/a".
func (t Target) String() string {
	if t.Missing != "" {
		return fmt.Sprintf("n/a   %s: %s", t.Goal, t.Missing)
	}
	verdict := "FAIL"
	if t.Pass() {
		verdict = "PASS"
	}
	return fmt.Sprintf("%s  %s: %s <= %s", verdict, t.Goal, t.format(t.Got), t.format(t.Limit))
}

func (t Target) format(v float64) string {
	switch t.Unit {
	case "x":
		return fmt.Sprintf("%.2fx", v)
	case "%":
		return fmt.Sprintf("%+.1f%%", v)
	case "s":
		return fmt.Sprintf("%.2f s", v)
	}
	return fmt.Sprintf("%.1f %s", v, t.Unit)
}

// RatioTarget is the goal "case at most limit times base".
func (rs Results) RatioTarget(name, base string, limit float64) Target {
	t := Target{Goal: name + " vs " + base, Limit: limit, Unit: "x"}
	got, ok := rs.Ratio(name, base)
	if !ok {
		t.Missing = "not measured" + rs.why(name, base)
	}
	t.Got = got
	return t
}

// RSSTarget is the goal "the case's peak RSS at most limit MiB".
func (rs Results) RSSTarget(name string, limitMiB float64) Target {
	t := Target{Goal: "peak RSS of " + name, Limit: limitMiB, Unit: "MiB"}
	r := rs.Get(name)
	if !r.OK() {
		t.Missing = "not measured" + rs.why(name)
		return t
	}
	t.Got = float64(r.PeakRSS()) / (1 << 20)
	return t
}

// CPUTarget is the goal "the case's median CPU, scaled to 2M rows from a load of rows
// rows, at most limit seconds".
func (rs Results) CPUTarget(name string, rows int64, limit time.Duration) Target {
	t := Target{Goal: "client CPU of " + name + " per 2M rows", Limit: limit.Seconds(), Unit: "s"}
	r := rs.Get(name)
	if !r.OK() {
		t.Missing = "not measured" + rs.why(name)
		return t
	}
	t.Got = r.CPUPer2M(rows).Seconds()
	return t
}

func (rs Results) why(names ...string) string {
	for _, n := range names {
		if r := rs.Get(n); r == nil {
			return fmt.Sprintf(" (%s not run)", n)
		} else if r.Err != nil {
			return fmt.Sprintf(" (%s failed: %v)", n, firstLine(r.Err.Error()))
		}
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// Fastest returns the OK case with the lowest median among names, or nil.
func (rs Results) Fastest(names ...string) *CaseResult {
	var best *CaseResult
	for _, n := range names {
		r := rs.Get(n)
		if r.OK() && (best == nil || r.Median() < best.Median()) {
			best = r
		}
	}
	return best
}

// WriteTable prints the results as a Markdown table: case, median seconds, the runs,
// ratio to the case's baseline, peak RSS, median CPU and the case's note or error.
func (rs Results) WriteTable(w io.Writer) { rs.writeTable(w, 0) }

// WriteTablePerRow is [Results.WriteTable] with the median CPU also given per row loaded,
// in microseconds, and as seconds per 2M rows, the size the targets are stated for.
func (rs Results) WriteTablePerRow(w io.Writer, rows int64) { rs.writeTable(w, rows) }

// CPUPer2M returns the case's median CPU scaled to 2M rows, for a load of rows rows.
func (c *CaseResult) CPUPer2M(rows int64) time.Duration {
	if rows <= 0 {
		return 0
	}
	return time.Duration(float64(c.MedianCPU()) * 2e6 / float64(rows))
}

func (rs Results) writeTable(w io.Writer, rows int64) {
	perRow := rows > 0
	if perRow {
		fmt.Fprintln(w, "| case | median s | runs s | ratio | peak RSS MiB | cpu s | cpu µs/row | cpu s per 2M | note |")
		fmt.Fprintln(w, "|---|---:|---|---|---:|---:|---:|---:|---|")
	} else {
		fmt.Fprintln(w, "| case | median s | runs s | ratio | peak RSS MiB | cpu s | note |")
		fmt.Fprintln(w, "|---|---:|---|---|---:|---:|---|")
	}
	for _, r := range rs {
		runs := make([]string, len(r.Samples))
		for i, s := range r.Samples {
			runs[i] = fmt.Sprintf("%.2f", s.Wall.Seconds())
		}
		ratio := "-"
		if q, ok := rs.Ratio(r.Name, r.Baseline); ok {
			ratio = fmt.Sprintf("%.2fx %s", q, r.Baseline)
		}
		note := r.Note
		if r.Err != nil {
			note = "FAILED: " + firstLine(r.Err.Error())
		}
		med, rss, cpu, usRow, per2M := "-", "-", "-", "-", "-"
		if len(r.Samples) > 0 {
			med = fmt.Sprintf("%.2f", r.Median().Seconds())
			rss = fmt.Sprintf("%.1f", float64(r.PeakRSS())/(1<<20))
			cpu = fmt.Sprintf("%.2f", r.MedianCPU().Seconds())
			if perRow {
				usRow = fmt.Sprintf("%.2f", float64(r.MedianCPU().Microseconds())/float64(rows))
				per2M = fmt.Sprintf("%.2f", r.CPUPer2M(rows).Seconds())
			}
		}
		cols := []string{r.Name, med, strings.Join(runs, " "), ratio, rss, cpu}
		if perRow {
			cols = append(cols, usRow, per2M)
		}
		cols = append(cols, strings.ReplaceAll(note, "|", "/"))
		fmt.Fprintf(w, "| %s |\n", strings.Join(cols, " | "))
	}
}

// WriteTargets prints one line per target and returns how many failed or were not measured.
func WriteTargets(w io.Writer, targets []Target) (failed int) {
	for _, t := range targets {
		fmt.Fprintln(w, t.String())
		if !t.Pass() {
			failed++
		}
	}
	return failed
}
