package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/lineage"
	"github.com/sluice-etl/sluice/internal/load"
)

// Target is the table a loader writes and the policies every PostgreSQL loader shares.
// Embed it in [FullRefresh], [Merge] or [WindowReplace].
type Target struct {
	// Pool connects to the database. Required.
	Pool *pgxpool.Pool
	// Schema holds the table. Defaults to the connection's search_path.
	Schema string
	// Table is the target table's name, unquoted; any string is allowed. Required.
	Table string
	// Create creates the table from the stream's schema when it is missing, with Key as
	// its primary key, inside the load's transaction. Defaults to false: a missing table
	// fails the load with an error wrapping etl.ErrNoTable.
	Create bool
	// Key is the table's key: what a merge matches on, what checks.UniqueKey with no
	// columns checks, and the primary key of a created table. Defaults to the table's
	// primary key.
	Key []string
	// Checks run inside the load's transaction, before commit. Defaults to none.
	Checks []checks.Check
	// MetaSchema holds the sluice_runs and sluice_state tables, created on first use.
	// Defaults to Schema.
	MetaSchema string
	// LockWait bounds the wait for another run of the same pipeline to finish. Defaults
	// to 0: a second run fails at once with an error wrapping etl.ErrLocked, which suits
	// overlapping cron runs (the next run catches up).
	LockWait time.Duration
	// LockTimeout bounds each wait for a lock on the table itself (TRUNCATE, the swap's
	// DROP), so a long query on the table cannot stall the load, and the queries queued
	// behind it, indefinitely. A timed-out wait is retried LockRetries times. Defaults to
	// 5s.
	LockTimeout time.Duration
	// LockRetries is how often a timed-out table lock is tried again, with a doubling
	// pause. Defaults to 5.
	LockRetries int
}

func (t *Target) ref() tableRef { return tableRef{Schema: t.Schema, Name: t.Table} }

func (t *Target) validate() error {
	switch {
	case t.Pool == nil:
		return errors.New("postgres: loader has no Pool")
	case t.Table == "":
		return errors.New("postgres: loader has no Table")
	}
	return nil
}

func (t *Target) spec(full bool) load.Spec {
	return load.Spec{
		Schema: t.Schema, Table: t.Table, Key: t.Key, FullRefresh: full, Checks: t.Checks,
		MetaSchema: t.MetaSchema, LockWait: t.LockWait,
	}
}

// loadSpec is spec with the stream's columns and, when Key is unset, the table's primary
// key, read before the load so that checks see it. A table that does not exist yet has
// no key to read.
func (t *Target) loadSpec(ctx context.Context, full bool, in etl.Stream) (load.Spec, error) {
	spec := t.spec(full)
	spec.Columns = in.Schema.Names()
	if len(spec.Key) > 0 {
		return spec, nil
	}
	oid, err := tableOID(ctx, t.Pool, t.ref())
	if err != nil || oid == 0 {
		return spec, err
	}
	if spec.Key, err = primaryKey(ctx, t.Pool, oid); err != nil {
		return spec, fmt.Errorf("read primary key of %s: %w", t.ref(), err)
	}
	return spec, nil
}

// Datasets names the target table for lineage, following OpenLineage's naming for
// PostgreSQL: namespace "postgres://{host}:{port}" and name "{database}.{schema}.{table}".
// The schema is Schema, else the first schema of the pool's search_path, else "public".
// Names are kept as written: the sink quotes them, so PostgreSQL keeps their case.
func (t *Target) Datasets() []etl.Dataset {
	if t.Pool == nil {
		return nil
	}
	cc := t.Pool.Config().ConnConfig
	schema := t.Schema
	if schema == "" {
		schema = lineage.FirstSchema(cc.RuntimeParams["search_path"])
	}
	return []etl.Dataset{{Namespace: lineage.Postgres(cc.Host, cc.Port), Name: cc.Database + "." + schema + "." + t.Table}}
}

// recordFailure writes the failed-run record of a run that never reached Load.
func (t *Target) recordFailure(ctx context.Context, kind string, run *etl.Run, stats etl.Stats, err error) error {
	if verr := t.validate(); verr != nil {
		return verr
	}
	return load.RecordFailure(ctx, t.dialect(), t.spec(false), kind, run, stats, err)
}

// prepared is what every mode learns about the target at the start of its stage.
type prepared struct {
	ref  tableRef
	oid  uint32
	cols []targetColumn
	plan *copyPlan
	key  []string
}

// ensureTable creates the table when it is missing and Create is set, or fails with
// etl.ErrNoTable. Every mode calls it first in the load's transaction (load.Preparer),
// so that what runs before the stage, such as the count of a checks.Shrink, finds the
// table: a first run has nothing to shrink from.
func (t *Target) ensureTable(ctx context.Context, tx pgx.Tx, schema etl.Schema) error {
	if err := schema.Validate(); err != nil {
		return etl.WithStep("stage", err)
	}
	ref := t.ref()
	oid, err := tableOID(ctx, tx, ref)
	if err != nil || oid != 0 {
		return etl.WithStep("stage", err)
	}
	if !t.Create {
		return etl.WithStep("stage", fmt.Errorf("table %s: %w (set Create to make it from the stream's schema)", ref, etl.ErrNoTable))
	}
	if _, err := tx.Exec(ctx, createTableSQL(ref, schema, t.Key)); err != nil {
		return etl.WithStep("stage", fmt.Errorf("create table %s: %w", ref, err))
	}
	return nil
}

// prepare looks the table up, plans the COPY of the stream and settles the key. It runs
// inside the load's transaction, after [Target.ensureTable].
func (t *Target) prepare(ctx context.Context, tx pgx.Tx, schema etl.Schema) (*prepared, error) {
	if err := schema.Validate(); err != nil {
		return nil, err
	}
	ref := t.ref()
	oid, err := tableOID(ctx, tx, ref)
	if err != nil {
		return nil, err
	}
	if oid == 0 {
		return nil, fmt.Errorf("table %s: %w (set Create to make it from the stream's schema)", ref, etl.ErrNoTable)
	}
	// Pin the schema the search_path resolved, so tables made next to it land beside it.
	if err := tx.QueryRow(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = $1`, oid).Scan(&ref.Schema); err != nil {
		return nil, fmt.Errorf("look up table %s: %w", ref, err)
	}
	cols, err := tableColumns(ctx, tx, oid)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", ref, err)
	}
	plan, err := planCopy(ref, schema, cols)
	if err != nil {
		return nil, err
	}
	key := t.Key
	if len(key) == 0 {
		if key, err = primaryKey(ctx, tx, oid); err != nil {
			return nil, fmt.Errorf("read primary key of %s: %w", ref, err)
		}
	}
	return &prepared{ref: ref, oid: oid, cols: cols, plan: plan, key: key}, nil
}

// tableMaker is embedded in every mode: its Prepare makes sure the table exists.
type tableMaker struct {
	t      *Target
	schema etl.Schema
}

// Prepare implements load.Preparer.
func (m tableMaker) Prepare(ctx context.Context, ltx load.Tx, _ *etl.Run) error {
	t, err := asPgTx(ltx)
	if err != nil {
		return err
	}
	return m.t.ensureTable(ctx, t.tx, m.schema)
}

func createTableSQL(ref tableRef, schema etl.Schema, key []string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(ref.sql())
	b.WriteString(" (")
	for i, c := range schema {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.Name))
		b.WriteString(" ")
		b.WriteString(sqlType(c.Type))
		if c.NotNull {
			b.WriteString(" NOT NULL")
		}
	}
	if len(key) > 0 {
		b.WriteString(", PRIMARY KEY (")
		b.WriteString(quoteList(key))
		b.WriteString(")")
	}
	b.WriteString(")")
	return b.String()
}

func primaryKey(ctx context.Context, q querier, oid uint32) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT a.attname FROM pg_index i
		CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord`, oid)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// quoteList quotes names and joins them with ", ".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// runTable returns a per-run name derived from base: base, "__sluice_" and the first
// eight characters of the run ID, cut to PostgreSQL's 63-byte limit on a character
// boundary. Two runs, or two pipelines, never share one.
func runTable(base, runID string) string {
	id := runID
	if len(id) > 8 {
		cut := 8
		for cut > 0 && !utf8RuneStart(id[cut]) {
			cut--
		}
		id = id[:cut]
	}
	suffix := "__sluice_" + id
	max := 63 - len(suffix)
	if len(base) > max {
		cut := max
		for cut > 0 && !utf8RuneStart(base[cut]) {
			cut--
		}
		base = base[:cut]
	}
	return base + suffix
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// withLockRetry runs fn under a savepoint with lock_timeout set, and runs it again after
// a doubling pause when it times out waiting for a lock. The transaction survives a
// timed-out attempt, so the rows already staged are kept.
func (t *Target) withLockRetry(ctx context.Context, tx pgx.Tx, what string, fn func() error) error {
	timeout := t.LockTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	retries := t.LockRetries
	if retries <= 0 {
		retries = 5
	}
	pause := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if _, err := tx.Exec(ctx, "SAVEPOINT sluice_lock"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT set_config('lock_timeout', $1, true)", fmt.Sprint(max(timeout.Milliseconds(), 1))); err != nil {
			return err
		}
		err := fn()
		var pe *pgconn.PgError
		if err == nil {
			_, err = tx.Exec(ctx, "RELEASE SAVEPOINT sluice_lock")
			if err == nil {
				_, err = tx.Exec(ctx, "SET LOCAL lock_timeout TO DEFAULT")
			}
			return err
		}
		if !errors.As(err, &pe) || pe.Code != "55P03" || attempt >= retries {
			return err
		}
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT sluice_lock"); rerr != nil {
			return errors.Join(err, rerr)
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-timer.C:
		}
		pause *= 2
	}
}

func (t *Target) dialect() dialect {
	meta := t.MetaSchema
	if meta == "" {
		meta = t.Schema
	}
	return dialect{pool: t.Pool, meta: meta}
}
