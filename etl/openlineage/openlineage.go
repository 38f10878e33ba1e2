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

// The URLs the spec asks every event and facet to carry.
const (
	Producer          = "https://github.com/sluice-etl/sluice"
	RunEventSchemaURL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
	schemaFacetURL    = "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
	errorFacetURL     = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
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

// Observe turns START, COMPLETE and FAIL into RunEvents and sends them.
func (e *Emitter) Observe(ctx context.Context, ev etl.Event) {
	ev2, ok := e.Event(ev)
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
func (e *Emitter) Event(ev etl.Event) (RunEvent, bool) {
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
	if ev.Kind == etl.EventFail && ev.Err != nil {
		out.Run.Facets = map[string]any{"errorMessage": ErrorMessageFacet{
			Producer: Producer, SchemaURL: errorFacetURL,
			Message: ev.Err.Error(), ProgrammingLanguage: "go",
		}}
	}
	if r.Meta.Description != "" || r.Meta.Owner != "" {
		out.Job.Facets = map[string]any{}
		if r.Meta.Description != "" {
			out.Job.Facets["documentation"] = map[string]any{
				"_producer": Producer, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DocumentationJobFacet.json#/$defs/DocumentationJobFacet",
				"description": r.Meta.Description,
			}
		}
		if r.Meta.Owner != "" {
			out.Job.Facets["ownership"] = map[string]any{
				"_producer": Producer, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet",
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
