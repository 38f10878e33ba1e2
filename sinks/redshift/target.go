package redshift

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
)

// Target is the table a loader writes and the policies every Redshift loader shares.
// Embed it in [FullRefresh], [Merge] or [WindowReplace].
type Target struct {
	// DSN is the cluster's connection string. Its password never appears in errors or
	// logs. Required unless Connect is set.
	DSN string
	// Connect opens the connection one load runs on. Defaults to [Connect] with DSN.
	// Tests set it to return internal/redshifttest's harness.
	Connect func(ctx context.Context) (DB, error)
	// Staging configures the S3 staging of rows. Staging.Bucket is required.
	Staging StageConfig
	// Schema holds the table. Defaults to the connection's search_path.
	Schema string
	// Table is the target table's name; any string is allowed (Redshift folds it to
	// lower case). The table must exist. Required.
	Table string
	// Key is the table's key: what a merge matches on and what checks.UniqueKey with no
	// columns checks. Redshift does not enforce keys, so add checks.UniqueKey to catch
	// duplicates. Required for Merge; defaults to none.
	Key []string
	// Checks run inside the load's transaction, before commit. Defaults to none.
	Checks []checks.Check
	// MetaSchema holds the sluice_runs and sluice_state tables, created on first use.
	// Defaults to Schema.
	MetaSchema string
	// LockWait bounds the wait for the LOCK on the target, which another load of the same
	// table holds until it commits. Redshift has neither advisory locks nor LOCK NOWAIT, so
	// the bound is a statement_timeout around the LOCK, and a load that runs out of it fails
	// with an error wrapping etl.ErrLocked. Defaults to 0: wait without bound.
	LockWait time.Duration
	// MaxAttempts bounds the attempts of a transaction that fails with a serializable
	// isolation violation (1023); each retry COPYs the same staged files again. Defaults
	// to 4.
	MaxAttempts int
	// RetryBackoff is the pause before the first retry; it doubles with each retry, with
	// jitter. Defaults to 500ms.
	RetryBackoff time.Duration
}

func (t *Target) validate() error {
	switch {
	case t.DSN == "" && t.Connect == nil:
		return errors.New("redshift: loader has no DSN")
	case t.Table == "":
		return errors.New("redshift: loader has no Table")
	case t.Staging.Bucket == "":
		return ErrNoBucket
	}
	return nil
}

func (t *Target) table() Table { return Table{Schema: t.Schema, Name: t.Table} }

func (t *Target) dialect() dialect {
	connect := t.Connect
	if connect == nil {
		dsn := t.DSN
		connect = func(ctx context.Context) (DB, error) { return Connect(ctx, dsn) }
	}
	return dialect{connect: connect}
}

func (t *Target) spec(full bool, in etl.Stream) load.Spec {
	return load.Spec{
		Schema: t.Schema, Table: t.Table, Columns: in.Schema.Names(), Key: t.Key, FullRefresh: full,
		Checks: t.Checks, MetaSchema: t.MetaSchema, MaxAttempts: t.MaxAttempts, RetryBackoff: t.RetryBackoff,
	}
}

// Datasets names the target table for lineage, as "redshift://host:port" and
// "database.schema.table" ("database.table" without a Schema). It returns nil when DSN
// is empty or does not parse, as with a Target that only sets Connect.
func (t *Target) Datasets() []etl.Dataset {
	cfg, err := ConnConfig(t.DSN)
	if err != nil {
		return nil
	}
	name := t.Table
	if t.Schema != "" {
		name = t.Schema + "." + name
	}
	return []etl.Dataset{{Namespace: fmt.Sprintf("redshift://%s:%d", cfg.Host, cfg.Port), Name: cfg.Database + "." + name}}
}

func (t *Target) recordFailure(ctx context.Context, kind string, run *etl.Run, stats etl.Stats, err error) error {
	if verr := t.validate(); verr != nil {
		return verr
	}
	return load.RecordFailure(ctx, t.dialect(), t.spec(false, etl.Stream{}), kind, run, stats, err)
}

func (t *Target) load(ctx context.Context, kind string, full bool, run *etl.Run, in etl.Stream, apply applyFunc, check func(etl.Schema) error) (etl.LoadResult, error) {
	if err := t.validate(); err != nil {
		return etl.LoadResult{}, err
	}
	if err := in.Schema.Validate(); err != nil {
		return etl.LoadResult{}, etl.WithStep("stage", fmt.Errorf("table %s: %w", t.table(), err))
	}
	if check != nil {
		if err := check(in.Schema); err != nil {
			return etl.LoadResult{}, etl.WithStep("stage", fmt.Errorf("table %s: %w", t.table(), err))
		}
	}
	m := &mode{t: t, kind: kind, apply: apply, names: in.Schema.Names(), schema: in.Schema}
	var lm load.Mode = m
	if kind != "merge" {
		// Neither a full refresh nor a window replace depends on the watermark, so their
		// rows go to S3 before the transaction and the LOCK covers only COPY and apply.
		lm = prestaged{m}
	}
	return load.Run(ctx, t.dialect(), t.spec(full, in), lm, run, in)
}

// prestaged is a mode that uploads before the transaction begins.
type prestaged struct{ *mode }

var _ load.Prestager = prestaged{}

// Prestage uploads the stream to S3.
func (p prestaged) Prestage(ctx context.Context, run *etl.Run, in etl.Stream) error {
	return p.upload(ctx, run, in)
}

// seqColumn numbers staged rows in arrival order, so a merge's latest-wins rule is
// deterministic: Redshift loads parts in parallel, so stage order means nothing.
const seqColumn = "__sluice_seq"

type applyFunc func(ctx context.Context, m *mode, tx load.Tx, run *etl.Run) (load.Applied, error)

// mode is what every Redshift load shares: LOCK the target first, stage to S3 once,
// COPY into a temporary stage table on every attempt, apply, drop the stage.
type mode struct {
	t      *Target
	kind   string
	apply  applyFunc
	names  []string
	schema etl.Schema
	staged *Staged
	keep   bool
	stage  string // quoted name of the stage table of this attempt
}

var (
	_ load.Preparer = (*mode)(nil)
	_ load.Replayer = (*mode)(nil)
	_ load.Cleaner  = (*mode)(nil)
)

func (m *mode) Kind() string { return m.kind }

// Prepare locks the target. It is the transaction's first statement: Redshift checks
// serializable conflicts from the first read, so a LOCK taken later does not prevent them,
// and a second run of the same pipeline waits here for the first to commit.
//
// With a LockWait, the LOCK runs under a statement_timeout set inside the transaction, so
// a rollback undoes the setting as well.
func (m *mode) Prepare(ctx context.Context, tx load.Tx, run *etl.Run) error {
	wait := m.t.LockWait
	if wait > 0 {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET statement_timeout TO %d", max(wait.Milliseconds(), 1))); err != nil {
			return fmt.Errorf("bound the lock wait on %s: %w", m.t.table(), err)
		}
	}
	if _, err := tx.Exec(ctx, "LOCK "+m.t.table().String()); err != nil {
		if wait > 0 && isStatementTimeout(err) {
			return fmt.Errorf("lock table %s: not granted within %s: %w", m.t.table(), wait, etl.ErrLocked)
		}
		return fmt.Errorf("lock table %s: %w", m.t.table(), err)
	}
	if wait > 0 {
		if _, err := tx.Exec(ctx, "RESET statement_timeout"); err != nil {
			return fmt.Errorf("lift the lock wait bound on %s: %w", m.t.table(), err)
		}
	}
	return nil
}

// isStatementTimeout reports a statement cancelled by statement_timeout: SQLSTATE 57014,
// or Redshift's message for it.
func isStatementTimeout(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "57014" {
		return true
	}
	return strings.Contains(err.Error(), "statement timeout")
}

// CanReplay is true once the rows are in S3: a retry COPYs the same files again.
func (m *mode) CanReplay() bool { return m.staged != nil }

// Cleanup deletes the staged files, committed or not, unless Staging.KeepStaged.
func (m *mode) Cleanup(ctx context.Context, committed bool) error {
	if m.staged == nil || m.keep {
		return nil
	}
	if err := m.staged.Delete(ctx); err != nil {
		return fmt.Errorf("delete staged files s3://%s/%s: %w", m.staged.Bucket, m.staged.Prefix, err)
	}
	return nil
}

// upload writes the stream to S3, once.
func (m *mode) upload(ctx context.Context, run *etl.Run, in etl.Stream) error {
	if m.staged != nil {
		return nil
	}
	stager, err := NewStager(ctx, m.t.Staging)
	if err != nil {
		return err
	}
	m.keep = stager.Config().KeepStaged
	schema := append(in.Schema[:len(in.Schema):len(in.Schema)], etl.Column{Name: seqColumn, Type: etl.TypeInt64})
	if m.staged, err = stager.Stage(ctx, run.Pipeline, run.ID, schema, numbered(in.Rows)); err != nil {
		return fmt.Errorf("table %s: %w", m.t.table(), err)
	}
	return nil
}

// Stage COPYs the staged files into a temporary stage table, uploading them first unless
// Prestage did.
func (m *mode) Stage(ctx context.Context, tx load.Tx, run *etl.Run, in etl.Stream) (int64, error) {
	if err := m.upload(ctx, run, in); err != nil {
		return 0, err
	}
	target := m.t.table()
	m.stage = QuoteIdentifier(stageName(run.ID))
	create := "CREATE TEMP TABLE " + m.stage + " AS SELECT " + quoteList(m.names) + ", CAST(0 AS BIGINT) AS " +
		QuoteIdentifier(seqColumn) + " FROM " + target.String() + " WHERE 1 = 0"
	if _, err := tx.Exec(ctx, create); err != nil {
		return 0, fmt.Errorf("create stage for %s: %w", target, err)
	}
	cp := Copy{
		Table: Table{Name: stageName(run.ID)}, Columns: append(append([]string(nil), m.names...), seqColumn),
		ManifestURL: m.staged.ManifestURL, IAMRole: m.t.Staging.IAMRole, Region: m.t.Staging.Region,
	}
	if _, err := tx.Exec(ctx, cp.SQL()); err != nil {
		return 0, fmt.Errorf("copy into stage of %s: %w", target, err)
	}
	n, err := count(tx.QueryRows(ctx, "SELECT pg_last_copy_count()"))
	if err != nil {
		return 0, fmt.Errorf("count copied rows of %s: %w", target, err)
	}
	if n != m.staged.Rows {
		return n, fmt.Errorf("table %s: COPY loaded %d rows, %d were staged", target, n, m.staged.Rows)
	}
	return n, nil
}

func (m *mode) Apply(ctx context.Context, tx load.Tx, run *etl.Run) (load.Applied, error) {
	applied, err := m.apply(ctx, m, tx, run)
	if err != nil {
		return applied, err
	}
	// A temporary table outlives the transaction on Redshift; drop it with the commit.
	if _, err := tx.Exec(ctx, "DROP TABLE "+m.stage); err != nil {
		return applied, fmt.Errorf("drop stage of %s: %w", m.t.table(), err)
	}
	return applied, nil
}

// insertFromStage inserts the stage's rows (those matching where, when set).
func (m *mode) insertFromStage(ctx context.Context, tx load.Tx, where string, args ...any) (int64, error) {
	sql := "INSERT INTO " + m.t.table().String() + " (" + quoteList(m.names) + ") SELECT " + quoteList(m.names) +
		" FROM " + m.stage
	if where != "" {
		sql += " WHERE " + where
	}
	n, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("insert into %s: %w", m.t.table(), err)
	}
	return n, nil
}

// numbered appends each row's arrival number to it, reusing one row.
func numbered(rows func(yield func(etl.Row, error) bool)) func(yield func(etl.Row, error) bool) {
	return func(yield func(etl.Row, error) bool) {
		var out etl.Row
		var n int64
		for row, err := range rows {
			if err != nil {
				yield(nil, err)
				return
			}
			n++
			out = append(append(out[:0], row...), n)
			if !yield(out, nil) {
				return
			}
		}
	}
}

// stageName is the run's stage table: unique per run (its ID's letters and digits, up
// to 32), lower case, within Redshift's 127-byte limit.
func stageName(runID string) string {
	b := make([]byte, 0, 32)
	for _, c := range []byte(strings.ToLower(runID)) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	if len(b) > 32 {
		b = b[:32]
	}
	return "sluice_stage_" + string(b)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = QuoteIdentifier(n)
	}
	return strings.Join(q, ", ")
}
