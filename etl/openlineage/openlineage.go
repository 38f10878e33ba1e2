package openlineage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// The URLs the spec asks every event and facet to carry. Each facet names the published
// schema it follows; testdata/schemas holds copies, and the tests validate every event
// against them.
const (
	Producer          = "https://github.com/sluice-etl/sluice"
	RunEventSchemaURL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
	schemaFacetURL    = "https://openlineage.io/spec/facets/1-0-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
	errorFacetURL     = "https://openlineage.io/spec/facets/1-0-0/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
	docFacetURL       = "https://openlineage.io/spec/facets/1-0-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet"
	ownerFacetURL     = "https://openlineage.io/spec/facets/1-0-0/OwnershipJobFacet.json#/$defs/OwnershipJobFacet"
	parentFacetURL    = "https://openlineage.io/spec/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet"
	statsFacetURL     = "https://openlineage.io/spec/1-0-1/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"
	qualityFacetURL   = "https://openlineage.io/spec/1-0-1/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet"
)

// RunEvent is an OpenLineage RunEvent.
type RunEvent struct {
	EventType string    `json:"eventType"`
	EventTime string    `json:"eventTime"`
	Run       Run       `json:"run"`
	Job       Job       `json:"job"`
	Inputs    []Dataset `json:"inputs"`
	Outputs   []Dataset `json:"outputs"`
	Producer  string    `json:"producer"`
	SchemaURL string    `json:"schemaURL"`
}

// Run identifies the run.
type Run struct {
	RunID  string         `json:"runId"`
	Facets map[string]any `json:"facets,omitempty"`
}

// Job identifies the job: one sluice pipeline.
type Job struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Facets    map[string]any `json:"facets,omitempty"`
}

// Dataset is an input or output dataset.
type Dataset struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Facets    map[string]any `json:"facets,omitempty"`
	// OutputFacets are an output's facets about this run's writing, such as
	// outputStatistics.
	OutputFacets map[string]any `json:"outputFacets,omitempty"`
}

// ParentFacet is the run facet that links a run to the run that started it, such as a
// DAG task's pipeline run to its DAG run.
type ParentFacet struct {
	Producer  string    `json:"_producer"`
	SchemaURL string    `json:"_schemaURL"`
	Run       ParentRef `json:"run"`
	Job       ParentJob `json:"job"`
}

// ParentRef names the parent run.
type ParentRef struct {
	RunID string `json:"runId"`
}

// ParentJob names the parent job.
type ParentJob struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// OutputStatisticsFacet is the output facet that says how many rows a run wrote.
type OutputStatisticsFacet struct {
	Producer  string `json:"_producer"`
	SchemaURL string `json:"_schemaURL"`
	RowCount  int64  `json:"rowCount"`
}

// DataQualityAssertionsFacet is the dataset facet that lists the checks a run made of
// the dataset and whether each passed.
type DataQualityAssertionsFacet struct {
	Producer   string      `json:"_producer"`
	SchemaURL  string      `json:"_schemaURL"`
	Assertions []Assertion `json:"assertions"`
}

// Assertion is one check of a DataQualityAssertionsFacet.
type Assertion struct {
	// Assertion is the check's name, such as "unique_key(id)".
	Assertion string `json:"assertion"`
	Success   bool   `json:"success"`
}

// SchemaFacet is the dataset schema facet.
type SchemaFacet struct {
	Producer  string        `json:"_producer"`
	SchemaURL string        `json:"_schemaURL"`
	Fields    []SchemaField `json:"fields"`
}

// SchemaField is one column of a SchemaFacet.
type SchemaField struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// ErrorMessageFacet is the run facet a FAIL event carries.
type ErrorMessageFacet struct {
	Producer            string `json:"_producer"`
	SchemaURL           string `json:"_schemaURL"`
	Message             string `json:"message"`
	ProgrammingLanguage string `json:"programmingLanguage"`
}

// Config configures an Emitter.
type Config struct {
	// Namespace is the job namespace. Defaults to "sluice".
	Namespace string
	// Logger receives transport failures. Defaults to discarding them.
	Logger *slog.Logger
	// QueueSize bounds the events waiting for the HTTP transport; more are dropped and
	// logged. Defaults to 256.
	QueueSize int
	// Client sends HTTP events. Defaults to a client with a 10s timeout.
	Client *http.Client
}

// Emitter is an etl.Observer that emits OpenLineage run events.
type Emitter struct {
	cfg  Config
	send func(ctx context.Context, body []byte) error

	queue chan []byte
	wg    sync.WaitGroup
	once  sync.Once

	mu sync.Mutex // serialises writes to a Writer

	checksMu sync.Mutex
	checks   map[string][]etl.CheckResult // by run ID, until the run ends
}

func newEmitter(cfg Config) *Emitter {
	if cfg.Namespace == "" {
		cfg.Namespace = "sluice"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Emitter{cfg: cfg}
}

// NewWriter returns an Emitter that writes each event as one JSON line to w, such as a
// file or os.Stdout. Write errors are logged, never returned to the run.
func NewWriter(w io.Writer, cfg Config) *Emitter {
	e := newEmitter(cfg)
	e.send = func(_ context.Context, body []byte) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		_, err := w.Write(append(body, '\n'))
		return err
	}
	return e
}

// NewHTTP returns an Emitter that POSTs each event as JSON to url, such as Marquez's
// "http://localhost:5000/api/v1/lineage", from a background goroutine.
func NewHTTP(url string, cfg Config) *Emitter {
	e := newEmitter(cfg)
	post := func(ctx context.Context, body []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.cfg.Client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("lineage endpoint %s answered %s", url, resp.Status)
		}
		return nil
	}
	e.queue = make(chan []byte, e.cfg.QueueSize)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for body := range e.queue {
			if err := post(context.Background(), body); err != nil {
				e.cfg.Logger.Warn("openlineage: event not delivered", slog.Any("error", err))
			}
		}
	}()
	e.send = func(_ context.Context, body []byte) error {
		select {
		case e.queue <- body:
			return nil
		default:
			return fmt.Errorf("queue of %d events is full; event dropped", e.cfg.QueueSize)
		}
	}
	return e
}

// Close flushes queued events and stops the HTTP sender. It waits at most until ctx is done.
func (e *Emitter) Close(ctx context.Context) error {
	if e.queue == nil {
		return nil
	}
	e.once.Do(func() { close(e.queue) })
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Observe turns START, COMPLETE and FAIL into RunEvents and sends them. It keeps the
// results of the run's checks until the run ends, for the COMPLETE or FAIL event.
func (e *Emitter) Observe(ctx context.Context, ev etl.Event) {
	if ev.Kind == etl.EventCheck && ev.Check != nil && ev.Run != nil {
		e.checksMu.Lock()
		if e.checks == nil {
			e.checks = map[string][]etl.CheckResult{}
		}
		e.checks[ev.Run.ID] = append(e.checks[ev.Run.ID], *ev.Check)
		e.checksMu.Unlock()
		return
	}
	var results []etl.CheckResult
	if (ev.Kind == etl.EventComplete || ev.Kind == etl.EventFail) && ev.Run != nil {
		e.checksMu.Lock()
		results = e.checks[ev.Run.ID]
		delete(e.checks, ev.Run.ID)
		e.checksMu.Unlock()
	}
	ev2, ok := e.event(ev, results)
	if !ok {
		return
	}
	body, err := json.Marshal(ev2)
	if err != nil {
		e.cfg.Logger.Warn("openlineage: encode event", slog.Any("error", err))
		return
	}
	if err := e.send(ctx, body); err != nil {
		e.cfg.Logger.Warn("openlineage: event not delivered", slog.Any("error", err))
	}
}

// Event builds the RunEvent for ev, and reports false for events that are not lineage.
// Check results are attached by [Emitter.Observe], which sees the run's check events; an
// event built here carries none.
func (e *Emitter) Event(ev etl.Event) (RunEvent, bool) { return e.event(ev, nil) }

func (e *Emitter) event(ev etl.Event, results []etl.CheckResult) (RunEvent, bool) {
	var kind string
	switch ev.Kind {
	case etl.EventStart:
		kind = "START"
	case etl.EventComplete:
		kind = "COMPLETE"
	case etl.EventFail:
		kind = "FAIL"
	default:
		return RunEvent{}, false
	}
	r := ev.Run
	out := RunEvent{
		EventType: kind,
		EventTime: ev.Time.UTC().Format(time.RFC3339Nano),
		Run:       Run{RunID: r.ID},
		Job:       Job{Namespace: e.cfg.Namespace, Name: r.Pipeline},
		Inputs:    datasets(r.Meta.Inputs),
		Outputs:   datasets(r.Meta.Outputs),
		Producer:  Producer,
		SchemaURL: RunEventSchemaURL,
	}
	runFacets := map[string]any{}
	if ev.Kind == etl.EventFail && ev.Err != nil {
		runFacets["errorMessage"] = ErrorMessageFacet{
			Producer: Producer, SchemaURL: errorFacetURL,
			Message: ev.Err.Error(), ProgrammingLanguage: "go",
		}
	}
	if p := r.Parent; p != nil && p.RunID != "" && p.Job != "" {
		ns := p.Namespace
		if ns == "" {
			ns = e.cfg.Namespace
		}
		runFacets["parent"] = ParentFacet{Producer: Producer, SchemaURL: parentFacetURL,
			Run: ParentRef{RunID: p.RunID}, Job: ParentJob{Namespace: ns, Name: p.Job}}
	}
	if len(runFacets) > 0 {
		out.Run.Facets = runFacets
	}
	for i := range out.Outputs {
		if ev.Kind == etl.EventComplete {
			out.Outputs[i].OutputFacets = map[string]any{"outputStatistics": OutputStatisticsFacet{
				Producer: Producer, SchemaURL: statsFacetURL, RowCount: ev.Stats.RowsWritten,
			}}
		}
		if len(results) > 0 {
			f := DataQualityAssertionsFacet{Producer: Producer, SchemaURL: qualityFacetURL}
			for _, c := range results {
				f.Assertions = append(f.Assertions, Assertion{Assertion: c.Name, Success: c.Passed})
			}
			if out.Outputs[i].Facets == nil {
				out.Outputs[i].Facets = map[string]any{}
			}
			out.Outputs[i].Facets["dataQualityAssertions"] = f
		}
	}
	if r.Meta.Description != "" || r.Meta.Owner != "" {
		out.Job.Facets = map[string]any{}
		if r.Meta.Description != "" {
			out.Job.Facets["documentation"] = map[string]any{
				"_producer": Producer, "_schemaURL": docFacetURL,
				"description": r.Meta.Description,
			}
		}
		if r.Meta.Owner != "" {
			out.Job.Facets["ownership"] = map[string]any{
				"_producer": Producer, "_schemaURL": ownerFacetURL,
				"owners": []map[string]string{{"name": r.Meta.Owner}},
			}
		}
	}
	return out, true
}

func datasets(ds []etl.Dataset) []Dataset {
	out := make([]Dataset, 0, len(ds))
	for _, d := range ds {
		o := Dataset{Namespace: d.Namespace, Name: d.Name}
		if len(d.Schema) > 0 {
			f := SchemaFacet{Producer: Producer, SchemaURL: schemaFacetURL}
			for _, c := range d.Schema {
				f.Fields = append(f.Fields, SchemaField{Name: c.Name, Type: c.Type.String()})
			}
			o.Facets = map[string]any{"schema": f}
		}
		out = append(out, o)
	}
	return out
}
