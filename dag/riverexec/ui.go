package riverexec

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"riverqueue.com/riverui"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

// UIPrefix is where [Executor.Handler] mounts river's own UI; the DAG's page is at "/".
const UIPrefix = "/river"

// Handler returns the operator UI: river's UI (riverqueue.com/riverui: queues, jobs,
// their errors) under [UIPrefix], and at "/" a read-only page of d's runs, each with its
// tasks, their states (live while the run goes on), every attempt and the worker that
// ran it, and the run drawn as a Mermaid graph. It serves no control: nothing on the
// page changes a run. Put it behind your own authentication before exposing it beyond
// the local machine.
func (e *Executor) Handler(ctx context.Context, d *dag.DAG) (http.Handler, error) {
	if err := e.checkReady(ctx); err != nil {
		return nil, err
	}
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(e.client, nil),
		Logger:    e.log,
		Prefix:    UIPrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("riverexec: river UI: %w", err)
	}
	if err := ui.Start(ctx); err != nil {
		return nil, fmt.Errorf("riverexec: river UI: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(UIPrefix+"/", ui)
	page := func(w http.ResponseWriter, r *http.Request) { e.servePage(w, r, d, r.PathValue("id")) }
	mux.HandleFunc("GET /{$}", page)
	mux.HandleFunc("GET /runs/{id}", page)
	return mux, nil
}

// attemptRow is one attempt as the page shows it.
type attemptRow struct {
	Task     string
	Attempt  int
	Status   string
	Worker   string
	Started  string
	Duration string
	Error    string
}

// defaultMermaidURL is the default of Config.MermaidURL: Mermaid's self-contained build
// at an exact version, so that its bytes never change under mermaidIntegrity. jsDelivr
// serves the npm package's files as published.
const defaultMermaidURL = "https://cdn.jsdelivr.net/npm/mermaid@11.17.2/dist/mermaid.min.js"

// mermaidIntegrity is the Subresource Integrity of defaultMermaidURL: the SHA-384 of
// dist/mermaid.min.js in the npm package mermaid@11.17.2 (from `npm pack mermaid@11.17.2`,
// whose tarball matches the registry's sha512). A browser refuses the script when the
// CDN serves anything else. Change both together.
const mermaidIntegrity = "sha384-EOXBFmc3gx5mb+vn0vPvvGqACToJD24hhacX5Yx+8NUUQrHIle/Qi5Bg9o3zKwW2"

type pageData struct {
	DAG        string
	Meta       etl.Meta
	RiverUI    string
	Runs       []*dag.Report
	Run        *dag.Report
	Tasks      []taskRow
	Attempts   []attemptRow
	Graph      string
	MermaidURL string
	// MermaidIntegrity holds the script tag's integrity and crossorigin attributes, for
	// the default URL only: trusted text, so that the hash goes out as written rather
	// than with its "+" escaped.
	MermaidIntegrity template.HTMLAttr
	Refresh          bool
	Error            string
}

// setMermaid sets the script that draws the graph: none for "-", and the integrity of
// the default one.
func (p *pageData) setMermaid(url string) {
	switch url {
	case "-":
		return
	case defaultMermaidURL:
		p.MermaidIntegrity = template.HTMLAttr(`integrity="` + mermaidIntegrity + `" crossorigin="anonymous"`)
	}
	p.MermaidURL = url
}

type taskRow struct {
	dag.TaskReport
	Worker string
}

func (e *Executor) servePage(w http.ResponseWriter, r *http.Request, d *dag.DAG, runID string) {
	ctx := r.Context()
	data := pageData{DAG: d.Name(), Meta: d.Meta(), RiverUI: UIPrefix + "/"}
	data.setMermaid(e.cfg.MermaidURL)
	// Set before WriteHeader, which sends the header as it stands.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := e.loadPage(ctx, d, runID, &data); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, dag.ErrRunNotFound) {
			status = http.StatusNotFound
		}
		e.log.Warn("riverexec: UI page", slog.String("run", runID), slog.Any("error", err))
		w.WriteHeader(status)
		data.Error = err.Error()
	}
	if err := pageTemplate.Execute(w, data); err != nil {
		e.log.Warn("riverexec: render UI page", slog.Any("error", err))
	}
}

func (e *Executor) loadPage(ctx context.Context, d *dag.DAG, runID string, data *pageData) error {
	runs, err := e.store.Runs(ctx, dag.Query{DAG: d.Name(), Limit: 20})
	if err != nil {
		return err
	}
	data.Runs = runs
	switch {
	case runID != "":
		if data.Run, err = e.store.LoadRun(ctx, runID); err != nil {
			return err
		}
	case len(runs) > 0:
		data.Run = runs[0]
	default:
		data.Graph, err = d.Mermaid()
		return err
	}
	rows, err := e.pool.Query(ctx, `SELECT task, attempt, status, coalesce(worker, ''), started, finished, coalesce(error, '')
		FROM `+e.table()+` WHERE run_id = $1 ORDER BY started NULLS LAST, task, attempt`, data.Run.RunID)
	if err != nil {
		return err
	}
	defer rows.Close()
	latest := map[string]attemptRow{}
	for rows.Next() {
		var a attemptRow
		var started, finished *time.Time
		if err := rows.Scan(&a.Task, &a.Attempt, &a.Status, &a.Worker, &started, &finished, &a.Error); err != nil {
			return err
		}
		if started != nil {
			a.Started = started.UTC().Format(time.RFC3339)
			if finished != nil {
				a.Duration = finished.Sub(*started).Round(time.Millisecond).String()
			}
		}
		data.Attempts = append(data.Attempts, a)
		if a.Attempt >= latest[a.Task].Attempt {
			latest[a.Task] = a
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// While a run goes on its saved report has every task pending: show what the
	// attempts table knows.
	live := *data.Run
	live.Tasks = append([]dag.TaskReport(nil), data.Run.Tasks...)
	for i, t := range live.Tasks {
		a, ok := latest[t.Name]
		if ok && t.Status == dag.StatusPending && (a.Status == "running" || a.Status == "queued") {
			live.Tasks[i].Status = dag.Status(a.Status)
			live.Tasks[i].Attempts = a.Attempt
		}
		data.Tasks = append(data.Tasks, taskRow{TaskReport: live.Tasks[i], Worker: a.Worker})
	}
	data.Graph = live.Mermaid()
	data.Refresh = data.Run.Status == dag.StatusRunning
	return nil
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"since": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"dur": func(d time.Duration) string {
		if d < time.Second {
			return d.Round(time.Microsecond).String()
		}
		return d.Round(time.Millisecond).String()
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.DAG}} · sluice</title>
{{if .Refresh}}<meta http-equiv="refresh" content="5">{{end}}
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.success { background: #c8e6c9; } .failed, .lost { background: #ffcdd2; }
.upstream_failed { background: #ffe0b2; } .skipped { background: #eeeeee; }
.running, .queued { background: #bbdefb; }
pre.err { white-space: pre-wrap; margin: 0; max-width: 60rem; }
</style>
</head>
<body>
<h1>DAG <span id="dag-name">{{.DAG}}</span></h1>
{{with .Meta}}{{if or .Description .Owner}}<p>{{.Description}}{{if .Owner}} · owner {{.Owner}}{{end}}</p>{{end}}{{end}}
<p><a href="{{.RiverUI}}">Queues and jobs (river UI)</a></p>
{{if .Error}}<p id="error" class="failed">{{.Error}}</p>{{end}}
{{with .Run}}
<h2>Run <span id="run-id">{{.RunID}}</span>: <span id="run-status" class="{{.Status}}">{{.Status}}</span></h2>
<p>Window {{.Window}} · started {{since .Started}} · {{dur .Duration}}{{if .Error}} · {{.Error}}{{end}}</p>
{{end}}
{{if .Tasks}}
<table id="tasks">
<thead><tr><th>Task</th><th>Status</th><th>Attempts</th><th>Worker</th><th>Duration</th><th>Rows</th><th>Error</th></tr></thead>
<tbody>
{{range .Tasks}}<tr data-task="{{.Name}}" data-status="{{.Status}}"><td>{{.Name}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Attempts}}</td><td>{{.Worker}}</td><td>{{dur .Duration}}</td><td>{{.Rows}}</td><td><pre class="err">{{.Error}}</pre></td></tr>
{{end}}</tbody>
</table>
{{end}}
<h2>Graph</h2>
<pre class="mermaid" id="graph">{{.Graph}}</pre>
{{if .Attempts}}
<h2>Attempts</h2>
<table id="attempts">
<thead><tr><th>Task</th><th>Attempt</th><th>Status</th><th>Worker</th><th>Started</th><th>Duration</th><th>Error</th></tr></thead>
<tbody>
{{range .Attempts}}<tr><td>{{.Task}}</td><td>{{.Attempt}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Worker}}</td><td>{{.Started}}</td><td>{{.Duration}}</td><td><pre class="err">{{.Error}}</pre></td></tr>
{{end}}</tbody>
</table>
{{end}}
<h2>Recent runs</h2>
{{if .Runs}}<table id="runs">
<thead><tr><th>Run</th><th>Started</th><th>Status</th><th>Window</th><th>Duration</th></tr></thead>
<tbody>
{{range .Runs}}<tr><td><a href="/runs/{{.RunID}}">{{.RunID}}</a></td><td>{{since .Started}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Window}}</td><td>{{dur .Duration}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p>No runs yet.</p>{{end}}
{{if .MermaidURL}}<script src="{{.MermaidURL}}"{{with .MermaidIntegrity}} {{.}}{{end}}></script>
<script>if (window.mermaid) mermaid.initialize({ startOnLoad: true });</script>{{end}}
</body>
</html>
`))
