package harness

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Phase is the time a load spent in one of its steps, such as "copy" or "build indexes".
type Phase struct {
	Name    string
	Seconds float64
}

// PhaseTimer is a pgx.QueryTracer that adds up the wall time of a connection's statements
// by phase, as seen from the client: on a local server that is the server's time for the
// statement plus a round trip. pgx does not trace a COPY run through PgConn().CopyFrom, so
// the longest gap between two traced statements is counted as Gap: in a load, the COPY
// (with the client's encoding of the rows, which overlaps it). Set it on the loader's
// pgx.ConnConfig.Tracer. Safe for concurrent use.
type PhaseTimer struct {
	// Classify names the phase of a statement. Required.
	Classify func(sql string) string
	// Gap names the phase the longest gap between two statements goes to. Defaults to
	// "copy".
	Gap string

	mu       sync.Mutex
	total    map[string]time.Duration
	order    []string
	lastEnd  time.Time
	longest  time.Duration
	otherGap time.Duration
	paused   bool
}

type phaseKey struct{}

type phaseStart struct {
	phase string
	at    time.Time
}

// TraceQueryStart implements pgx.QueryTracer.
func (p *PhaseTimer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	now := time.Now()
	p.mu.Lock()
	if p.paused {
		p.mu.Unlock()
		return ctx
	}
	if !p.lastEnd.IsZero() {
		gap := now.Sub(p.lastEnd)
		if gap > p.longest {
			p.otherGap += p.longest
			p.longest = gap
		} else {
			p.otherGap += gap
		}
	}
	p.mu.Unlock()
	return context.WithValue(ctx, phaseKey{}, phaseStart{phase: p.Classify(data.SQL), at: now})
}

// TraceQueryEnd implements pgx.QueryTracer.
func (p *PhaseTimer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	s, ok := ctx.Value(phaseKey{}).(phaseStart)
	if !ok {
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		return
	}
	p.add(s.phase, now.Sub(s.at))
	p.lastEnd = now
}

func (p *PhaseTimer) add(phase string, d time.Duration) {
	if p.total == nil {
		p.total = map[string]time.Duration{}
	}
	if _, ok := p.total[phase]; !ok {
		p.order = append(p.order, phase)
	}
	p.total[phase] += d
}

// Phases returns the time of each phase in the order the phases first ran, then the
// longest gap as Gap and the other gaps as "client between statements".
func (p *PhaseTimer) Phases() []Phase {
	p.mu.Lock()
	defer p.mu.Unlock()
	gap := p.Gap
	if gap == "" {
		gap = "copy"
	}
	out := []Phase{{Name: gap, Seconds: p.longest.Seconds()}}
	for _, name := range p.order {
		out = append(out, Phase{Name: name, Seconds: p.total[name].Seconds()})
	}
	return append(out, Phase{Name: "client between statements", Seconds: p.otherGap.Seconds()})
}

var psqlTiming = regexp.MustCompile(`(?m)^Time: ([0-9.]+) ms`)

// PSQLPhases reads the "Time: N ms" lines that psql's \timing prints, one per statement of
// a script that starts with \timing on, and names them by labels, in order; statements
// with the same label add up. It fails when the count of lines differs from len(labels).
func PSQLPhases(stdout []byte, labels []string) ([]Phase, error) {
	m := psqlTiming.FindAllSubmatch(stdout, -1)
	if len(m) != len(labels) {
		return nil, fmt.Errorf("psql printed %d timings for %d statements", len(m), len(labels))
	}
	var out []Phase
	for i, sub := range m {
		ms, err := strconv.ParseFloat(string(sub[1]), 64)
		if err != nil {
			return nil, err
		}
		j := slices.IndexFunc(out, func(p Phase) bool { return p.Name == labels[i] })
		if j < 0 {
			out = append(out, Phase{Name: labels[i]})
			j = len(out) - 1
		}
		out[j].Seconds += ms / 1000
	}
	return out, nil
}

// PhaseTable collects the phases of every run of several cases and prints their medians.
type PhaseTable struct {
	// Order lists phases to print first, in this order; the others follow in the order
	// they were first seen. Defaults to none.
	Order []string

	cases  []string
	phases []string
	runs   map[string]map[string][]float64
}

// Add records one run's phases for a case.
func (t *PhaseTable) Add(name string, phases []Phase) {
	if t.runs == nil {
		t.runs = map[string]map[string][]float64{}
	}
	if t.runs[name] == nil {
		t.runs[name] = map[string][]float64{}
		t.cases = append(t.cases, name)
	}
	for _, p := range phases {
		if !slices.Contains(t.phases, p.Name) {
			t.phases = append(t.phases, p.Name)
		}
		t.runs[name][p.Name] = append(t.runs[name][p.Name], p.Seconds)
	}
}

// Empty reports whether nothing was added.
func (t *PhaseTable) Empty() bool { return len(t.cases) == 0 }

// Write prints a Markdown table: one row per case, one column per phase (see Order), each the median over the case's runs in seconds, "-" where the
// case has no such phase.
func (t *PhaseTable) Write(w io.Writer) {
	var phases []string
	for _, p := range t.Order {
		if slices.Contains(t.phases, p) {
			phases = append(phases, p)
		}
	}
	for _, p := range t.phases {
		if !slices.Contains(phases, p) {
			phases = append(phases, p)
		}
	}
	fmt.Fprint(w, "| case |")
	for _, p := range phases {
		fmt.Fprintf(w, " %s |", p)
	}
	fmt.Fprint(w, "\n|---|")
	for range phases {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, c := range t.cases {
		fmt.Fprintf(w, "| %s |", c)
		for _, p := range phases {
			v, ok := t.runs[c][p]
			if !ok {
				fmt.Fprint(w, " - |")
				continue
			}
			ds := make([]time.Duration, len(v))
			for i, s := range v {
				ds[i] = time.Duration(s * float64(time.Second))
			}
			fmt.Fprintf(w, " %.3f |", Median(ds).Seconds())
		}
		fmt.Fprintln(w)
	}
}

// BackendCPUSQL reads the /proc stat line of the server process that runs it, on a server
// on the local machine (Linux), for [ParseBackendCPU]. It needs superuser or
// pg_read_server_files.
const BackendCPUSQL = "SELECT pg_read_file('/proc/self/stat')"

// ParseBackendCPU returns the user plus system CPU time in a /proc/<pid>/stat line, at the
// 100 ticks a second Linux reports them in on every common platform.
func ParseBackendCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("not a /proc stat line: %.40q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("not a /proc stat line: %.40q", stat)
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("not a /proc stat line: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// Pause stops the timer: statements run after it are not counted.
func (p *PhaseTimer) Pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}
