package redshifttest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

// Bucket is the staging bucket every harness creates.
const Bucket = "sluice-staging"

// Isolation is the cluster's isolation level.
type Isolation int

const (
	// Snapshot is SNAPSHOT isolation, the default of new provisioned clusters and
	// Serverless workgroups (Database Developer Guide, "Isolation levels in Amazon
	// Redshift"): concurrent changes to different rows of a table both commit, and a
	// transaction that changes rows another committed since its snapshot fails with "could
	// not complete because of conflict with concurrent transaction". The harness runs its
	// sessions at PostgreSQL's REPEATABLE READ, which is snapshot isolation with the same
	// first-committer-wins rule, and reports PostgreSQL's serialization failure as
	// Redshift's message.
	Snapshot Isolation = iota
	// Serializable is SERIALIZABLE isolation, the default of older clusters: a transaction
	// whose reads and writes cannot be ordered with a concurrent one's fails with "ERROR:
	// 1023 DETAIL: Serializable isolation violation on table". The harness runs its
	// sessions at PostgreSQL's SERIALIZABLE (serializable snapshot isolation, which tracks
	// read/write dependencies as Redshift does) and reports its serialization failures as
	// error 1023.
	Serializable
)

// Options configures a harness's cluster.
type Options struct {
	// Isolation is the cluster's isolation level. Defaults to Snapshot.
	Isolation Isolation
	// Serverless makes the cluster a Redshift Serverless workgroup, which has no STL, STV
	// or SVL tables ("you can't query STL, STV, SVCS, SVL, and some SVV system tables and
	// views with Amazon Redshift Serverless", Management Guide, "Monitoring queries and
	// workloads with Amazon Redshift Serverless"): load errors are in
	// SYS_LOAD_ERROR_DETAIL only, and a failed COPY points there.
	Serverless bool
	// NoSysViews drops SYS_LOAD_ERROR_DETAIL, as on a cluster that predates the SYS
	// monitoring views: load errors are in STL_LOAD_ERRORS only.
	NoSysViews bool
	// Region is the cluster's AWS region. A COPY from a bucket in another region must
	// name the bucket's region with REGION, or it fails ("If the Amazon S3 buckets that
	// hold the data files don't reside in the same AWS Region as your cluster, you must
	// use the REGION parameter", COPY from Amazon S3). Defaults to [Region], the region of
	// the harness's bucket.
	Region string
	// S3 configures the staging bucket's policies.
	S3 S3Options
}

// cluster is what every session of one harness shares: the database schema, the bucket,
// the statement log, injected faults and the query IDs.
type cluster struct {
	tb     testing.TB
	opts   Options
	url    string
	pool   *pgxpool.Pool
	schema string
	s3     *S3Server

	mu         sync.Mutex
	statements []string
	faults     []*fault
	miscount   int64
	queryID    int64
}

// Harness stands in for a Redshift cluster: statements go to a real PostgreSQL schema,
// COPY from S3 reads the in-process S3 server. It implements the sink's DB seam (Exec,
// Query, QueryRow) for one session; [Harness.Session] opens more sessions on the same
// cluster. A session is safe for use by one goroutine at a time per statement.
type Harness struct {
	// S3 is the in-process S3 server holding the staging bucket.
	S3 *S3Server
	// Bucket is the staging bucket's name.
	Bucket string
	// Endpoint is the S3 server's base URL.
	Endpoint string
	// Conn is the PostgreSQL connection behind the seam. Statements sent to it
	// directly bypass interception and recording.
	Conn *pgx.Conn
	// Pool is a pool on the same schema, for assertions outside the sink's session. Its
	// statements are neither folded nor intercepted.
	Pool *pgxpool.Pool
	// Schema is the test's PostgreSQL schema, on the search path of Conn and Pool.
	Schema string

	c             *cluster
	mu            sync.Mutex
	inTx          bool
	aborted       bool
	lastCopy      int64
	lastCopyID    int64
	caseSensitive bool
}

type fault struct {
	match string
	nth   int
	seen  int
	err   error
}

// New returns a harness on a fresh PostgreSQL schema (see internal/pgtest; the test is
// skipped when SLUICE_TEST_DATABASE_URL is unset) and a fresh S3 server, both closed when
// tb ends, with the defaults of a new provisioned cluster.
func New(tb testing.TB) *Harness {
	tb.Helper()
	return NewWith(tb, Options{})
}

// NewWith is [New] with the cluster configured by opts.
func NewWith(tb testing.TB, opts Options) *Harness {
	tb.Helper()
	if opts.Region == "" {
		opts.Region = Region
	}
	db := pgtest.New(tb)
	srv, err := StartS3With(Bucket, opts.S3)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(srv.Close)
	c := &cluster{tb: tb, opts: opts, url: db.URL, pool: db.Pool, schema: db.Schema, s3: srv, queryID: 1000}
	if err := c.createSystemTables(); err != nil {
		tb.Fatalf("redshifttest: %v", err)
	}
	return c.session(tb)
}

// Session opens another session on the same cluster: a connection of its own, sharing
// the schema, the bucket, the statement log and the faults. Concurrent loads each need
// one, as each would have its own connection to a real cluster.
func (h *Harness) Session(tb testing.TB) *Harness {
	tb.Helper()
	return h.c.session(tb)
}

func (c *cluster) session(tb testing.TB) *Harness {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(c.url)
	if err != nil {
		tb.Fatalf("redshifttest: %v", err)
	}
	// A cancelled context reaches the server as a cancel request, which the server
	// answers with the statement's failure, as a client configured to cancel statements
	// on the cluster sees it; pgx's default instead drops the connection.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: 0, DeadlineDelay: 5 * time.Second}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("redshifttest: connect: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	level := "REPEATABLE READ"
	if c.opts.Isolation == Serializable {
		level = "SERIALIZABLE"
	}
	// Redshift runs in UTC.
	for _, s := range []string{"SET TIME ZONE 'UTC'", "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL " + level} {
		if _, err := conn.Exec(ctx, s); err != nil {
			tb.Fatalf("redshifttest: %v", err)
		}
	}
	return &Harness{S3: c.s3, Bucket: c.s3.Bucket, Endpoint: c.s3.Endpoint, Conn: conn, Pool: c.pool, Schema: c.schema, c: c}
}

// Statements returns every statement sent through the seam of any session, in order.
func (h *Harness) Statements() []string {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return append([]string(nil), h.c.statements...)
}

// InTx reports whether the seam's session is inside a transaction.
func (h *Harness) InTx() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inTx
}

// Fail makes the nth statement (1-based, counted from this call) of any session whose
// text contains match, ignoring case, fail with err instead of running. Inside a
// transaction the transaction is then aborted, as on Redshift: statements other than
// ROLLBACK fail. A failed COMMIT ends the transaction, rolled back.
func (h *Harness) Fail(match string, nth int, err error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.c.faults = append(h.c.faults, &fault{match: strings.ToUpper(match), nth: nth, err: err})
}

// Miscount makes pg_last_copy_count() answer delta more than the next intercepted COPY
// loaded (negative for fewer), as when a COPY with MAXERROR skips bad lines: the sink must
// notice that the copied count differs from the rows it staged.
func (h *Harness) Miscount(delta int64) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.c.miscount = delta
}

// SerializableViolation returns the error Redshift reports for a serializable isolation
// conflict: "ERROR: 1023 DETAIL: Serializable isolation violation on table ...", SQLSTATE
// XX000 (Knowledge Center, "How do I resolve the Serializable isolation violation
// error?").
func SerializableViolation(table string) *pgconn.PgError {
	return &pgconn.PgError{
		Severity: "ERROR", Code: "XX000", Message: "1023",
		Detail:    "Serializable isolation violation on table - 100167, transactions forming the cycle are: 55705701, 55705754 (pid:16606)",
		TableName: table,
	}
}

// SnapshotConflict returns the error a transaction gets under SNAPSHOT isolation when
// another one committed a change to the same rows since its snapshot: "could not
// complete because of conflict with concurrent transaction". The message is Redshift's;
// its SQLSTATE is not documented, and XX000 (Redshift's code for its own internal
// errors, as 1023 uses) is an assumption.
func SnapshotConflict(table string) *pgconn.PgError {
	return &pgconn.PgError{
		Severity: "ERROR", Code: "XX000",
		Message:   "could not complete because of conflict with concurrent transaction",
		TableName: table,
	}
}

// LoadError returns the error Redshift reports when a COPY fails on bad input, pointing
// at the system table that holds the details.
func LoadError(table string) *pgconn.PgError {
	return loadError(table, "stl_load_errors")
}

func loadError(table, view string) *pgconn.PgError {
	return &pgconn.PgError{
		Severity: "ERROR", Code: "XX000",
		Message:   fmt.Sprintf("Load into table '%s' failed.  Check '%s' system table for details.", table, view),
		TableName: table,
	}
}

// Exec runs sql, intercepting transaction control, TRUNCATE, ALTER TABLE APPEND, COPY from
// S3 and SET enable_case_sensitive_identifier, and folding quoted identifiers to lower
// case unless the session set enable_case_sensitive_identifier.
func (h *Harness) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	kind, err := h.before(sql)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	var tag pgconn.CommandTag
	switch kind {
	case kindCopy:
		var n int64
		n, err = h.copyFromS3(ctx, sql)
		tag = pgconn.NewCommandTag(fmt.Sprintf("COPY %d", n))
	case kindCaseSetting:
		err = h.setCaseSensitivity(sql)
		tag = pgconn.NewCommandTag("SET")
	case kindTruncate:
		h.mu.Lock()
		inTx := h.inTx
		h.mu.Unlock()
		if inTx {
			h.c.tb.Errorf("redshifttest: TRUNCATE inside a transaction commits it implicitly on Redshift: %s", sql)
			// Do what Redshift does: commit, truncate, carry on in a new transaction.
			if _, err = h.Conn.Exec(ctx, "COMMIT"); err == nil {
				if tag, err = h.Conn.Exec(ctx, h.fold(sql), args...); err == nil {
					_, err = h.Conn.Exec(ctx, "BEGIN")
				}
			}
		} else {
			tag, err = h.Conn.Exec(ctx, h.fold(sql), args...)
		}
	case kindAppend:
		h.mu.Lock()
		inTx := h.inTx
		h.mu.Unlock()
		if inTx {
			h.c.tb.Errorf("redshifttest: ALTER TABLE APPEND inside a transaction: %s", sql)
		}
		err = fmt.Errorf("redshifttest: ALTER TABLE APPEND is not emulated")
	default:
		tag, err = h.Conn.Exec(ctx, h.fold(sql), args...)
	}
	err = h.translate(err)
	h.after(kind, err)
	return tag, err
}

// Query runs sql, answering SELECT pg_last_copy_count() and SELECT pg_last_copy_id() for
// the last intercepted COPY of the session, as Redshift's BIGINT.
func (h *Harness) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	kind, err := h.before(sql)
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindLastCopyCount, kindLastCopyID:
		h.mu.Lock()
		n := h.lastCopy
		if kind == kindLastCopyID {
			n = h.lastCopyID
		}
		h.mu.Unlock()
		name := "pg_last_copy_count"
		if kind == kindLastCopyID {
			name = "pg_last_copy_id"
		}
		rows, err := h.Conn.Query(ctx, "SELECT $1::bigint AS "+name, n)
		return h.wrapRows(rows, err)
	case kindOther:
	default:
		return nil, fmt.Errorf("redshifttest: send %s through Exec", sql)
	}
	rows, err := h.Conn.Query(ctx, h.fold(sql), args...)
	return h.wrapRows(rows, err)
}

// wrapRows reports a query's failure, whenever pgx surfaces it, as Redshift would word it
// and marks the transaction aborted.
func (h *Harness) wrapRows(rows pgx.Rows, err error) (pgx.Rows, error) {
	if err != nil {
		err = h.translate(err)
		h.after(kindOther, err)
		return nil, err
	}
	return &translatedRows{Rows: rows, h: h}, nil
}

type translatedRows struct {
	pgx.Rows
	h    *Harness
	done bool
}

func (r *translatedRows) Err() error {
	err := r.h.translate(r.Rows.Err())
	if err != nil && !r.done {
		r.done = true
		r.h.after(kindOther, err)
	}
	return err
}

func (r *translatedRows) Close() {
	r.Rows.Close()
	_ = r.Err()
}

// QueryRow is Query for one row.
func (h *Harness) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := h.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return rowOf{rows}
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// rowOf scans the first row of rows.
type rowOf struct{ rows pgx.Rows }

func (r rowOf) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// fold applies the session's identifier case rule to sql.
func (h *Harness) fold(sql string) string {
	h.mu.Lock()
	sensitive := h.caseSensitive
	h.mu.Unlock()
	if sensitive {
		return sql
	}
	return foldIdentifiers(sql)
}

// setCaseSensitivity runs SET/RESET enable_case_sensitive_identifier, a Redshift setting
// PostgreSQL does not have.
func (h *Harness) setCaseSensitivity(sql string) error {
	toks, err := tokenize(sql)
	if err != nil {
		return err
	}
	on := false
	if toks[0].text == "SET" {
		v := toks[len(toks)-1]
		if v.kind == tokPunct && v.text == ";" && len(toks) > 1 {
			v = toks[len(toks)-2]
		}
		switch strings.ToUpper(v.text) {
		case "TRUE", "ON":
			on = true
		case "FALSE", "OFF":
		default:
			return fmt.Errorf("redshifttest: enable_case_sensitive_identifier takes true or false, got %q", v.text)
		}
	}
	h.mu.Lock()
	h.caseSensitive = on
	h.mu.Unlock()
	return nil
}

// translate words PostgreSQL's errors the way Redshift words the same conditions:
//   - a serialization failure (40001) is Redshift's 1023 under SERIALIZABLE and its
//     snapshot conflict under SNAPSHOT;
//   - a cancelled statement (57014: statement_timeout or a cancel request) is "Query
//     (<id>) canceled on user's request", the message the Developer Guide shows for
//     statement_timeout, whichever the cause, so that a cancelled context and a timeout
//     look alike as they do on Redshift.
func (h *Harness) translate(err error) error {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "40001":
		if h.c.opts.Isolation == Serializable {
			return SerializableViolation(pe.TableName)
		}
		return SnapshotConflict(pe.TableName)
	case "57014":
		return &pgconn.PgError{Severity: "ERROR", Code: "57014",
			Message: fmt.Sprintf("Query (%d) canceled on user's request", h.c.nextQueryID())}
	}
	return err
}

func (c *cluster) nextQueryID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queryID++
	return c.queryID
}

type stmtKind int

const (
	kindOther stmtKind = iota
	kindBegin
	kindEnd
	kindRollback
	kindCopy
	kindTruncate
	kindAppend
	kindLastCopyCount
	kindLastCopyID
	kindCaseSetting
)

func classify(sql string) stmtKind {
	toks, err := tokenize(sql)
	if err != nil || len(toks) == 0 || toks[0].kind != tokWord {
		return kindOther
	}
	word := func(i int) string {
		if i < len(toks) && toks[i].kind == tokWord {
			return toks[i].text
		}
		return ""
	}
	switch word(0) {
	case "BEGIN":
		return kindBegin
	case "START":
		if word(1) == "TRANSACTION" {
			return kindBegin
		}
	case "COMMIT", "END":
		return kindEnd
	case "ROLLBACK", "ABORT":
		return kindRollback
	case "TRUNCATE":
		return kindTruncate
	case "ALTER":
		for _, t := range toks {
			if t.kind == tokWord && t.text == "APPEND" {
				return kindAppend
			}
		}
	case "COPY":
		if IsS3Copy(sql) {
			return kindCopy
		}
	case "SELECT":
		switch word(1) {
		case "PG_LAST_COPY_COUNT":
			return kindLastCopyCount
		case "PG_LAST_COPY_ID":
			return kindLastCopyID
		}
	case "SET", "RESET":
		if word(1) == "ENABLE_CASE_SENSITIVE_IDENTIFIER" {
			return kindCaseSetting
		}
	}
	return kindOther
}

// before records sql, fires any fault and refuses statements in an aborted transaction.
func (h *Harness) before(sql string) (stmtKind, error) {
	kind := classify(sql)
	h.c.mu.Lock()
	h.c.statements = append(h.c.statements, sql)
	upper := strings.ToUpper(sql)
	var fired error
	for _, f := range h.c.faults {
		if f.seen >= f.nth || !strings.Contains(upper, f.match) {
			continue
		}
		if f.seen++; f.seen == f.nth && fired == nil {
			fired = f.err
		}
	}
	h.c.mu.Unlock()

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.aborted && kind != kindRollback && kind != kindEnd {
		return kind, &pgconn.PgError{Severity: "ERROR", Code: "25P02", Message: "current transaction is aborted, commands ignored until end of transaction block"}
	}
	if fired != nil && h.inTx {
		if kind == kindEnd {
			// A failed COMMIT ends the transaction, rolled back, as on Redshift.
			h.inTx = false
			if _, err := h.Conn.Exec(context.Background(), "ROLLBACK"); err != nil {
				h.c.tb.Errorf("redshifttest: roll back after a failed COMMIT: %v", err)
			}
		} else {
			h.aborted = true
		}
	}
	return kind, fired
}

// after tracks the transaction state once a statement ran.
func (h *Harness) after(kind stmtKind, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch kind {
	case kindBegin:
		if err == nil {
			h.inTx, h.aborted = true, false
		}
	case kindEnd, kindRollback:
		h.inTx, h.aborted = false, false
	default:
		if err != nil && h.inTx {
			h.aborted = true
		}
	}
}
