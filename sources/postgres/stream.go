package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/watermark"
)

// plan is what Extract learned from describing the source: how to fetch and decode each
// result column.
type plan struct {
	schema     etl.Schema
	names      []string // the data columns, as selected
	wires      []wire   // per result column: the data columns, then the cursor
	oids       []uint32
	formats    pgx.QueryResultFormats
	cursor     int // result index of the cursor, -1 without one
	cursorKind cursorKind
	windowKind cursorKind
	// declaredCursor is the stream column that holds the cursor: CursorAs, or Cursor when
	// it names a column of the stream; "" when the cursor is an expression not streamed.
	declaredCursor string
}

// plan describes the source's SELECT without running it.
func (s *Source) plan(ctx context.Context) (*plan, error) {
	cfg := &s.cfg
	fail := func(col string, err error) (*plan, error) {
		return nil, &Error{Source: s.name(), Column: col, Err: err}
	}
	cols := slices.Clone(cfg.Columns)
	if del := cfg.Deleted; del != "" && len(cols) > 0 && !slices.Contains(cols, del) {
		cols = append(cols, del)
	}
	var probes []string
	if cfg.Cursor != "" {
		probes = append(probes, cfg.Cursor)
	}
	if cfg.WindowColumn != "" {
		probes = append(probes, cfg.WindowColumn)
	}
	describe := selectSQL{from: s.from(), cols: cols, probes: probes}
	if cfg.Where != "" {
		describe.where = []string{cfg.Where} // so that a bad predicate fails here too
	}

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fail("", fmt.Errorf("connect: %w", err))
	}
	sd, err := conn.Conn().PgConn().Prepare(ctx, "", describe.String(), nil)
	var notNull map[[2]uint32]bool
	if err == nil && cfg.Table != "" {
		// Only a table's own columns: in a query, an outer join can put NULLs in a column
		// that is NOT NULL in its table.
		notNull, err = notNullColumns(ctx, conn.Conn(), sd.Fields)
	}
	conn.Release()
	if err != nil {
		return fail("", fmt.Errorf("describe: %w", err))
	}
	if len(sd.ParamOIDs) > 0 {
		return fail("", fmt.Errorf("the query has %d parameter(s); sources take none", len(sd.ParamOIDs)))
	}

	n := len(sd.Fields) - len(probes)
	p := &plan{cursor: -1}
	for _, f := range sd.Fields[:n] {
		w := wireFor(f.DataTypeOID)
		if want, ok := cfg.Types[f.Name]; ok && want != w.typ {
			switch {
			case want == etl.TypeText:
				w = wire{kind: kindText, typ: etl.TypeText, format: pgx.TextFormatCode}
			case want == etl.TypeJSON && w.typ == etl.TypeText:
				w.typ = etl.TypeJSON
			default:
				return fail(f.Name, fmt.Errorf("cannot read a column of type OID %d as %s (read it as text, or cast it in a Query)", f.DataTypeOID, want))
			}
		}
		p.names = append(p.names, f.Name)
		p.wires = append(p.wires, w)
		p.oids = append(p.oids, f.DataTypeOID)
		p.schema = append(p.schema, etl.Column{Name: f.Name, Type: w.typ,
			NotNull: notNull[[2]uint32{f.TableOID, uint32(f.TableAttributeNumber)}]})
	}
	for name := range cfg.Types {
		if !slices.Contains(p.names, name) {
			return fail(name, fmt.Errorf("the Types override names a column that is not read"))
		}
	}
	probe := sd.Fields[n:]
	if cfg.Cursor != "" {
		f := probe[0]
		probe = probe[1:]
		k, err := cursorKindFor(f.DataTypeOID)
		if err != nil {
			return fail(cfg.Cursor, fmt.Errorf("cursor: %w", err))
		}
		if cfg.LookBack > 0 && !k.isTime() {
			return fail(cfg.Cursor, fmt.Errorf("LookBack needs a timestamp or date cursor"))
		}
		w := wireFor(f.DataTypeOID)
		p.cursor, p.cursorKind = len(p.wires), k
		p.wires = append(p.wires, w)
		p.oids = append(p.oids, f.DataTypeOID)
		if cfg.CursorAs != "" {
			p.schema = append(p.schema, etl.Column{Name: cfg.CursorAs, Type: w.typ})
		}
	}
	if cfg.WindowColumn != "" {
		k, err := cursorKindFor(probe[0].DataTypeOID)
		if err == nil && !k.isTime() {
			err = fmt.Errorf("type OID %d is not a timestamp or date", probe[0].DataTypeOID)
		}
		if err != nil {
			return fail(cfg.WindowColumn, fmt.Errorf("window column: %w", err))
		}
		p.windowKind = k
	}
	if err := p.schema.Validate(); err != nil {
		return fail("", err)
	}
	if del := cfg.Deleted; del != "" {
		// The sinks read any column that is not NULL as a delete; a typo naming an integer
		// flag or a text column would delete every row, so only the types that read
		// unambiguously are accepted.
		i := p.schema.Index(del)
		switch {
		case i < 0:
			return fail(del, fmt.Errorf("the soft-delete column is not in the result"))
		case p.schema[i].Type != etl.TypeBool && p.schema[i].Type != etl.TypeTimestamp && p.schema[i].Type != etl.TypeDate:
			return fail(del, fmt.Errorf("the soft-delete column (Deleted) must be a boolean (true when deleted) or a timestamp or date (not NULL when deleted), not %s", p.schema[i].Type))
		}
	}
	switch {
	case cfg.CursorAs != "":
		p.declaredCursor = cfg.CursorAs
	case cfg.Cursor != "" && p.schema.Index(cfg.Cursor) >= 0:
		p.declaredCursor = cfg.Cursor
	}
	for _, w := range p.wires {
		p.formats = append(p.formats, w.format)
	}
	return p, nil
}

// notNullColumns returns which of the result's columns come from a table column declared
// NOT NULL, keyed by table OID and column number, so that the schema tells a sink
// that creates the target. Computed columns are taken as nullable.
func notNullColumns(ctx context.Context, conn *pgx.Conn, fields []pgconn.FieldDescription) (map[[2]uint32]bool, error) {
	var tables []uint32
	for _, f := range fields {
		if f.TableOID != 0 && !slices.Contains(tables, f.TableOID) {
			tables = append(tables, f.TableOID)
		}
	}
	if len(tables) == 0 {
		return nil, nil
	}
	rows, err := conn.Query(ctx, `SELECT attrelid, attnum FROM pg_catalog.pg_attribute
		WHERE attrelid = ANY($1::oid[]) AND attnum > 0 AND attnotnull`, tables)
	if err != nil {
		return nil, err
	}
	out := make(map[[2]uint32]bool)
	var rel uint32
	var num int16
	_, err = pgx.ForEachRow(rows, []any{&rel, &num}, func() error {
		out[[2]uint32{rel, uint32(num)}] = true
		return nil
	})
	return out, err
}

// read is one stream's SQL and arguments, decided when the stream starts.
type read struct {
	sql         string
	args        []any
	incremental bool // reads by cursor and advances the watermark
	stored      any  // the stored watermark, coerced to the cursor's kind; nil for none
}

// read builds the stream's query from the plan, the run's window and its watermark.
func (s *Source) read(run *etl.Run, p *plan) (read, error) {
	cfg := &s.cfg
	q := selectSQL{from: s.from(), cols: p.names}
	if p.cursor >= 0 {
		q.probes = []string{cfg.Cursor}
	}
	if cfg.Where != "" {
		q.where = append(q.where, cfg.Where)
	}
	var w etl.Window
	if run != nil {
		w = run.Window
	}
	r := read{}
	attrs := []any{slog.String("source", s.name())}
	switch {
	case cfg.WindowColumn != "" && !w.IsZero():
		var args []any
		if !w.Start.IsZero() {
			args = append(args, w.Start.UTC())
		}
		if !w.End.IsZero() {
			args = append(args, w.End.UTC())
		}
		pred, _ := bounds(cfg.WindowColumn, p.windowKind, 1, ">=", !w.Start.IsZero(), !w.End.IsZero(), false, false)
		q.where = append(q.where, pred)
		r.args = args
		attrs = append(attrs, slog.String("window", w.String()))
	case p.cursor >= 0:
		r.incremental = true
		var lower any
		if run != nil {
			if v, ok := run.Watermark(); ok {
				stored, err := coerceWatermark(v, p.cursorKind)
				if err != nil {
					return r, &Error{Source: s.name(), Column: cfg.Cursor, Err: fmt.Errorf("stored watermark: %w", err)}
				}
				r.stored, lower = stored, stored
				if t, ok := stored.(time.Time); ok {
					lower = t.Add(-cfg.LookBack)
				}
				r.args = append(r.args, lower)
			}
		}
		if !w.End.IsZero() {
			r.args = append(r.args, w.End.UTC())
		}
		atNow := p.cursorKind.isTime() && !cfg.NoUpperBound
		pred, _ := bounds(cfg.Cursor, p.cursorKind, 1, ">", lower != nil, !w.End.IsZero(), atNow, true)
		if pred != "" {
			q.where = append(q.where, pred)
		}
		if p.cursorKind == cursorText {
			// Only the server knows its collation's order, so the last row is the highest.
			// Other kinds are compared here: sorting 200k changed rows of 2M costs the
			// server more than reading them (an external merge at the default work_mem).
			q.orderBy = p.cursor + 1
		}
		attrs = append(attrs, slog.Any("watermark", r.stored), slog.Any("from", lower), slog.Time("window_end", w.End))
	}
	r.sql = q.String()
	log := cfg.Logger
	if log == nil && run != nil {
		log = run.Log()
	}
	if log != nil {
		log.Debug("postgres source: reading", attrs...)
	}
	return r, nil
}

// ctxCheckEvery is how many rows pass between checks of the context, on top of pgx's own.
const ctxCheckEvery = 1024

func (s *Source) stream(ctx context.Context, run *etl.Run, p *plan, yield func(etl.Row, error) bool) {
	fail := func(col string, err error) {
		yield(nil, &Error{Source: s.name(), Column: col, Err: err})
	}
	r, err := s.read(run, p)
	if err != nil {
		yield(nil, err)
		return
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := append([]any{pgx.QueryExecModeDescribeExec, p.formats}, r.args...)
	rows, err := s.pool.Query(qctx, r.sql, args...)
	if err != nil {
		fail("", err)
		return
	}
	finished := false
	defer func() {
		if !finished && ctx.Err() == nil {
			stopEarly(ctx, rows, cancel)
		}
		rows.Close()
	}()
	fds := rows.FieldDescriptions()
	if len(fds) != len(p.wires) {
		fail("", fmt.Errorf("the result has %d columns, %d when described: the table changed", len(fds), len(p.wires)))
		return
	}
	for i, fd := range fds {
		if fd.DataTypeOID != p.oids[i] || fd.Format != p.wires[i].format {
			fail(fd.Name, fmt.Errorf("the column's type changed since Extract described it"))
			return
		}
	}

	n := len(p.names)
	row := make(etl.Row, len(p.schema))
	checkNulls := r.incremental && s.cfg.NullCursor == NullCursorError
	var (
		last    any
		nulls   int64
		samples []string
		seen    int
	)
	for rows.Next() {
		if seen++; seen%ctxCheckEvery == 0 && ctx.Err() != nil {
			fail("", ctx.Err())
			return
		}
		raw := rows.RawValues()
		var cur any
		if p.cursor >= 0 {
			if cur, err = decode(p.wires[p.cursor].kind, raw[p.cursor]); err != nil {
				fail(s.cfg.Cursor, err)
				return
			}
		}
		if checkNulls && cur == nil {
			nulls++
			if len(samples) < 5 {
				v, _ := decode(p.wires[0].kind, raw[0])
				samples = append(samples, fmt.Sprintf("%s=%v", p.names[0], v))
			}
			continue
		}
		if nulls > 0 {
			continue // the stream will fail: only count the rest
		}
		for i := range n {
			if row[i], err = decode(p.wires[i].kind, raw[i]); err != nil {
				fail(p.names[i], err)
				return
			}
		}
		if s.cfg.CursorAs != "" {
			row[n] = cur
		}
		if cur != nil && (last == nil || greater(cur, last)) {
			last = cur
		}
		if !yield(row, nil) {
			return
		}
	}
	finished = rows.Err() == nil
	if nulls > 0 {
		yield(nil, &NullCursorRowsError{Source: s.name(), Cursor: s.cfg.Cursor, Count: nulls, Samples: samples})
		return
	}
	if err := rows.Err(); err != nil {
		fail("", err)
		return
	}
	if r.incremental && run != nil && last != nil && (r.stored == nil || greater(last, r.stored)) {
		run.Advance(last)
	}
}

// stopEarly stops a query whose rows the consumer no longer wants, so that closing the
// rows does not read the rest of the table. It asks the server to cancel the query and
// lets Close drain what is already in flight, which keeps the connection for the pool. If
// the cancel request cannot be sent, it cancels the query's context instead: pgx then
// drops the connection, and the pool opens a new one when needed.
func stopEarly(ctx context.Context, rows pgx.Rows, cancelQuery context.CancelFunc) {
	cctx, done := context.WithTimeout(context.WithoutCancel(ctx), cancelRequestTimeout)
	defer done()
	if err := rows.Conn().PgConn().CancelRequest(cctx); err != nil {
		cancelQuery()
	}
}

// cancelRequestTimeout bounds the separate connection a cancel request opens.
const cancelRequestTimeout = 5 * time.Second

// greater reports whether cursor value a is above b. Text cursors come ordered by the
// server's collation, so a later one is always greater.
func greater(a, b any) bool {
	if _, text := a.(string); !text {
		if c, ok := watermark.Compare(a, b); ok {
			return c > 0
		}
	}
	// Text cursors, and any cursor against the stored watermark when there is no LookBack:
	// the server has already compared them.
	return true
}

// coerceWatermark turns a stored watermark into the Go value bound for the cursor's kind:
// int64, a decimal's text, time.Time in UTC, or a string. Sinks may hand back a string
// for any kind, as they would after a round trip through text.
func coerceWatermark(v any, k cursorKind) (any, error) {
	switch k {
	case cursorInt:
		switch v := v.(type) {
		case int64:
			return v, nil
		case int:
			return int64(v), nil
		case int32:
			return int64(v), nil
		case float64:
			if v == float64(int64(v)) {
				return int64(v), nil
			}
		case string:
			return strconv.ParseInt(v, 10, 64)
		case etl.Decimal:
			return strconv.ParseInt(string(v), 10, 64)
		}
	case cursorDecimal:
		switch v := v.(type) {
		case etl.Decimal:
			return string(v), nil
		case string:
			return v, nil
		case int64:
			return strconv.FormatInt(v, 10), nil
		case int:
			return strconv.Itoa(v), nil
		}
	case cursorTimestamptz, cursorTimestamp, cursorDate:
		switch v := v.(type) {
		case time.Time:
			return v.UTC(), nil
		case string:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, err
			}
			return t.UTC(), nil
		}
	case cursorText:
		switch v := v.(type) {
		case string:
			return v, nil
		case etl.Decimal:
			return string(v), nil
		}
	}
	return nil, fmt.Errorf("a %T (%v) cannot bound this cursor", v, v)
}
