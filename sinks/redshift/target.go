package redshift

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
	"github.com/sluice-etl/sluice/internal/pgxrows"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
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
	// Table is the target table's name; any string is allowed. Like every name the sink
	// is given (Schema, Key, the stream's columns, ...), it is folded to lower case, as a
	// default cluster folds quoted names; a cluster with enable_case_sensitive_identifier
	// on needs lower-case names. Required.
	Table string
	// Create creates the table from the stream's schema when it is missing, with Key as
	// its PRIMARY KEY (recorded, not enforced) and these types: BIGINT, DOUBLE
	// PRECISION, NUMERIC(38,10) (COPY rounds more decimals, as INSERT does), BOOLEAN,
	// TIMESTAMPTZ, DATE and VARCHAR(65535) for text and JSON. Defaults to false: a missing
	// table fails the load, before anything is staged, with an error that says to set
	// Create.
	Create bool
	// Key is the table's key: what a merge matches on and what checks.UniqueKey with no
	// columns checks. Redshift does not enforce keys, so add checks.UniqueKey to catch
	// duplicates. Required for Merge; defaults to none.
	Key []string
	// Checks run inside the load's transaction, before commit. Defaults to none.
	Checks []checks.Check
	// MetaSchema holds the sluice_runs and sluice_state tables, created on first use.
	// Defaults to Schema.
	MetaSchema string
	// LockWait bounds the wait for the LOCK on the target and on the meta schema's
	// sluice_lock, which another load of the same table, or another load sharing the meta
	// schema, holds until it commits. Redshift has neither advisory locks nor LOCK NOWAIT,
	// so the bound is a statement_timeout around the LOCK, and a load that runs out of it
	// fails with an error wrapping etl.ErrLocked; a load whose context ends while it waits
	// fails with the context's error instead. Defaults to 0: wait without bound.
	LockWait time.Duration
	// MaxAttempts bounds the attempts of a transaction that fails with an isolation
	// conflict (see [IsRetryable]); each retry COPYs the same staged files again. Defaults
	// to 4.
	MaxAttempts int
	// RetryBackoff is the pause before the first retry; it doubles with each retry, with
	// jitter. Defaults to 500ms.
	RetryBackoff time.Duration
}

// LockTable is the empty table, in the meta schema beside sluice_state and sluice_runs,
// that every load and every [State.Set] or [State.Reset] locks first, so that the writes
// of sluice_state and sluice_runs by loads sharing the meta schema happen one transaction
// at a time.
const LockTable = "sluice_lock"

// ensureLockTable creates the meta schema's lock table when it is missing.
func ensureLockTable(ctx context.Context, db DB, meta string) error {
	lock := redshiftcopy.Table{Schema: meta, Name: LockTable}
	if _, err := db.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+lock.String()+" (\"id\" INTEGER)"); err != nil {
		return fmt.Errorf("create %s: %w", lock, err)
	}
	return nil
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

// table is the target as the cluster names it: folded to lower case.
func (t *Target) table() redshiftcopy.Table {
	return redshiftcopy.Table{Schema: fold(t.Schema), Name: fold(t.Table)}
}

func (t *Target) metaSchema() string {
	if t.MetaSchema != "" {
		return fold(t.MetaSchema)
	}
	return fold(t.Schema)
}

func (t *Target) dialect() dialect {
	connect := t.Connect
	if connect == nil {
		dsn := t.DSN
		connect = func(ctx context.Context) (DB, error) { return Connect(ctx, dsn) }
	}
	return dialect{connect: connect}
}

func (t *Target) spec(full bool, names []string) load.Spec {
	key := make([]string, len(t.Key))
	for i, k := range t.Key {
		key[i] = fold(k)
	}
	return load.Spec{
		Schema: fold(t.Schema), Table: fold(t.Table), Columns: names, Key: key, FullRefresh: full,
		Checks: t.Checks, MetaSchema: t.metaSchema(), MaxAttempts: t.MaxAttempts, RetryBackoff: t.RetryBackoff,
	}
}

func (t *Target) recordFailure(ctx context.Context, kind string, run *etl.Run, stats etl.Stats, err error) error {
	if verr := t.validate(); verr != nil {
		return verr
	}
	return load.RecordFailure(ctx, t.dialect(), t.spec(false, nil), kind, run, stats, err)
}

// fold lowers the ASCII letters of a name, as a default cluster does with every
// identifier, quoted or not ("The case of name identifiers is not preserved, and instead
// converted to lowercase, when you do not enclose identifiers within double quotation
// marks or when you set enable_case_sensitive_identifier to false", Developer Guide,
// enable_case_sensitive_identifier; false is the default). The sink folds names itself so
// that the names it compares, records and reports are the ones the cluster uses.
func fold(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}

// foldColumns returns the stream's column names folded, refusing two that differ only in
// case: on a default cluster they are one column, and one would silently shadow the other.
func foldColumns(schema etl.Schema) ([]string, error) {
	names := make([]string, len(schema))
	seen := make(map[string]int, len(schema))
	for i, c := range schema {
		names[i] = fold(c.Name)
		if j, ok := seen[names[i]]; ok {
			return nil, fmt.Errorf("columns %q and %q are the same column on Redshift, which folds names to lower case", schema[j].Name, c.Name)
		}
		seen[names[i]] = i
	}
	return names, nil
}

// column finds a stream column by name as the cluster would: folded.
func column(schema etl.Schema, name string) int {
	name = fold(name)
	for i, c := range schema {
		if fold(c.Name) == name {
			return i
		}
	}
	return -1
}

func (t *Target) load(ctx context.Context, kind string, full bool, run *etl.Run, in etl.Stream, apply applyFunc, check func(etl.Schema) error) (etl.LoadResult, error) {
	if err := t.validate(); err != nil {
		return etl.LoadResult{}, err
	}
	// A stream the load cannot take fails before anything is staged, and leaves a
	// failed-run record like any other failure.
	refuse := func(err error) (etl.LoadResult, error) {
		err = etl.WithStep("stage", fmt.Errorf("table %s: %w", t.table(), err))
		if rerr := t.recordFailure(ctx, kind, run, run.Stats(), err); rerr != nil {
			run.Log().Warn("could not record the failed run", slog.Any("error", rerr))
		}
		return etl.LoadResult{}, err
	}
	if err := in.Schema.Validate(); err != nil {
		return refuse(err)
	}
	names, err := foldColumns(in.Schema)
	if err != nil {
		return refuse(err)
	}
	if check != nil {
		if err := check(in.Schema); err != nil {
			return refuse(err)
		}
	}
	m := &mode{t: t, kind: kind, apply: apply, names: names, schema: in.Schema}
	d := t.dialect()
	d.onSession = func(db DB) { m.db = db }
	// Every mode uploads before its transaction, so the LOCK covers only COPY and apply.
	// The protocol reads the watermark first and hands it to the source, and fails a run
	// whose stored watermark moves before it commits.
	return load.Run(ctx, d, t.spec(full, names), prestaged{m}, run, in)
}

// prestaged is a mode that uploads before the transaction begins.
type prestaged struct{ *mode }

var _ load.Prestager = prestaged{}

// Prestage makes sure the table exists, creating it when the Target says so, and uploads
// the stream to S3.
func (p prestaged) Prestage(ctx context.Context, run *etl.Run, in etl.Stream) error {
	if err := p.ensureTable(ctx); err != nil {
		return err
	}
	return p.upload(ctx, run, in)
}

// seqColumn numbers staged rows in arrival order, so a merge's latest-wins rule is
// deterministic: Redshift loads parts in parallel, so stage order means nothing.
const seqColumn = "__sluice_seq"

type applyFunc func(ctx context.Context, m *mode, tx load.Tx, run *etl.Run) (load.Applied, error)

// mode is what every Redshift load shares: upload to S3 once, LOCK the target and the
// meta tables first in every attempt, COPY into a temporary stage table, apply, drop the
// stage.
type mode struct {
	t      *Target
	kind   string
	apply  applyFunc
	names  []string // the stream's columns, folded
	schema etl.Schema
	db     DB // the load's session, outside its transactions
	staged *redshiftcopy.Staged
	keep   bool
	stage  string // quoted name of the stage table of this attempt

	region     string // the bucket's region, for COPY
	keepFailed time.Duration
	failed     *LoadError // the COPY's refusal, when the files are kept for it
}

var (
	_ load.Preparer = (*mode)(nil)
	_ load.Replayer = (*mode)(nil)
	_ load.Cleaner  = (*mode)(nil)
)

func (m *mode) Kind() string { return m.kind }

// ensureTable checks that the target exists, and creates it from the stream's schema,
// with Key as its PRIMARY KEY (which Redshift records but does not enforce), when Create
// is set. It runs outside any transaction, before the upload, so a missing table fails
// the load before anything is staged.
func (m *mode) ensureTable(ctx context.Context) error {
	if m.db == nil {
		return errors.New("redshift: no session")
	}
	if err := ensureLockTable(ctx, m.db, m.t.metaSchema()); err != nil {
		return etl.WithStep("state", err)
	}
	target := m.t.table()
	schemaExpr := "current_schema()"
	args := []any{target.Name}
	if target.Schema != "" {
		schemaExpr, args = "$2", append(args, target.Schema)
	}
	n, err := count(pgxrows.Collect(m.db.Query(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = $1 AND table_schema = "+schemaExpr, args...)))
	if err != nil {
		return etl.WithStep("stage", fmt.Errorf("look up table %s: %w", target, err))
	}
	if n > 0 {
		return nil
	}
	if !m.t.Create {
		return etl.WithStep("stage", fmt.Errorf("table %s does not exist; set Create to create it from the stream: %w", target, etl.ErrNoTable))
	}
	cols := make([]string, len(m.names), len(m.names)+1)
	for i, name := range m.names {
		cols[i] = redshiftcopy.QuoteIdentifier(name) + " " + sqlType(m.schema[i].Type)
		if m.schema[i].NotNull {
			cols[i] += " NOT NULL"
		}
	}
	if len(m.t.Key) > 0 {
		key := make([]string, len(m.t.Key))
		for i, k := range m.t.Key {
			key[i] = fold(k)
		}
		cols = append(cols, "PRIMARY KEY ("+quoteList(key)+")")
	}
	if _, err := m.db.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+target.String()+" ("+strings.Join(cols, ", ")+")"); err != nil {
		return etl.WithStep("stage", fmt.Errorf("create table %s: %w", target, err))
	}
	return nil
}

// Prepare locks the target and the meta schema's lock table. It is the transaction's
// first statement: Redshift takes a transaction's snapshot at its first read or write,
// so a LOCK taken later does not keep conflicts away ("Force serialization by having each
// session lock all tables", Knowledge Center on error 1023). A second run of the same
// pipeline waits here for the first to commit, and so do loads of other tables that
// share the meta schema: their reads and writes of sluice_state and sluice_runs would
// otherwise abort one another on a SERIALIZABLE cluster. Locking sluice_lock, a table
// that holds nothing, rather than sluice_state and sluice_runs themselves leaves those
// readable while a load runs (Redshift's LOCK blocks readers too). Uploads run before
// this, in parallel.
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
	lock := "LOCK " + m.t.table().String() + ", " + redshiftcopy.Table{Schema: m.t.metaSchema(), Name: LockTable}.String()
	if _, err := tx.Exec(ctx, lock); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// Redshift words a cancelled statement as it words a timeout; only the
			// context tells them apart.
			return fmt.Errorf("lock table %s: %w (%v)", m.t.table(), cerr, err)
		}
		if wait > 0 && isStatementTimeout(err) {
			return fmt.Errorf("lock table %s and %s: not granted within %s: %w", m.t.table(), LockTable, wait, etl.ErrLocked)
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

// isStatementTimeout reports a statement stopped by statement_timeout: Redshift's
// "Query (<id>) canceled on user's request" (the message the Developer Guide shows for
// statement_timeout), PostgreSQL's "canceling statement due to statement timeout", or
// SQLSTATE 57014. Redshift uses the same words for a statement cancelled by its client, so
// callers rule out a cancelled context first.
func isStatementTimeout(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "57014" {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "canceled on user's request") || strings.Contains(msg, "statement timeout")
}

// CanReplay is true once the rows are in S3: a retry COPYs the same files again.
func (m *mode) CanReplay() bool { return m.staged != nil }

// Cleanup deletes the staged files, committed or not, unless Staging.KeepStaged, or the
// COPY failed and Staging.KeepFailed keeps them: then it leaves a failed.json marker that
// Sweep honours.
func (m *mode) Cleanup(ctx context.Context, committed bool) error {
	if m.staged == nil || m.keep {
		return nil
	}
	if !committed && m.failed != nil && !m.failed.KeptUntil.IsZero() {
		if err := m.staged.MarkFailed(ctx, m.failed.KeptUntil, m.t.table().String(), m.failed.Error()); err != nil {
			return fmt.Errorf("mark staged files s3://%s/%s as kept: %w", m.staged.Bucket, m.staged.Prefix, err)
		}
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
	stager, err := redshiftcopy.NewStager(ctx, m.t.Staging.config())
	if err != nil {
		return err
	}
	m.keep = stager.Config().KeepStaged
	m.keepFailed = stager.Config().KeepFailed
	m.region = stager.Region()
	schema := append(in.Schema[:len(in.Schema):len(in.Schema)], etl.Column{Name: seqColumn, Type: etl.TypeInt64})
	if m.staged, err = stager.Stage(ctx, run.Pipeline, run.ID, schema, numbered(in.Rows)); err != nil {
		return fmt.Errorf("table %s: %w", m.t.table(), err)
	}
	return nil
}

// copyFailed ends the transaction the failed COPY aborted, reads why the COPY failed
// from the load error log, and keeps the staged files for inspection unless
// Staging.KeepFailed is negative.
func (m *mode) copyFailed(ctx context.Context, tx load.Tx, err error) error {
	target := m.t.table().String()
	if rerr := tx.Rollback(context.WithoutCancel(ctx)); rerr != nil || m.db == nil {
		return fmt.Errorf("copy into stage of %s: %w", target, err)
	}
	le := explainCopy(ctx, m.db, target, err)
	if le == nil {
		le = &LoadError{Table: target, Err: err, Reason: err.Error()}
	}
	if m.keepFailed > 0 {
		le.KeptUntil = time.Now().Add(m.keepFailed).Truncate(time.Second)
		le.Prefix = "s3://" + m.staged.Bucket + "/" + m.staged.Prefix
	}
	m.failed = le
	if le.File == "" {
		// Nothing in the log: the COPY failed before reading a line.
		msg := fmt.Sprintf("copy into stage of %s", target)
		if !le.KeptUntil.IsZero() {
			msg += fmt.Sprintf(" (staged files kept until %s under %s)", le.KeptUntil.UTC().Format(time.RFC3339), le.Prefix)
		}
		return fmt.Errorf("%s: %w", msg, err)
	}
	return le
}

// Stage COPYs the staged files into a temporary stage table, uploading them first unless
// Prestage did.
func (m *mode) Stage(ctx context.Context, tx load.Tx, run *etl.Run, in etl.Stream) (int64, error) {
	if err := m.upload(ctx, run, in); err != nil {
		return 0, err
	}
	target := m.t.table()
	m.stage = redshiftcopy.QuoteIdentifier(stageName(run.ID))
	create := "CREATE TEMP TABLE " + m.stage + " AS SELECT " + quoteList(m.names) + ", CAST(0 AS BIGINT) AS " +
		redshiftcopy.QuoteIdentifier(seqColumn) + " FROM " + target.String() + " WHERE 1 = 0"
	if _, err := tx.Exec(ctx, create); err != nil {
		return 0, fmt.Errorf("create stage for %s: %w", target, err)
	}
	cp := redshiftcopy.Copy{
		Table: redshiftcopy.Table{Name: stageName(run.ID)}, Columns: append(append([]string(nil), m.names...), seqColumn),
		ManifestURL: m.staged.ManifestURL, IAMRole: m.t.Staging.IAMRole, Region: m.region,
	}
	if _, err := tx.Exec(ctx, cp.SQL()); err != nil {
		if IsRetryable(err) {
			return 0, fmt.Errorf("copy into stage of %s: %w", target, err)
		}
		return 0, m.copyFailed(ctx, tx, err)
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
		q[i] = redshiftcopy.QuoteIdentifier(n)
	}
	return strings.Join(q, ", ")
}
