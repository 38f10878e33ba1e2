package riverexec_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/dag/riverexec"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

func TestSmoke(t *testing.T) {
	db := pgtest.New(t)
	store := pgstore.New(db.Pool, pgstore.Config{Schema: db.Schema})
	e, err := riverexec.New(store, riverexec.Config{CheckInterval: 100 * time.Millisecond})
	require.NoError(t, err)
	defer e.Close()
	ctx := context.Background()
	var out bytes.Buffer
	require.NoError(t, e.Migrate(ctx, &out))
	t.Log(out.String())
	d := dag.New("smoke", dag.Config{Executor: e, Store: store, Retries: 1, RetryDelay: time.Millisecond})
	d.Task("a", func(ctx context.Context, r *dag.Run) error { r.AddRows(3); return nil })
	d.Task("b", func(ctx context.Context, r *dag.Run) error {
		if r.Attempt == 1 {
			return etl.WithStep("load", errors.New("flaky"))
		}
		return nil
	}).After("a")
	d.Task("c", func(ctx context.Context, r *dag.Run) error { panic("boom") }).After("a").Retries(0)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- e.Work(wctx, d, dag.WorkOptions{}) }()
	t0 := time.Now()
	rep, err := d.Run(ctx, etl.Window{})
	t.Log(time.Since(t0))
	require.Error(t, err)
	var b bytes.Buffer
	rep.WriteDetail(&b)
	t.Log(b.String())
	stop()
	require.NoError(t, <-done)
}

func TestChainLatency(t *testing.T) {
	db := pgtest.New(t)
	store := pgstore.New(db.Pool, pgstore.Config{Schema: db.Schema})
	e, err := riverexec.New(store, riverexec.Config{})
	require.NoError(t, err)
	defer e.Close()
	ctx := context.Background()
	require.NoError(t, e.Migrate(ctx, &bytes.Buffer{}))
	d := dag.New("chain", dag.Config{Executor: e, Store: store})
	prev := ""
	for i := range 100 {
		name := "t" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		tk := d.Task(name, func(ctx context.Context, r *dag.Run) error { return nil })
		if prev != "" {
			tk.After(prev)
		}
		prev = name
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- e.Work(wctx, d, dag.WorkOptions{}) }()
	t0 := time.Now()
	_, err = d.Run(ctx, etl.Window{})
	require.NoError(t, err)
	t.Log("per task", time.Since(t0)/100)
	rows, err := db.Pool.Query(ctx, `SELECT extract(epoch from j.attempted_at - j.created_at)*1000, extract(epoch from a.started - j.attempted_at)*1000,
	  extract(epoch from a.finished - a.started)*1000, extract(epoch from lead(j.created_at) over (order by j.id) - a.finished)*1000
	  FROM river_job j JOIN dag_attempts a ON a.job_id = j.id ORDER BY j.id LIMIT 10`)
	require.NoError(t, err)
	for rows.Next() {
		var a, b, c float64
		var dd *float64
		require.NoError(t, rows.Scan(&a, &b, &c, &dd))
		if dd != nil { t.Logf("fetch %.2f lock+start %.2f run %.2f next %.2f", a, b, c, *dd) }
	}
	stop()
	require.NoError(t, <-done)
}
