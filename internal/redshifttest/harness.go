package redshifttest

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

// Bucket is the staging bucket every harness creates.
const Bucket = "sluice-staging"

// Harness stands in for a Redshift cluster: statements go to a real PostgreSQL schema,
// COPY from S3 reads the in-process S3 server. It implements the sink's DB seam (Exec,
// Query, QueryRow) and is safe for use by one goroutine at a time per statement.
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
	// Pool is a pool on the same schema, for assertions outside the sink's session.
	Pool *pgxpool.Pool
	// Schema is the test's PostgreSQL schema, on the search path of Conn and Pool.
	Schema string

	tb         testing.TB
	mu         sync.Mutex
	statements []string
	inTx       bool
	aborted    bool
	lastCopy   int64
	miscount   int64
	faults     []*fault
}

type fault struct {
	match string
	nth   int
	seen  int
	err   error
}

// New returns a harness on a fresh PostgreSQL schema (see internal/pgtest; the test is
// skipped when SLUICE_TEST_DATABASE_URL is unset) and a fresh S3 server, both closed when
// tb ends.
func New(tb testing.TB) *Harness {
	tb.Helper()
	db := pgtest.New(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		tb.Fatalf("redshifttest: connect: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	// Redshift runs in UTC.
	if _, err := conn.Exec(ctx, "SET TIME ZONE 'UTC'"); err != nil {
		tb.Fatalf("redshifttest: %v", err)
	}
	srv, err := StartS3(Bucket)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(srv.Close)
	return &Harness{S3: srv, Bucket: Bucket, Endpoint: srv.Endpoint, Conn: conn, Pool: db.Pool, Schema: db.Schema, tb: tb}
}

// Statements returns every statement sent through the seam, in order.
func (h *Harness) Statements() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.statements...)
}

// InTx reports whether the seam's session is inside a transaction.
func (h *Harness) InTx() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inTx
}

// Fail makes the nth statement (1-based, counted from this call) whose text contains
// match, ignoring case, fail with err instead of running. Inside a transaction the
// transaction is then aborted, as on Redshift: statements other than ROLLBACK fail. A
// failed COMMIT ends the transaction, rolled back.
func (h *Harness) Fail(match string, nth int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = append(h.faults, &fault{match: strings.ToUpper(match), nth: nth, err: err})
}

// Miscount makes pg_last_copy_count() answer delta more than the next intercepted COPY
// loaded (negative for fewer), as when a COPY with MAXERROR skips bad lines: the sink must
// notice that the copied count differs from the rows it staged.
func (h *Harness) Miscount(delta int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.miscount = delta
}

// SerializableViolation returns the error Redshift reports for a serializable isolation
// conflict: "ERROR: 1023 DETAIL: Serializable isolation violation on table ...", SQLSTATE
// XX000.
func SerializableViolation(table string) *pgconn.PgError {
	return &pgconn.PgError{
		Severity: "ERROR", Code: "XX000", Message: "1023",
		Detail:    "Serializable isolation violation on table - 100167, transactions forming the cycle are: 55705701, 55705754 (pid:16606)",
		TableName: table,
	}
}

// LoadError returns the error Redshift reports when a COPY fails on bad input.
func LoadError(table string) *pgconn.PgError {
	return &pgconn.PgError{
		Severity: "ERROR", Code: "XX000",
		Message:   fmt.Sprintf("Load into table '%s' failed.  Check 'stl_load_errors' system table for details.", table),
		TableName: table,
	}
}

// Exec runs sql, intercepting transaction control, TRUNCATE, ALTER TABLE APPEND and
// COPY from S3.
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
	case kindTruncate:
		h.mu.Lock()
		inTx := h.inTx
		h.mu.Unlock()
		if inTx {
			h.tb.Errorf("redshifttest: TRUNCATE inside a transaction commits it implicitly on Redshift: %s", sql)
			// Do what Redshift does: commit, truncate, carry on in a new transaction.
			if _, err = h.Conn.Exec(ctx, "COMMIT"); err == nil {
				if tag, err = h.Conn.Exec(ctx, sql, args...); err == nil {
					_, err = h.Conn.Exec(ctx, "BEGIN")
				}
			}
		} else {
			tag, err = h.Conn.Exec(ctx, sql, args...)
		}
	case kindAppend:
		h.mu.Lock()
		inTx := h.inTx
		h.mu.Unlock()
		if inTx {
			h.tb.Errorf("redshifttest: ALTER TABLE APPEND inside a transaction: %s", sql)
		}
		err = fmt.Errorf("redshifttest: ALTER TABLE APPEND is not emulated")
	default:
		tag, err = h.Conn.Exec(ctx, sql, args...)
	}
	h.after(kind, err)
	return tag, err
}

// Query runs sql, answering SELECT pg_last_copy_count() with the row count of the last
// intercepted COPY, as an INTEGER like Redshift's.
func (h *Harness) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	kind, err := h.before(sql)
	if err != nil {
		return nil, err
	}
	if kind == kindLastCopyCount {
		h.mu.Lock()
		n := h.lastCopy
		h.mu.Unlock()
		return h.Conn.Query(ctx, "SELECT $1::integer AS pg_last_copy_count", n)
	}
	if kind != kindOther {
		return nil, fmt.Errorf("redshifttest: send %s through Exec", sql)
	}
	rows, err := h.Conn.Query(ctx, sql, args...)
	h.after(kind, err)
	return rows, err
}

// QueryRow is Query for one row.
func (h *Harness) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := h.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return rowOf{rows, h}
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// rowOf scans the first row of rows and notes a failure against the transaction.
type rowOf struct {
	rows pgx.Rows
	h    *Harness
}

func (r rowOf) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			r.h.after(kindOther, err)
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	err := r.rows.Err()
	r.h.after(kindOther, err)
	return err
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
		if word(1) == "PG_LAST_COPY_COUNT" {
			return kindLastCopyCount
		}
	}
	return kindOther
}

// before records sql, fires any fault and refuses statements in an aborted transaction.
func (h *Harness) before(sql string) (stmtKind, error) {
	kind := classify(sql)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.statements = append(h.statements, sql)
	if h.aborted && kind != kindRollback && kind != kindEnd {
		return kind, &pgconn.PgError{Severity: "ERROR", Code: "25P02", Message: "current transaction is aborted, commands ignored until end of transaction block"}
	}
	upper := strings.ToUpper(sql)
	var fired error
	for _, f := range h.faults {
		if f.seen >= f.nth || !strings.Contains(upper, f.match) {
			continue
		}
		if f.seen++; f.seen == f.nth && fired == nil {
			fired = f.err
		}
	}
	if fired != nil && h.inTx {
		if kind == kindEnd {
			// A failed COMMIT ends the transaction, rolled back, as on Redshift.
			h.inTx = false
			if _, err := h.Conn.Exec(context.Background(), "ROLLBACK"); err != nil {
				h.tb.Errorf("redshifttest: roll back after a failed COMMIT: %v", err)
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

// copyFromS3 runs an intercepted COPY: it reads the objects the statement names from
// the S3 server and streams them into PostgreSQL with COPY FROM STDIN.
func (h *Harness) copyFromS3(ctx context.Context, sql string) (int64, error) {
	c, err := ParseCopy(sql)
	if err != nil {
		return 0, err
	}
	h.mu.Lock()
	aborted := h.aborted
	h.mu.Unlock()
	if aborted {
		// An aborted PostgreSQL transaction would reject the COPY anyway.
		return 0, errors.New("redshifttest: transaction aborted")
	}
	table := pgx.Identifier(c.Table).Sanitize()
	cols, err := h.columns(ctx, table, c.Columns)
	if err != nil {
		return 0, err
	}
	keys, err := h.objects(ctx, c)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(cols))
	for i, col := range cols {
		names[i] = pgx.Identifier{col.name}.Sanitize()
	}
	pr, pw := io.Pipe()
	converted := make(chan struct{})
	go func() {
		defer close(converted)
		pw.CloseWithError(h.convert(ctx, c, cols, keys, pw))
	}()
	tag, err := h.Conn.PgConn().CopyFrom(ctx, pr, "COPY "+table+" ("+strings.Join(names, ", ")+") FROM STDIN (FORMAT csv)")
	// Stop the converter, and wait for it, so that no S3 read outlives the statement
	// (or the test and its server).
	_ = pr.CloseWithError(errors.New("copy ended"))
	<-converted
	if err != nil {
		return 0, fmt.Errorf("redshifttest: COPY into %s: %w", table, err)
	}
	h.mu.Lock()
	h.lastCopy = tag.RowsAffected() + h.miscount
	h.miscount = 0
	h.mu.Unlock()
	return tag.RowsAffected(), nil
}

type column struct {
	name string
	text bool // char/varchar/text: an empty field is an empty string unless EMPTYASNULL
}

func (h *Harness) columns(ctx context.Context, table string, want []string) ([]column, error) {
	rows, err := h.Conn.Query(ctx, `SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, table)
	if err != nil {
		return nil, fmt.Errorf("redshifttest: COPY: table %s: %w", table, err)
	}
	var all []column
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		all = append(all, column{name: name, text: typ == "text" || strings.HasPrefix(typ, "character")})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("redshifttest: COPY: table %s: %w", table, err)
	}
	if len(want) == 0 {
		return all, nil
	}
	out := make([]column, len(want))
	for i, w := range want {
		found := false
		for _, c := range all {
			if c.name == w {
				out[i], found = c, true
			}
		}
		if !found {
			return nil, fmt.Errorf("redshifttest: COPY: column %q does not exist in %s", w, table)
		}
	}
	return out, nil
}

// splitS3 splits s3://bucket/key. The key is taken as it is, with no percent-decoding.
func splitS3(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("redshifttest: %q is not an s3://bucket/key URL", u)
	}
	return bucket, key, nil
}

type object struct{ bucket, key string }

// objects lists what the COPY reads: the manifest's entries, or every key under the
// FROM prefix.
func (h *Harness) objects(ctx context.Context, c *CopyCommand) ([]object, error) {
	bucket, key, err := splitS3(c.From)
	if err != nil {
		return nil, err
	}
	if !c.Manifest {
		var objs []object
		pages := s3.NewListObjectsV2Paginator(h.S3.Client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("redshifttest: list %s: %w", c.From, err)
			}
			for _, o := range page.Contents {
				objs = append(objs, object{bucket, aws.ToString(o.Key)})
			}
		}
		if len(objs) == 0 {
			return nil, fmt.Errorf("redshifttest: COPY: the specified S3 prefix %q does not exist", c.From)
		}
		return objs, nil
	}
	out, err := h.S3.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("redshifttest: COPY: read manifest %s: %w", c.From, err)
	}
	defer out.Body.Close()
	var m struct {
		Entries []struct {
			URL       string `json:"url"`
			Mandatory bool   `json:"mandatory"`
			Meta      struct {
				ContentLength *int64 `json:"content_length"`
			} `json:"meta"`
		} `json:"entries"`
	}
	dec := json.NewDecoder(out.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("redshifttest: COPY: manifest %s: %w", c.From, err)
	}
	var objs []object
	for _, e := range m.Entries {
		b, k, err := splitS3(e.URL)
		if err != nil {
			return nil, err
		}
		head, err := h.S3.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String(k)})
		if err != nil {
			if e.Mandatory {
				return nil, fmt.Errorf("redshifttest: COPY: mandatory manifest entry %s: %w", e.URL, err)
			}
			continue
		}
		if e.Meta.ContentLength != nil && aws.ToInt64(head.ContentLength) != *e.Meta.ContentLength {
			return nil, fmt.Errorf("redshifttest: COPY: %s is %d bytes, manifest says %d", e.URL, aws.ToInt64(head.ContentLength), *e.Meta.ContentLength)
		}
		objs = append(objs, object{b, k})
	}
	return objs, nil
}

// convert rewrites the objects' Redshift CSV as PostgreSQL CSV, applying Redshift's NULL
// rules: a field equal to NULL AS (quoted or not) is NULL; an empty field is NULL in a
// non-text column, and in a text column with EMPTYASNULL (quoted "" too); otherwise
// every value is written quoted so PostgreSQL never reads it as NULL.
func (h *Harness) convert(ctx context.Context, c *CopyCommand, cols []column, objs []object, w io.Writer) error {
	bw := make([]byte, 0, 64<<10)
	var fields []field
	for _, o := range objs {
		out, err := h.S3.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key)})
		if err != nil {
			return fmt.Errorf("s3://%s/%s: %w", o.bucket, o.key, err)
		}
		var r io.Reader = out.Body
		if c.GZIP {
			zr, err := gzip.NewReader(out.Body)
			if err != nil {
				out.Body.Close()
				return fmt.Errorf("s3://%s/%s: %w", o.bucket, o.key, err)
			}
			r = zr
		}
		cr := newCSVReader(r)
		err = cr.skipLines(c.IgnoreHeader)
		for err == nil {
			fields, err = cr.read(fields)
			if err != nil {
				break
			}
			if len(fields) != len(cols) {
				err = fmt.Errorf("line %d: %d fields for %d columns", cr.line, len(fields), len(cols))
				break
			}
			for i, f := range fields {
				if i > 0 {
					bw = append(bw, ',')
				}
				null := (c.HasNull && f.value == c.Null) ||
					(f.value == "" && !f.quoted && !cols[i].text) ||
					(f.value == "" && cols[i].text && c.EmptyAsNull)
				if null {
					continue
				}
				bw = append(bw, '"')
				bw = append(bw, strings.ReplaceAll(f.value, `"`, `""`)...)
				bw = append(bw, '"')
			}
			bw = append(bw, '\n')
			if len(bw) >= 32<<10 {
				if _, werr := w.Write(bw); werr != nil {
					err = werr
					break
				}
				bw = bw[:0]
			}
		}
		out.Body.Close()
		if err != io.EOF {
			return fmt.Errorf("s3://%s/%s: %w", o.bucket, o.key, err)
		}
	}
	_, err := w.Write(bw)
	return err
}
