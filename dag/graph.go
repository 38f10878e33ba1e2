package dag

import (
	"fmt"
	"io"
	"strings"
)

// Mermaid renders the DAG as a Mermaid flowchart, tasks in topological order.
func (d *DAG) Mermaid() (string, error) {
	g, err := d.build()
	if err != nil {
		return "", err
	}
	nodes, edges := g.layout()
	var b strings.Builder
	writeMermaid(&b, nodes, edges)
	return b.String(), nil
}

// layout lists the tasks in topological order and the edges between those positions.
func (g *graph) layout() ([]mermaidNode, [][2]int) {
	pos := make([]int, len(g.tasks))
	nodes := make([]mermaidNode, len(g.order))
	for k, i := range g.order {
		pos[i] = k
		nodes[k] = mermaidNode{label: g.tasks[i].name}
	}
	var edges [][2]int
	for _, i := range g.order {
		for _, c := range g.down[i] {
			edges = append(edges, [2]int{pos[i], pos[c]})
		}
	}
	return nodes, edges
}

// DOT renders the DAG in Graphviz DOT, tasks in topological order.
func (d *DAG) DOT() (string, error) {
	g, err := d.build()
	if err != nil {
		return "", err
	}
	nodes, edges := g.layout()
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n  rankdir=LR;\n  node [shape=box];\n", dotQuote(d.name))
	for _, n := range nodes {
		fmt.Fprintf(&b, "  %s;\n", dotQuote(n.label))
	}
	for _, e := range edges {
		fmt.Fprintf(&b, "  %s -> %s;\n", dotQuote(nodes[e[0]].label), dotQuote(nodes[e[1]].label))
	}
	b.WriteString("}\n")
	return b.String(), nil
}

// dotQuote returns s as a DOT quoted ID.
func dotQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// WriteMarkdown writes a Markdown page documenting the DAG: its owner and description,
// then each task's owner, description, schedule hint, inputs, outputs and checks, and the
// Mermaid graph.
func (d *DAG) WriteMarkdown(w io.Writer) error {
	g, err := d.build()
	if err != nil {
		return err
	}
	var b strings.Builder
	m := d.cfg.Meta
	fmt.Fprintf(&b, "# %s\n\n", d.name)
	if m.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", m.Description)
	}
	if m.Owner != "" {
		fmt.Fprintf(&b, "- **Owner:** %s\n", m.Owner)
	}
	sched := m.Schedule
	if sched == "" && d.cfg.Every > 0 {
		sched = "every " + d.cfg.Every.String()
	}
	if sched != "" {
		fmt.Fprintf(&b, "- **Schedule:** %s\n", sched)
	}
	fmt.Fprintf(&b, "- **Tasks:** %d\n\n## Graph\n\n```mermaid\n", len(g.tasks))
	nodes, edges := g.layout()
	writeMermaid(&b, nodes, edges)
	b.WriteString("```\n\n## Tasks\n")
	for _, i := range g.order {
		t := g.tasks[i]
		tm := t.meta
		fmt.Fprintf(&b, "\n### %s\n\n", t.name)
		if tm.Description != "" {
			fmt.Fprintf(&b, "%s\n\n", tm.Description)
		}
		item := func(k, v string) {
			if v == "" {
				v = "-"
			}
			fmt.Fprintf(&b, "- **%s:** %s\n", k, v)
		}
		item("Owner", tm.Owner)
		item("Schedule", tm.Schedule)
		var up []string
		for _, u := range g.up[i] {
			up = append(up, g.tasks[u].name)
		}
		item("After", strings.Join(up, ", "))
		if t.rule() != AllSuccess {
			item("Trigger", string(t.rule()))
		}
		var ins, outs []string
		for _, ds := range tm.Inputs {
			ins = append(ins, "`"+ds.String()+"`")
		}
		for _, ds := range tm.Outputs {
			outs = append(outs, "`"+ds.String()+"`")
		}
		item("Inputs", strings.Join(ins, ", "))
		item("Outputs", strings.Join(outs, ", "))
		if len(tm.Tags) > 0 {
			item("Tags", strings.Join(tm.Tags, ", "))
		}
		if len(t.checks) == 0 {
			item("Checks", "")
		} else {
			b.WriteString("- **Checks:**\n")
			for _, c := range t.checks {
				fmt.Fprintf(&b, "  - %s\n", c)
			}
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}
