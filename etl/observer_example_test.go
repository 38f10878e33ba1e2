package etl_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/sluice-etl/sluice/etl"
)

// rowsLoaded is a Prometheus-style counter kept without a metrics library: a real program
// would register a prometheus.CounterVec and call Add in the same place.
type rowsLoaded struct{ total, failures atomic.Int64 }

func (c *rowsLoaded) Observe(_ context.Context, e etl.Event) {
	switch e.Kind {
	case etl.EventComplete:
		c.total.Add(e.Stats.RowsWritten)
	case etl.EventFail:
		c.failures.Add(1)
	}
}

// String prints the counters in Prometheus' text exposition format.
func (c *rowsLoaded) String() string {
	return fmt.Sprintf("sluice_rows_loaded_total{pipeline=\"names\"} %d\nsluice_run_failures_total{pipeline=\"names\"} %d",
		c.total.Load(), c.failures.Load())
}

// A metrics counter is an Observer like any other. An unobserved run pays nothing.
func Example_metricsObserver() {
	schema := etl.Schema{{Name: "name", Type: etl.TypeText}}
	metrics := &rowsLoaded{}
	p := &etl.Pipeline{
		Name: "names",
		Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(schema, []etl.Row{{"Adaleigh"}, {"Amryn"}, {"Apurva"}}), nil
		}),
		Sink: etl.LoadFunc(func(_ context.Context, _ *etl.Run, in etl.Stream) (etl.LoadResult, error) {
			var n int64
			for _, err := range in.Rows {
				if err != nil {
					return etl.LoadResult{}, err
				}
				n++
			}
			return etl.LoadResult{RowsWritten: n}, nil
		}),
		Observer: metrics,
	}
	if _, err := p.Run(context.Background(), etl.Window{}); err != nil {
		fmt.Println(err)
	}
	fmt.Println(metrics)
	// Output:
	// sluice_rows_loaded_total{pipeline="names"} 3
	// sluice_run_failures_total{pipeline="names"} 0
}

// LogObserver logs each event with typed attributes.
func ExampleLogObserver() {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "run_id", "duration":
				return slog.Attr{}
			}
			return a
		},
	}))
	p := &etl.Pipeline{
		Name: "names",
		Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(etl.Schema{{Name: "name"}}, []etl.Row{{"Adaleigh"}}), nil
		}),
		Sink: etl.LoadFunc(func(_ context.Context, _ *etl.Run, in etl.Stream) (etl.LoadResult, error) {
			for range in.Rows {
			}
			return etl.LoadResult{RowsWritten: 1}, nil
		}),
		Observer: etl.LogObserver(logger),
	}
	_, _ = p.Run(context.Background(), etl.Window{})
	fmt.Print(strings.ReplaceAll(buf.String(), "  ", " "))
	// Output:
	// level=INFO msg="run started" pipeline=names window=all
	// level=INFO msg="run finished" pipeline=names rows_read=1 rows_written=1
}
