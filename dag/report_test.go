package dag_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

func sampleDAG() *dag.DAG {
	d := dag.New("fan", dag.Config{Every: 24 * time.Hour, Meta: etl.Meta{Owner: "sales-ops", Description: "Orders fan out into two summaries."}})
	d.Task("extract", func(ctx context.Context, r *dag.Run) error { r.AddRows(100); return nil }).
		Doc(etl.Meta{Owner: "data-eng", Description: "Reads orders.", Schedule: "daily 02:00 UTC",
			Inputs: []etl.Dataset{{Namespace: "s3://raw", Name: "orders/"}}}).
		Checks("row count > 0")
	d.Task("a", func(ctx context.Context, r *dag.Run) error { r.AddRows(7); return nil }).After("extract").
		Doc(etl.Meta{Outputs: []etl.Dataset{{Namespace: "postgres://wh:5432", Name: "dw.public.a"}}})
	d.Task(`b "quoted" <x>`, fail("b broke\nsecond line")).After("extract")
	d.Task("done", noop).After("a", `b "quoted" <x>`).Trigger(dag.AllDone)
	return d
}

func TestReportFormats(t *testing.T) {
	t.Parallel()
	d := sampleDAG()
	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	require.Len(t, lines, 6)
	require.Contains(t, lines[0], "dag fan run "+rep.RunID+" window all: failed")
	require.Regexp(t, `^TASK\s+STATUS\s+ATTEMPTS\s+DURATION\s+ROWS\s+ERROR$`, lines[1])
	require.Regexp(t, `^extract\s+success\s+1\s+\S+\s+100\s*$`, lines[2])
	require.Contains(t, table.String(), "b broke ...")
	require.Equal(t, int64(107), rep.Rows())

	body, err := json.Marshal(rep)
	require.NoError(t, err)
	var back dag.Report
	require.NoError(t, json.Unmarshal(body, &back))
	require.Equal(t, rep.Tasks, back.Tasks)
	require.Contains(t, string(body), `"status":"failed"`)

	m := rep.Mermaid()
	require.True(t, strings.HasPrefix(m, "flowchart LR\n"))
	require.Contains(t, m, `t0["extract<br/>success"]:::success`)
	require.Contains(t, m, `["b #quot;quoted#quot; #lt;x#gt;<br/>failed"]:::failed`)
	require.Contains(t, m, "classDef failed fill:#ffcdd2")
	require.Equal(t, 4, strings.Count(m, "-->"))

	var detail bytes.Buffer
	require.NoError(t, rep.WriteDetail(&detail))
	require.Contains(t, detail.String(), "error:    b broke\nsecond line")
	require.Contains(t, detail.String(), "task done: success")
}

func TestGraphs(t *testing.T) {
	t.Parallel()
	d := sampleDAG()
	m, err := d.Mermaid()
	require.NoError(t, err)
	require.Equal(t, `flowchart LR
  t0["extract"]
  t1["a"]
  t2["b #quot;quoted#quot; #lt;x#gt;"]
  t3["done"]
  t0 --> t1
  t0 --> t2
  t1 --> t3
  t2 --> t3
`, m)
	dot, err := d.DOT()
	require.NoError(t, err)
	require.Equal(t, `digraph "fan" {
  rankdir=LR;
  node [shape=box];
  "extract";
  "a";
  "b \"quoted\" <x>";
  "done";
  "extract" -> "a";
  "extract" -> "b \"quoted\" <x>";
  "a" -> "done";
  "b \"quoted\" <x>" -> "done";
}
`, dot)

	bad := dag.New("bad", dag.Config{})
	bad.Task("x", noop).After("x")
	_, err = bad.Mermaid()
	require.ErrorIs(t, err, dag.ErrCycle)
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	require.NoError(t, sampleDAG().WriteMarkdown(&b))
	md := b.String()
	for _, want := range []string{
		"# fan\n\nOrders fan out into two summaries.\n",
		"- **Owner:** sales-ops\n",
		"- **Schedule:** every 24h0m0s\n",
		"```mermaid\nflowchart LR\n",
		"### extract\n\nReads orders.\n\n- **Owner:** data-eng\n- **Schedule:** daily 02:00 UTC\n",
		"- **Inputs:** `s3://raw/orders/`\n",
		"- **Checks:**\n  - row count > 0\n",
		"- **Outputs:** `postgres://wh:5432/dw.public.a`\n",
		"### done\n\n- **Owner:** -\n- **Schedule:** -\n- **After:** a, b \"quoted\" <x>\n- **Trigger:** all_done\n",
	} {
		require.Contains(t, md, want)
	}
}
