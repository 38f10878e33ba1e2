package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redact"
)

// Config configures a [Store]. The zero Config is usable.
type Config struct {
	// Schema holds the history table. Defaults to "sluice".
	Schema string
	// Logger receives the store's warnings. Defaults to discarding them.
	Logger *slog.Logger
}

// Store is a [dag.Store] in PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	log    *slog.Logger
	owned  bool // Close closes the pool

	mu    sync.Mutex
	ready bool
}

var (
	_ dag.Store       = (*Store)(nil)
	_ dag.Pruner      = (*Store)(nil)
	_ dag.Watermarker = (*Store)(nil)
)

// New returns a Store on pool. Closing the Store leaves the pool open.
func New(pool *pgxpool.Pool, cfg Config) *Store {
	if cfg.Schema == "" {
		cfg.Schema = "sluice"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, schema: cfg.Schema, log: cfg.Logger}
}

// Open connects to dsn and returns a Store in the default schema, which Close
// disconnects. Its signature fits [dag.Config.OpenStore].
func Open(ctx context.Context, dsn string) (dag.Store, error) {
	return OpenConfig(ctx, dsn, Config{})
}

// OpenConfig is [Open] with a Config.
func OpenConfig(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect to %s: %w", redact.DSN(dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect to %s: %w", redact.DSN(dsn), err)
	}
	s := New(pool, cfg)
	s.owned = true
	return s, nil
}

// Close closes the pool if the Store opened it.
func (s *Store) Close() error {
	if s.owned {
		s.pool.Close()
	}
	return nil
}

// Pool returns the pool the Store uses, for code that keeps its own tables beside the
// history, such as package dag/riverexec's queue.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema that holds the history table.
func (s *Store) Schema() string { return s.schema }

func (s *Store) table() string {
	return pgx.Identifier{s.schema, "dag_runs"}.Sanitize()
}

// ensure creates the schema and table once. DDL runs under a transaction-level advisory
// lock, because concurrent CREATE ... IF NOT EXISTS can still collide in the catalog.
func (s *Store) ensure(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	ddl := []string{
		`SELECT pg_advisory_xact_lock(hashtextextended('sluice.pgstore.ddl', 0))`,
		`CREATE SCHEMA IF NOT EXISTS ` + pgx.Identifier{s.schema}.Sanitize(),
		`CREATE TABLE IF NOT EXISTS ` + s.table() + ` (
			run_id       text PRIMARY KEY,
			dag          text NOT NULL,
			window_start timestamptz,
			window_end   timestamptz,
			status       text NOT NULL,
			started      timestamptz NOT NULL,
			finished     timestamptz,
			report       jsonb NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS dag_runs_dag_started ON ` + s.table() + ` (dag, started DESC)`,
		`CREATE INDEX IF NOT EXISTS dag_runs_dag_window ON ` + s.table() + ` (dag, window_start)`,
		// For Watermark: the latest successful window end is one index probe.
		`CREATE INDEX IF NOT EXISTS dag_runs_dag_success_end ON ` + s.table() + ` (dag, window_end) WHERE status = 'success'`,
	}
	for _, q := range ddl {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("pgstore: create %s: %w", s.table(), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: create %s: %w", s.table(), err)
	}
	s.ready = true
	return nil
}

// Lock takes the DAG's advisory lock without waiting; see the package documentation.
func (s *Store) Lock(ctx context.Context, dagName string) (func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: lock dag %q: %w", dagName, err)
	}
	key := "sluice.dag:" + s.schema + ":" + dagName
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&got); err != nil {
		conn.Release()
		return nil, fmt.Errorf("pgstore: lock dag %q: %w", dagName, err)
	}
	if !got {
		conn.Release()
		return nil, fmt.Errorf("pgstore: dag %q: %w", dagName, etl.ErrLocked)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
				// The lock goes with the session: drop the connection rather than return
				// it to the pool still holding the lock.
				s.log.Warn("pgstore: unlock failed; closing the connection", slog.String("dag", dagName), slog.Any("error", err))
				_ = conn.Conn().Close(ctx)
			}
			conn.Release()
		})
	}, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// SaveRun inserts or replaces the run's record.
func (s *Store) SaveRun(ctx context.Context, rep *dag.Report) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("pgstore: encode run %s: %w", rep.RunID, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO `+s.table()+`
		(run_id, dag, window_start, window_end, status, started, finished, report)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (run_id) DO UPDATE SET
			dag = EXCLUDED.dag, window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,
			status = EXCLUDED.status, started = EXCLUDED.started, finished = EXCLUDED.finished,
			report = EXCLUDED.report`,
		rep.RunID, rep.DAG, nullTime(rep.Window.Start), nullTime(rep.Window.End), string(rep.Status),
		rep.Started, nullTime(rep.Finished), body)
	if err != nil {
		return fmt.Errorf("pgstore: save run %s in %s: %w", rep.RunID, s.table(), err)
	}
	return nil
}

// Runs returns the runs matching q, newest first.
func (s *Store) Runs(ctx context.Context, q dag.Query) ([]*dag.Report, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	// The WHERE clause is assembled from fixed fragments; every value is bound.
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.DAG != "" {
		where = append(where, "dag = "+arg(q.DAG))
	}
	if !q.From.IsZero() {
		where = append(where, "window_start >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "window_start < "+arg(q.To))
	}
	switch {
	case q.Task != "" && q.Failed:
		where = append(where, "report->'tasks' @> "+arg(taskFilter(q.Task, dag.StatusFailed)))
	case q.Task != "":
		where = append(where, "report->'tasks' @> "+arg(taskFilter(q.Task, "")))
	case q.Failed:
		where = append(where, "status = "+arg(string(dag.StatusFailed)))
	}
	sql := `SELECT report FROM ` + s.table()
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY started DESC, run_id"
	if m := q.MaxResults(); m >= 0 {
		sql += " LIMIT " + arg(m)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("pgstore: query %s: %w", s.table(), err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*dag.Report, error) {
		var body []byte
		if err := row.Scan(&body); err != nil {
			return nil, err
		}
		return decode(body)
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: read %s: %w", s.table(), err)
	}
	return out, nil
}

func taskFilter(name string, status dag.Status) string {
	m := map[string]string{"name": name}
	if status != "" {
		m["status"] = string(status)
	}
	b, _ := json.Marshal([]map[string]string{m})
	return string(b)
}

func decode(body []byte) (*dag.Report, error) {
	var rep dag.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		return nil, fmt.Errorf("decode run record: %w", err)
	}
	return &rep, nil
}

// LoadRun returns one run, or an error wrapping [dag.ErrRunNotFound].
func (s *Store) LoadRun(ctx context.Context, runID string) (*dag.Report, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	var body []byte
	err := s.pool.QueryRow(ctx, `SELECT report FROM `+s.table()+` WHERE run_id = $1`, runID).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: run %q: %w", runID, dag.ErrRunNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: load run %q from %s: %w", runID, s.table(), err)
	}
	rep, err := decode(body)
	if err != nil {
		return nil, fmt.Errorf("pgstore: run %q: %w", runID, err)
	}
	return rep, nil
}

// Prune deletes the DAG's finished runs that started before before, but for the one that
// sets its watermark; see [dag.Pruner].
func (s *Store) Prune(ctx context.Context, dagName string, before time.Time) (int64, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	// IS DISTINCT FROM, because the subquery is NULL when the DAG has no successful window.
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+s.table()+` WHERE dag = $1 AND started < $2 AND status <> $3
		AND run_id IS DISTINCT FROM (
			SELECT run_id FROM `+s.table()+` WHERE dag = $1 AND status = 'success' AND window_end IS NOT NULL
			ORDER BY window_end DESC, started DESC LIMIT 1)`,
		dagName, before, string(dag.StatusRunning))
	if err != nil {
		return 0, fmt.Errorf("pgstore: prune %s: %w", s.table(), err)
	}
	return tag.RowsAffected(), nil
}

// Watermark returns the latest window end among the DAG's successful runs, read with one
// aggregate rather than the whole history; see [dag.Watermarker].
func (s *Store) Watermark(ctx context.Context, dagName string) (time.Time, error) {
	if err := s.ensure(ctx); err != nil {
		return time.Time{}, err
	}
	// The status is written out, not bound, so that the planner matches the partial index
	// dag_runs_dag_success_end even with a cached generic plan.
	var end *time.Time
	err := s.pool.QueryRow(ctx, `SELECT max(window_end) FROM `+s.table()+` WHERE dag = $1 AND status = 'success'`,
		dagName).Scan(&end)
	if err != nil {
		return time.Time{}, fmt.Errorf("pgstore: watermark of dag %q in %s: %w", dagName, s.table(), err)
	}
	if end == nil {
		return time.Time{}, nil
	}
	return end.UTC(), nil
}

// Execer returns a [dag.Execer] on pool, for [dag.SQL] tasks.
func Execer(pool *pgxpool.Pool) dag.Execer {
	return dag.ExecFunc(func(ctx context.Context, sql string, args ...any) (int64, error) {
		tag, err := pool.Exec(ctx, sql, args...)
		if err != nil {
			return 0, err
		}
		return tag.RowsAffected(), nil
	})
}
