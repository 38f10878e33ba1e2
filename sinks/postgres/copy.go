package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/origin"
)

// ValueError reports a row value the target refused: one the COPY encoder could not
// store in its column, or one PostgreSQL refused during the COPY (a value too long for
// its varchar, a numeric overflow, invalid JSON, a constraint), located by the row
// number the server reports.
type ValueError struct {
	// Table is the target table, as people read it.
	Table string
	// Row is the 1-based position of the row in the stream.
	Row int64
	// Source and Line say where the row came from, when the stream says so (see
	// [etl.Stream.Position]): the input's name and the line its record starts on.
	Source string
	Line   int64
	// Column is the column's name, when the error is about one value.
	Column string
	// Value is the refused value as text, cut to at most 64 bytes, when it is known.
	Value string
	// Err says what was wrong; for an error PostgreSQL raised, it wraps the
	// *pgconn.PgError.
	Err error
}

// Error implements the error interface.
func (e *ValueError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		fmt.Fprintf(&b, "%s: line %d: ", e.Source, e.Line)
	}
	fmt.Fprintf(&b, "table %s: row %d", e.Table, e.Row)
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	msg := e.Err.Error()
	var pe *pgconn.PgError
	if errors.As(e.Err, &pe) && pe.Detail != "" && !strings.Contains(msg, pe.Detail) {
		// The detail often holds the value, as in "Failing row contains (...)".
		msg += ": " + clipValue(pe.Detail, 256)
	}
	fmt.Fprintf(&b, ": %s", msg)
	if q := strconv.Quote(e.Value); e.Value != "" && !strings.Contains(msg, q) {
		fmt.Fprintf(&b, " (value %s)", q)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ValueError) Unwrap() error { return e.Err }

// ErrUnsupportedType is wrapped by the error for a target column whose type the binary
// COPY path cannot encode (arrays, ranges, geometric and network types, for example).
var ErrUnsupportedType = errors.New("column type is not supported by the binary COPY path")

// tableRef names a table: an optional schema (empty means the search_path) and a name.
type tableRef struct {
	Schema, Name string
}

// sql returns the quoted, qualified name, ready for SQL.
func (t tableRef) sql() string {
	if t.Schema == "" {
		return pgx.Identifier{t.Name}.Sanitize()
	}
	return pgx.Identifier{t.Schema, t.Name}.Sanitize()
}

// String returns the name for people and error messages.
func (t tableRef) String() string {
	if t.Schema == "" {
		return t.Name
	}
	return t.Schema + "." + t.Name
}

// targetColumn is one column of an existing table.
type targetColumn struct {
	Name      string
	Type      string // format_type, such as "numeric(12,2)"
	NotNull   bool
	Generated bool
	Receive   string // the base type's binary receive function
	Typmod    int32  // the base type's modifier, such as varchar's length; -1 for none
}

// querier is what the catalog queries need: a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// tableOID returns the table's OID, or 0 when it does not exist.
func tableOID(ctx context.Context, q querier, t tableRef) (uint32, error) {
	var oid *uint32
	if err := q.QueryRow(ctx, "SELECT to_regclass($1)::oid", t.sql()).Scan(&oid); err != nil {
		return 0, fmt.Errorf("look up table %s: %w", t, err)
	}
	if oid == nil {
		return 0, nil
	}
	return *oid, nil
}

const columnsSQL = `
WITH RECURSIVE base(attnum, typid, typmod, depth) AS (
	SELECT a.attnum, a.atttypid, a.atttypmod, 0 FROM pg_attribute a
	WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT b.attnum, t.typbasetype, CASE WHEN b.typmod >= 0 THEN b.typmod ELSE t.typtypmod END, b.depth + 1
	FROM base b JOIN pg_type t ON t.oid = b.typid WHERE t.typtype = 'd'
)
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated <> '', p.proname, b.typmod
FROM pg_attribute a
JOIN LATERAL (SELECT typid, typmod FROM base WHERE base.attnum = a.attnum ORDER BY depth DESC LIMIT 1) b ON true
JOIN pg_type t ON t.oid = b.typid
JOIN pg_proc p ON p.oid = t.typreceive
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

// tableColumns returns the columns of the table with the given OID, in order.
func tableColumns(ctx context.Context, q querier, oid uint32) ([]targetColumn, error) {
	rows, err := q.Query(ctx, columnsSQL, oid)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (targetColumn, error) {
		var c targetColumn
		err := r.Scan(&c.Name, &c.Type, &c.NotNull, &c.Generated, &c.Receive, &c.Typmod)
		return c, err
	})
}

// copyPlan says how to encode a stream's rows for one table: one encoder per stream
// column, in stream order, which is also the order of the COPY column list.
type copyPlan struct {
	table   tableRef
	columns []string
	enc     []fieldEncoder
	// kinds, when set, gives per column the Go type appendRow encodes inline, bypassing
	// enc for the values sources most often carry; enc stays the reference.
	kinds []inlineKind
	// precision and scale are a numeric(p,s) column's modifier, for inlineNumeric.
	precision, scale []int
	// ordinal appends each row's 1-based arrival number as a last bigint column, named
	// ordinalName, so a stage can tell which of two versions of a key came last.
	ordinal     bool
	ordinalName string
}

// withOrdinal returns a copy of p that also sends each row's arrival number as column
// name.
func (p *copyPlan) withOrdinal(name string) *copyPlan {
	q := *p
	q.ordinal, q.ordinalName = true, name
	return &q
}

// planCopy matches the stream's columns to the table's by name. Table columns the stream
// lacks get their defaults; a stream column the table lacks is an error.
func planCopy(t tableRef, schema etl.Schema, cols []targetColumn) (*copyPlan, error) {
	byName := make(map[string]targetColumn, len(cols))
	for _, c := range cols {
		byName[c.Name] = c
	}
	p := &copyPlan{table: t, columns: schema.Names(), enc: make([]fieldEncoder, len(schema))}
	for i, sc := range schema {
		tc, ok := byName[sc.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("table %s has no column %q", t, sc.Name)
		case tc.Generated:
			return nil, fmt.Errorf("table %s: column %q is generated and cannot be loaded", t, sc.Name)
		}
		enc, ok := encoders[tc.Receive]
		if !ok {
			return nil, fmt.Errorf("table %s: column %q has type %s: %w", t, sc.Name, tc.Type, ErrUnsupportedType)
		}
		p.enc[i] = withTypmod(enc, tc)
	}
	p.kinds = inlineKinds(schema, byName)
	p.precision, p.scale = make([]int, len(schema)), make([]int, len(schema))
	for i, sc := range schema {
		if tc := byName[sc.Name]; tc.Receive == "numeric_recv" {
			p.kinds[i] = inlineNumeric
			p.precision[i], p.scale[i] = -1, 0 // no modifier
			if tc.Typmod >= 4 {
				p.precision[i], p.scale[i] = numericTypmod(tc.Typmod)
			}
		}
	}
	return p, nil
}

// inlineKind names a column whose common value appendRow encodes without calling its
// fieldEncoder.
type inlineKind uint8

const (
	inlineNone    inlineKind = iota
	inlineInt8               // an int64 in a bigint
	inlineText               // a string in text (no typmod to check)
	inlineMicros             // a time.Time in a timestamp or timestamptz
	inlineBool               // a bool in a boolean
	inlineNumeric            // an etl.Decimal in a plain form (see appendPlainNumeric) in a numeric
)

// inlineKinds gives each stream column its inline kind. A varchar or char column, whose
// length the encoder checks, keeps its encoder; numeric columns are set by planCopy,
// which also notes their modifier.
func inlineKinds(schema etl.Schema, byName map[string]targetColumn) []inlineKind {
	kinds := make([]inlineKind, len(schema))
	for i, sc := range schema {
		switch tc := byName[sc.Name]; tc.Receive {
		case "int8recv":
			kinds[i] = inlineInt8
		case "textrecv":
			kinds[i] = inlineText
		case "timestamptz_recv", "timestamp_recv":
			kinds[i] = inlineMicros
		case "boolrecv":
			kinds[i] = inlineBool
		}
	}
	return kinds
}

// copySQL returns the COPY statement for the plan into table into (the target itself or a
// stage shaped like it).
func (p *copyPlan) copySQL(into tableRef, freeze bool) string {
	var b strings.Builder
	b.WriteString("COPY ")
	b.WriteString(into.sql())
	b.WriteString(" (")
	for i, c := range p.columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{c}.Sanitize())
	}
	if p.ordinal {
		b.WriteString(", ")
		b.WriteString(pgx.Identifier{p.ordinalName}.Sanitize())
	}
	b.WriteString(") FROM STDIN (FORMAT binary")
	if freeze {
		b.WriteString(", FREEZE")
	}
	b.WriteString(")")
	return b.String()
}

var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// appendRow appends one tuple: a field count, then per field a length (-1 for NULL) and the
// value's bytes. n is the row's position, for errors.
func (p *copyPlan) appendRow(buf []byte, row etl.Row, n int64) ([]byte, error) {
	if len(row) != len(p.enc) {
		return buf, &ValueError{Table: p.table.String(), Row: n, Err: fmt.Errorf("row has %d values, the stream's schema %d columns", len(row), len(p.enc))}
	}
	start := len(buf)
	fields := len(p.enc)
	if p.ordinal {
		fields++
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(fields))
	for i, v := range row {
		if v == nil {
			buf = binary.BigEndian.AppendUint32(buf, 0xFFFFFFFF)
			continue
		}
		if i < len(p.kinds) {
			// The same bytes as enc[i] gives for these values (TestInlineKindsMatchEncoders),
			// without the call and the length patched in afterwards.
			switch p.kinds[i] {
			case inlineInt8:
				if n, ok := v.(int64); ok {
					buf = binary.BigEndian.AppendUint32(buf, 8)
					buf = binary.BigEndian.AppendUint64(buf, uint64(n))
					continue
				}
			case inlineText:
				if s, ok := v.(string); ok && len(s) < 1<<30 && strings.IndexByte(s, 0) < 0 {
					buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
					buf = append(buf, s...)
					continue
				}
			case inlineMicros:
				if t, ok := v.(time.Time); ok {
					buf = binary.BigEndian.AppendUint32(buf, 8)
					buf = binary.BigEndian.AppendUint64(buf, uint64(micros(t)))
					continue
				}
			case inlineNumeric:
				if d, ok := v.(etl.Decimal); ok {
					at := len(buf)
					if out, intDigits, frac, ok := plainNumeric(append(buf, 0, 0, 0, 0), string(d)); ok {
						// A value that needs no rounding and has no more integer digits
						// than the modifier allows fits; the rest are checked digit by digit.
						prec, scale := p.precision[i], p.scale[i]
						if prec < 0 || (frac <= scale && intDigits <= prec-scale) || checkNumericTypmod(out[at+4:], prec, scale) == nil {
							binary.BigEndian.PutUint32(out[at:], uint32(len(out)-at-4))
							buf = out
							continue
						}
						buf = out[:at] // the encoder says what is wrong
					}
				}
			case inlineBool:
				if b, ok := v.(bool); ok {
					buf = binary.BigEndian.AppendUint32(buf, 1)
					if b {
						buf = append(buf, 1)
					} else {
						buf = append(buf, 0)
					}
					continue
				}
			}
		}
		at := len(buf)
		buf = append(buf, 0, 0, 0, 0)
		var err error
		buf, err = p.enc[i](buf, v)
		if err != nil {
			return buf[:start], &ValueError{Table: p.table.String(), Row: n, Column: p.columns[i], Value: clipValue(v), Err: err}
		}
		size := len(buf) - at - 4
		if size > 1<<30-1 {
			return buf[:start], &ValueError{Table: p.table.String(), Row: n, Column: p.columns[i], Err: errors.New("value is larger than 1 GiB")}
		}
		binary.BigEndian.PutUint32(buf[at:], uint32(size))
	}
	if p.ordinal {
		buf = binary.BigEndian.AppendUint32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	return buf, nil
}

// chunkSize is how many encoded bytes the encoder hands to CopyFrom at once; the
// encoder's memory stays under a megabyte whatever the row count.
const chunkSize = 128 << 10

// copyIn streams rows into table into with a binary COPY and returns the rows the server
// stored. The rows are read, encoded and written to the connection on one goroutine, the
// one pgconn's CopyFrom reads its data on (see rowReader); the socket's buffer is what lets the client's work overlap
// the server's. An error from the stream (a bad CSV line, say) aborts the COPY and is
// returned as is, not as the server's "COPY failed" message.
//
// A value the encoder refuses, and an error PostgreSQL raises about a row of the COPY, is
// a *ValueError naming the row and, when the stream tells where its rows came from, the
// input and line.
func (p *copyPlan) copyIn(ctx context.Context, conn *pgconn.PgConn, into tableRef, freeze bool, in etl.Stream) (int64, error) {
	track := origin.New(in)
	rr := newRowReader(p, in.Rows, track)
	tag, err := conn.CopyFrom(ctx, rr, p.copySQL(into, freeze))
	rerr := rr.close()
	if rr.panicked != nil {
		// Raised again here, on the loader's goroutine, once the COPY has been abandoned
		// cleanly: the load's deferred rollback and lock release run, and a caller that
		// recovers (the DAG runner does) fails one task instead of losing the process.
		panic(rr.panicked)
	}
	if rerr != nil && rerr != io.EOF && rerr != errStopped {
		var ve *ValueError
		if errors.As(rerr, &ve) {
			locate(ve, track)
		}
		return 0, rerr
	}
	if err != nil {
		if ve := p.serverValueError(err, track); ve != nil {
			return 0, ve
		}
		return 0, fmt.Errorf("copy into %s: %w", into, err)
	}
	return tag.RowsAffected(), nil
}

// locate fills in where the error's row came from.
func locate(ve *ValueError, track *origin.Tracker) {
	if pos, ok := track.Locate(ve.Row); ok {
		ve.Source, ve.Line = pos.Source, pos.Line
	}
}

// copyContext finds the row, and the column if any, in the context PostgreSQL gives an
// error raised during a COPY: "COPY t, line 5, column v" (for a binary COPY the line is
// the row's number) or "COPY t, line 5".
var copyContext = regexp.MustCompile(`(?m)^COPY .*, line (\d+)(?:, column (.*))?$`)

// serverValueError turns an error PostgreSQL raised about one row of the COPY into a
// *ValueError naming that row, its source line and its column, or returns nil.
func (p *copyPlan) serverValueError(err error, track *origin.Tracker) *ValueError {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return nil
	}
	m := copyContext.FindAllStringSubmatch(pe.Where, -1)
	if m == nil {
		return nil
	}
	last := m[len(m)-1]
	row, perr := strconv.ParseInt(last[1], 10, 64)
	if perr != nil {
		return nil
	}
	ve := &ValueError{Table: p.table.String(), Row: row, Err: err}
	if col := last[2]; col != "" {
		// The column is followed by ": value" in text COPY contexts; match the plan's
		// names rather than parse a name that may hold anything.
		for _, c := range p.columns {
			if (col == c || strings.HasPrefix(col, c+": ")) && len(c) > len(ve.Column) {
				ve.Column = c
			}
		}
	}
	if ve.Column == "" && pe.ColumnName != "" {
		ve.Column = pe.ColumnName
	}
	locate(ve, track)
	return ve
}

// clipValue formats v for an error, cut to max bytes (64 when not given) on a character
// boundary.
func clipValue(v any, max ...int) string {
	limit := 64
	if len(max) > 0 {
		limit = max[0]
	}
	var s string
	switch x := v.(type) {
	case string:
		s = strings.Clone(x) // x may be lent (see etl.LendingExtractor); the error outlives it
	case []byte:
		s = string(x)
	case etl.Decimal:
		s = strings.Clone(string(x))
	case time.Time:
		s = x.Format(time.RFC3339Nano)
	default:
		s = fmt.Sprint(v)
	}
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// errStopped marks a reader closed because the COPY ended before the stream; the COPY's
// own error is the one to report.
var errStopped = errors.New("copy ended before the stream")

// errPanicked aborts a COPY whose stream panicked; the panic itself is raised again by
// copyIn.
var errPanicked = errors.New("the stream panicked")

// rowReader is the io.Reader that pgconn's CopyFrom reads the COPY's data from. Each Read
// that finds its chunk used up resumes a coroutine (iter.Pull) that ranges over the rows
// and encodes them until the next chunk is full, so the stream is read, encoded and sent
// by CopyFrom's one goroutine, switching once a chunk rather than once a row. Encoding on
// a goroutine of its own, a chunk ahead, cost more client CPU in the hand-offs between
// the two threads than the overlap saved: the server is the slower side, and the
// socket's buffer already keeps it fed while the client encodes.
type rowReader struct {
	// mu serialises Read with close: CopyFrom can return on a server error while its
	// goroutine is still in Read.
	mu   sync.Mutex
	next func() ([]byte, bool)
	stop func()
	err  error // set by the coroutine: io.EOF after the trailer, or the first failure
	// panicked holds what the stream panicked with, if it did. The coroutine recovers it,
	// so that it does not unwind through pgconn's goroutine, which would end the process.
	panicked any
	cur      []byte
	off      int
	closed   bool
}

func newRowReader(p *copyPlan, rows iter.Seq2[etl.Row, error], track *origin.Tracker) *rowReader {
	r := &rowReader{}
	r.next, r.stop = iter.Pull(func(yield func([]byte) bool) {
		defer func() {
			if p := recover(); p != nil {
				r.panicked, r.err = p, errPanicked
			}
		}()
		buf := append(make([]byte, 0, chunkSize+chunkSize/4), copyHeader...)
		var n int64
		for row, err := range rows {
			if err != nil {
				r.err = err
				return
			}
			n++
			track.Next()
			if buf, err = p.appendRow(buf, row, n); err != nil {
				r.err = err
				return
			}
			if len(buf) >= chunkSize {
				if !yield(buf) {
					r.err = errStopped
					return
				}
				buf = buf[:0] // Read has copied all of it out
			}
		}
		if !yield(binary.BigEndian.AppendUint16(buf, 0xFFFF)) {
			r.err = errStopped
			return
		}
		r.err = io.EOF
	})
	return r
}

// Read implements io.Reader for pgconn's CopyFrom.
func (r *rowReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.off == len(r.cur) {
		if r.closed {
			return 0, errStopped
		}
		c, ok := r.next()
		if !ok {
			return 0, r.err // every way out of the coroutine sets it
		}
		r.cur, r.off = c, 0
	}
	n := copy(p, r.cur[r.off:])
	r.off += n
	return n, nil
}

// close stops the coroutine, which ends the stream's iteration (closing what the source
// opened) if the COPY ended before it, and returns the reader's outcome: io.EOF when
// every row was sent, errStopped when the COPY stopped first, or the stream's or the
// encoder's error.
func (r *rowReader) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.stop()
	if r.err == nil {
		return errStopped
	}
	return r.err
}
