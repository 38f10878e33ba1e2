// Command fanout is a DAG with a fan-out, run through dag.Main: extract reads a day of
// orders, then transform_a (an etl.Pipeline keeping the large orders) and transform_b (a
// per-region summary) run in parallel on what it read.
//
//	go run ./examples/fanout run --logical-date 2026-01-05
//	go run ./examples/fanout backfill --from 2026-01-01 --to 2026-01-31 --parallel 4
//	go run ./examples/fanout graph
//	go run ./examples/fanout describe
//
// With no store configured, history lives in memory and ends with the process. Give a
// PostgreSQL connection string in --store or SLUICE_DAG_STORE to keep history (for
// resumed backfills and `history`) and to guard against overlapping cron runs.
//
// Environment knobs for demonstrations and tests:
//
//	FANOUT_OUT       directory to write the outputs to as CSV (default: count only)
//	FANOUT_FAIL_ON   a date (YYYY-MM-DD) whose window's extract fails, as a broken source would
//	FANOUT_HOLD      when set, extract waits until standard input closes or the run is
//	                 cancelled (SIGTERM, or the task's one-minute timeout)
//	SLUICE_DAG_SCHEMA  schema for the PostgreSQL history (default "sluice")
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/etl"
)

// orderSchema is the shape extract produces.
var orderSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64},
	{Name: "placed", Type: etl.TypeTimestamp},
	{Name: "region", Type: etl.TypeText},
	{Name: "amount_cents", Type: etl.TypeInt64},
}

// orders carries extract's rows to both branches.
var orders = dag.NewOutput[[]etl.Row]("orders")

var regions = []string{"north", "south", "west"}

func main() {
	dag.Main(build())
}

func build() *dag.DAG {
	d := dag.New("fanout", dag.Config{
		Every:       24 * time.Hour,
		Concurrency: 2,
		Retries:     1,
		RetryDelay:  100 * time.Millisecond,
		Meta: etl.Meta{
			Owner:       "sales-ops@example.com",
			Description: "Daily orders, split into large orders and a per-region summary.",
			Schedule:    "daily 02:00 UTC, for the previous day",
		},
		OpenStore: func(ctx context.Context, dsn string) (dag.Store, error) {
			schema := os.Getenv("SLUICE_DAG_SCHEMA")
			return pgstore.OpenConfig(ctx, dsn, pgstore.Config{Schema: schema})
		},
	})

	d.Task("extract", extract).
		Timeout(time.Minute).
		Doc(etl.Meta{
			Owner:       "data-eng@example.com",
			Description: "Reads the window's orders from the shop's order feed.",
			Schedule:    "daily",
			Inputs:      []etl.Dataset{{Namespace: "https://shop.example.com", Name: "api/orders"}},
		}).
		Checks("at least one order per day")

	d.Pipeline(&etl.Pipeline{
		Name: "transform_a",
		Meta: etl.Meta{
			Owner:       "finance@example.com",
			Description: "Orders of 5.00 or more, for the fraud review.",
			Outputs:     []etl.Dataset{{Namespace: "file://", Name: "large_orders_<day>.csv"}},
		},
		Source:     etl.ExtractFunc(fromUpstream),
		Transforms: []etl.Transformer{etl.Filter(func(r etl.Row) bool { return r[3].(int64) >= 500 })},
		Sink:       etl.LoadFunc(writeLarge),
		AllowEmpty: true,
	}).After("extract").Checks("rows written = rows read - rows filtered")

	d.Task("transform_b", summarise).After("extract").
		Doc(etl.Meta{
			Owner:       "sales-ops@example.com",
			Description: "Order count and total per region.",
			Outputs:     []etl.Dataset{{Namespace: "file://", Name: "region_totals_<day>.csv"}},
		}).
		Checks("one row per region", "totals add up to the day's total")
	return d
}

// extract makes a deterministic day of orders: one an hour, as a stand-in for an API.
func extract(ctx context.Context, r *dag.Run) error {
	w := r.Window
	if w.IsZero() { // "all data": the example's data is a single day
		w.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		w.End = w.Start.AddDate(0, 0, 1)
	}
	if day := os.Getenv("FANOUT_FAIL_ON"); day != "" && w.Start.Format(time.DateOnly) == day {
		return etl.WithStep("extract", fmt.Errorf("order feed returned HTTP 502 for %s", day))
	}
	if os.Getenv("FANOUT_HOLD") != "" {
		r.Log().Info("holding until stdin closes")
		if err := stdinClosed(ctx); err != nil {
			return err
		}
	}
	var rows []etl.Row
	for t := w.Start; t.Before(w.End); t = t.Add(time.Hour) {
		h := t.Unix() / 3600
		rows = append(rows, etl.Row{h, t, regions[h%3], 100 + (h*37)%1000})
	}
	if len(rows) == 0 {
		return errors.New("no orders in the window")
	}
	orders.Set(r, rows)
	r.AddRows(int64(len(rows)))
	r.AddChecks(etl.CheckResult{Name: "row_count(>0)", Severity: etl.SeverityError, Passed: true,
		Expected: "> 0", Found: strconv.Itoa(len(rows))})
	return ctx.Err()
}

// stdinClosed waits until standard input closes, or ctx ends: the hold still obeys the
// task's timeout and SIGTERM. On ctx's end the reading goroutine is left to the process's
// exit, since a read on stdin cannot be interrupted.
func stdinClosed(ctx context.Context) error {
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(closed)
	}()
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fromUpstream is transform_a's source: the rows extract passed on.
func fromUpstream(ctx context.Context, run *etl.Run) (etl.Stream, error) {
	r, ok := dag.FromContext(ctx)
	if !ok {
		return etl.Stream{}, errors.New("transform_a runs inside the fanout DAG only")
	}
	rows, err := orders.Must(r)
	if err != nil {
		return etl.Stream{}, err
	}
	return etl.SliceStream(orderSchema, rows), nil
}

func writeLarge(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	var n int64
	err := writeCSV(fmt.Sprintf("large_orders_%s.csv", day(run.Window)), func(w *csv.Writer) error {
		if err := w.Write([]string{"id", "placed", "region", "amount_cents"}); err != nil {
			return err
		}
		for row, err := range in.Rows {
			if err != nil {
				return err
			}
			n++
			if err := w.Write([]string{fmt.Sprint(row[0]), row[1].(time.Time).Format(time.RFC3339), row[2].(string), fmt.Sprint(row[3])}); err != nil {
				return err
			}
		}
		return nil
	})
	return etl.LoadResult{RowsWritten: n}, err
}

func summarise(ctx context.Context, r *dag.Run) error {
	rows, err := orders.Must(r)
	if err != nil {
		return err
	}
	count := map[string]int64{}
	total := map[string]int64{}
	var all int64
	for _, row := range rows {
		region, cents := row[2].(string), row[3].(int64)
		count[region]++
		total[region] += cents
		all += cents
	}
	var sum int64
	for _, v := range total {
		sum += v
	}
	r.AddChecks(etl.CheckResult{Name: "totals_add_up", Severity: etl.SeverityError, Passed: sum == all,
		Expected: fmt.Sprint(all), Found: fmt.Sprint(sum)})
	if sum != all {
		return fmt.Errorf("region totals add up to %d, want %d", sum, all)
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	r.AddRows(int64(len(keys)))
	return writeCSV(fmt.Sprintf("region_totals_%s.csv", day(r.Window)), func(w *csv.Writer) error {
		if err := w.Write([]string{"region", "orders", "total_cents"}); err != nil {
			return err
		}
		for _, k := range keys {
			if err := w.Write([]string{k, fmt.Sprint(count[k]), fmt.Sprint(total[k])}); err != nil {
				return err
			}
		}
		return nil
	})
}

func day(w etl.Window) string {
	if w.IsZero() {
		return "all"
	}
	return w.Start.UTC().Format(time.DateOnly)
}

// writeCSV writes a file in FANOUT_OUT atomically (a temporary file renamed into place),
// so a re-run replaces it whole. Without FANOUT_OUT it writes nowhere.
func writeCSV(name string, fill func(*csv.Writer) error) error {
	dir := os.Getenv("FANOUT_OUT")
	if dir == "" {
		return fill(csv.NewWriter(io.Discard))
	}
	f, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	w := csv.NewWriter(f)
	if err := fill(w); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}
