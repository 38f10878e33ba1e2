package dag

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// Status is how a task or a DAG run ended.
type Status string

// The statuses of a task and of a DAG run.
const (
	// StatusPending is a task that has not ended yet; it appears only in the record saved
	// while a run is in progress.
	StatusPending Status = "pending"
	// StatusRunning is a DAG run in progress, or one whose process died (until the next
	// run that takes the DAG's lock marks it abandoned).
	StatusRunning Status = "running"
	// StatusSuccess is a task or run that succeeded.
	StatusSuccess Status = "success"
	// StatusFailed is a task whose last attempt failed, or a run with such a task.
	StatusFailed Status = "failed"
	// StatusSkipped is a task its trigger rule did not run, or one never started because
	// the run was cancelled.
	StatusSkipped Status = "skipped"
	// StatusUpstreamFailed is a task not run because a task upstream of it failed.
	StatusUpstreamFailed Status = "upstream_failed"
	// StatusAbandoned is a DAG run found still running by a later run that took the DAG's
	// lock: its process was killed, or lost its store, before it could record how it
	// ended. Holding the lock proves it is gone. Its Finished is when it was found, and
	// its tasks keep the statuses last saved. `history --failed` lists it.
	StatusAbandoned Status = "abandoned"
)

// ErrRunFailed is wrapped by the error of a DAG run in which a task failed.
var ErrRunFailed = errors.New("DAG run failed")

// Report is the record of one DAG run: what ran, how it ended, and why. Stores keep it as
// the run's history.
type Report struct {
	// RunID identifies the run; `history --run` takes it.
	RunID string `json:"run_id"`
	// DAG is the DAG's name.
	DAG string `json:"dag"`
	// Window is the run's data interval; zero means all data.
	Window etl.Window `json:"window"`
	// Status is running while the run goes on, then success or failed; abandoned when
	// its process died first.
	Status Status `json:"status"`
	// Started and Finished are in UTC; Finished is zero while the run goes on.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Duration is the run's wall time.
	Duration time.Duration `json:"duration_ns"`
	// Error says why the run failed: its failed tasks, or its cancellation. Passwords of
	// connection strings and presigned URLs in it are hidden, as in every error text a
	// report keeps.
	Error string `json:"error,omitempty"`
	// Tasks holds one entry per task, in topological order.
	Tasks []TaskReport `json:"tasks"`
}

// TaskReport is how one task of a run ended.
type TaskReport struct {
	// Name is the task's name.
	Name string `json:"name"`
	// Upstream names the tasks it ran after.
	Upstream []string `json:"upstream,omitempty"`
	// Status is how it ended; pending while the run goes on.
	Status Status `json:"status"`
	// Attempts counts the tries, retries included; 0 for a task that never started.
	Attempts int `json:"attempts"`
	// Started is when the first attempt began, in UTC.
	Started time.Time `json:"started,omitzero"`
	// Duration spans every attempt and the waits between them.
	Duration time.Duration `json:"duration_ns"`
	// Rows is what the task counted with [Run.AddRows] in its last attempt.
	Rows int64 `json:"rows"`
	// Step is the pipeline step that failed, from [etl.Step], when the task is a pipeline.
	Step string `json:"step,omitempty"`
	// Error is the last attempt's error, passwords hidden, or why the task did not run.
	Error string `json:"error,omitempty"`
	// Checks holds the check results the last attempt recorded with [Run.AddChecks].
	Checks []etl.CheckResult `json:"checks,omitempty"`
	// Retried lists the attempts that failed before the last one, oldest first: what
	// went wrong before a retry succeeded, or before the task failed for good.
	Retried []AttemptFailure `json:"retried,omitempty"`
}

// AttemptFailure is one failed attempt of a task that was tried again.
type AttemptFailure struct {
	// Attempt counts from 1.
	Attempt int `json:"attempt"`
	// Worker names the process that ran the attempt, when a [Queue] ran it elsewhere.
	Worker string `json:"worker,omitempty"`
	// Error is the attempt's error, passwords hidden.
	Error string `json:"error"`
}

// AttemptWorker is implemented by the errors of attempts that ran in another process, so
// that the report can say where each failed attempt ran.
type AttemptWorker interface {
	// AttemptWorker names the worker process that ran the attempt.
	AttemptWorker() string
}

// Task returns the report of the named task, or nil.
func (r *Report) Task(name string) *TaskReport {
	for i := range r.Tasks {
		if r.Tasks[i].Name == name {
			return &r.Tasks[i]
		}
	}
	return nil
}

// Rows sums the rows of every task.
func (r *Report) Rows() int64 {
	var n int64
	for _, t := range r.Tasks {
		n += t.Rows
	}
	return n
}

// FirstFailure returns the first task, in topological order, that failed, or nil.
func (r *Report) FirstFailure() *TaskReport {
	for i := range r.Tasks {
		if r.Tasks[i].Status == StatusFailed {
			return &r.Tasks[i]
		}
	}
	return nil
}

// Count returns how many tasks ended with status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, t := range r.Tasks {
		if t.Status == s {
			n++
		}
	}
	return n
}

// clone copies r down to each task's upstream names and checks, so that the copy a
// store keeps and the copies it hands out share nothing a caller could change.
func (r *Report) clone() *Report {
	c := *r
	c.Tasks = slices.Clone(r.Tasks)
	for i := range c.Tasks {
		t := &c.Tasks[i]
		t.Upstream, t.Checks, t.Retried = slices.Clone(t.Upstream), slices.Clone(t.Checks), slices.Clone(t.Retried)
	}
	return &c
}

// WriteTable writes the report as an aligned text table, one task a line, followed by
// the errors of failed tasks.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "dag %s run %s window %s: %s in %s\n", r.DAG, r.RunID, r.Window, r.Status, fmtDuration(r.Duration))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATUS\tATTEMPTS\tDURATION\tROWS\tERROR")
	for _, t := range r.Tasks {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", t.Name, t.Status, t.Attempts,
			fmtDuration(t.Duration), t.Rows, firstLine(t.Error))
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteDetail writes everything the report holds, for a post-mortem: each task with its
// attempts, checks and full error.
func (r *Report) WriteDetail(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "run:      %s\ndag:      %s\nwindow:   %s\nstatus:   %s\nstarted:  %s\nduration: %s\n",
		r.RunID, r.DAG, r.Window, r.Status, r.Started.UTC().Format(time.RFC3339), fmtDuration(r.Duration))
	if r.Error != "" {
		fmt.Fprintf(&b, "error:    %s\n", r.Error)
	}
	for _, t := range r.Tasks {
		fmt.Fprintf(&b, "\ntask %s: %s\n  attempts: %d\n  duration: %s\n  rows:     %d\n",
			t.Name, t.Status, t.Attempts, fmtDuration(t.Duration), t.Rows)
		if len(t.Upstream) > 0 {
			fmt.Fprintf(&b, "  after:    %s\n", strings.Join(t.Upstream, ", "))
		}
		if t.Step != "" {
			fmt.Fprintf(&b, "  step:     %s\n", t.Step)
		}
		if t.Error != "" {
			fmt.Fprintf(&b, "  error:    %s\n", t.Error)
		}
		for _, f := range t.Retried {
			fmt.Fprintf(&b, "  attempt %d failed", f.Attempt)
			if f.Worker != "" {
				fmt.Fprintf(&b, " on worker %s", f.Worker)
			}
			fmt.Fprintf(&b, ": %s\n", firstLine(f.Error))
		}
		for _, c := range t.Checks {
			res := "passed"
			if !c.Passed {
				res = "FAILED"
			}
			fmt.Fprintf(&b, "  check %s %s", c.Name, res)
			if c.Table != "" {
				fmt.Fprintf(&b, " on %s", c.Table)
			}
			if c.Expected != "" || c.Found != "" {
				fmt.Fprintf(&b, " (expected %s, found %s)", c.Expected, c.Found)
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtDuration rounds d for people: microseconds below a millisecond, milliseconds below
// a minute, seconds above.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Minute:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// statusColours gives each status's Mermaid class its colours.
var statusColours = []struct {
	status Status
	style  string
}{
	{StatusSuccess, "fill:#c8e6c9,stroke:#2e7d32"},
	{StatusFailed, "fill:#ffcdd2,stroke:#c62828"},
	{StatusUpstreamFailed, "fill:#ffe0b2,stroke:#ef6c00"},
	{StatusSkipped, "fill:#eeeeee,stroke:#9e9e9e"},
	{StatusPending, "fill:#ffffff,stroke:#616161"},
}

// Mermaid renders the run as a Mermaid flowchart with each task coloured by its status.
func (r *Report) Mermaid() string {
	nodes := make([]mermaidNode, len(r.Tasks))
	pos := make(map[string]int, len(r.Tasks))
	for i, t := range r.Tasks {
		pos[t.Name] = i
		label := fmt.Sprintf("%s<br/>%s", t.Name, t.Status)
		if t.Attempts > 1 {
			label += fmt.Sprintf(" x%d", t.Attempts)
		}
		nodes[i] = mermaidNode{label: label, class: string(t.Status)}
	}
	var edges [][2]int
	for i, t := range r.Tasks {
		for _, u := range t.Upstream {
			if j, ok := pos[u]; ok {
				edges = append(edges, [2]int{j, i})
			}
		}
	}
	var b strings.Builder
	writeMermaid(&b, nodes, edges)
	for _, c := range statusColours {
		fmt.Fprintf(&b, "  classDef %s %s\n", c.status, c.style)
	}
	return b.String()
}

type mermaidNode struct{ label, class string }

func writeMermaid(b *strings.Builder, nodes []mermaidNode, edges [][2]int) {
	b.WriteString("flowchart LR\n")
	for i, n := range nodes {
		fmt.Fprintf(b, "  t%d[\"%s\"]", i, mermaidText(n.label))
		if n.class != "" {
			fmt.Fprintf(b, ":::%s", n.class)
		}
		b.WriteString("\n")
	}
	for _, e := range edges {
		fmt.Fprintf(b, "  t%d --> t%d\n", e[0], e[1])
	}
}

// mermaidText escapes a label for a quoted Mermaid node. Nodes get generated IDs, so a
// task name only ever appears here, where entity codes keep it from breaking the syntax.
// "<br/>" produced by the caller is kept.
func mermaidText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], "<br/>") {
			b.WriteString("<br/>")
			i += len("<br/>") - 1
			continue
		}
		switch c := s[i]; c {
		case '"':
			b.WriteString("#quot;")
		case '<':
			b.WriteString("#lt;")
		case '>':
			b.WriteString("#gt;")
		case '#':
			b.WriteString("#35;")
		case '\n', '\r':
			b.WriteString(" ")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
