package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/lineage"
)

// NullCursorPolicy says what an incremental stream does with rows whose cursor is NULL.
// Such rows are never skipped silently.
type NullCursorPolicy uint8

const (
	// NullCursorError fails the stream with a [*NullCursorRowsError] that counts the rows
	// and names some of them. It is the default. The stream stops yielding at the first
	// such row and reads on only to count them; the sink rolls back what it staged.
	NullCursorError NullCursorPolicy = iota
	// NullCursorAlways loads rows with a NULL cursor on every sync, whatever the watermark
	// and the window: the query reads "... OR cursor IS NULL". It suits a handful of
	// such rows; many of them make every sync re-read them all.
	NullCursorAlways
)

// Config says what a [Source] reads. Exactly one of Table and Query is required; every
// other field may be left zero.
type Config struct {
	// Schema is the table's schema. Defaults to the connection's search_path. Ignored with
	// Query.
	Schema string
	// Table is the table (or view) to read. It is quoted, so any name is allowed. Defaults
	// to none: set Table or Query.
	Table string
	// Query is a read-only SELECT to read instead of a table, such as a join. It is SQL text
	// written by the developer and run as given, wrapped as a subquery: never build it from
	// end-user input. Defaults to none: set Table or Query.
	Query string
	// QueryName names Query in errors and lineage. Defaults to "query".
	QueryName string

	// Columns lists the columns to read, in order. Defaults to all columns of the table or
	// query. The soft-delete column is added when it is not listed.
	Columns []string
	// Types overrides the inferred type of some columns. A column may be read as
	// [etl.TypeText] whatever its type (it comes in PostgreSQL's text form), and a text
	// column as [etl.TypeJSON]; other overrides are errors. Defaults to the types inferred
	// from the result's columns (see the package documentation).
	Types map[string]etl.Type
	// Where is an SQL predicate, written by the developer, that scopes every read (and the
	// [Source.Keys] stream), such as "tenant_id = 7". Never build it from end-user input.
	// Defaults to none: all rows.
	Where string

	// Cursor turns on incremental extraction: a column name or an SQL expression written by
	// the developer, such as "modified" or "coalesce(modified, created)", of an integer,
	// numeric, timestamp, date or text type. Each stream reads rows with
	// cursor > watermark - LookBack and advances the run's watermark to the highest cursor
	// it yielded. A bare column name is used as given (unquoted), like
	// any expression. Defaults to none: every stream reads all rows in scope.
	Cursor string
	// CursorAs adds the cursor's value to the stream as a column of this name, for a sink
	// that deduplicates by cursor when Cursor is an expression. Defaults to none.
	CursorAs string
	// LookBack re-reads rows whose cursor is up to this long before the watermark, to catch
	// rows that committed late with an older cursor value (a long transaction stamps
	// modified at its start). Re-reading is safe because the merge is idempotent. It needs
	// a time cursor. Defaults to 0: only rows strictly past the watermark; 5 minutes, or
	// your longest write transaction, is a sensible setting.
	LookBack time.Duration
	// NoUpperBound lifts the implicit upper bound cursor <= now() that a time cursor gets
	// when the run has no window end. Defaults to false: a row dated in the future waits
	// for its time, instead of moving the watermark past rows that are still to come.
	NoUpperBound bool
	// NullCursor says what to do with rows whose cursor is NULL. Defaults to
	// [NullCursorError].
	NullCursor NullCursorPolicy

	// WindowColumn makes a run with a non-zero [etl.Window] read exactly the rows with
	// Start <= WindowColumn < End: the rows a window-replace sink replaces in a backfill.
	// It is a column name or an expression of a timestamp or date type. Such a run neither
	// reads nor advances the watermark. Defaults to none: a window's End bounds the cursor,
	// and its Start is ignored (the watermark is the lower bound).
	WindowColumn string

	// Deleted names the soft-delete column: a boolean that is true, or a timestamp or date
	// (a deleted_at) that is not NULL, for a row deleted at the source. It is always in the
	// stream, even when Columns leaves it out, and the stream declares it
	// (etl.Stream.Deleted), so a sink's merge applies the deletes without being told the
	// column again. Defaults to none.
	Deleted string

	// Logger receives debug logs of each read's bounds. Defaults to the run's logger.
	Logger *slog.Logger
}

// Source reads a PostgreSQL table or query as an [etl.Stream]. It implements
// [etl.Extractor] and [etl.Lineage]. A Source is safe for concurrent use; each call to
// [Source.Extract] returns an independent single-use stream.
type Source struct {
	pool  *pgxpool.Pool
	owned bool
	cfg   Config
	err   error // a configuration error, returned by Extract
}

var _ etl.Extractor = (*Source)(nil)
var _ etl.Lineage = (*Source)(nil)

// New returns a Source that reads through pool as cfg says. The pool stays the caller's.
func New(pool *pgxpool.Pool, cfg Config) (*Source, error) {
	if pool == nil {
		return nil, errors.New("postgres source: nil pool")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Source{pool: pool, cfg: cfg}, nil
}

// Open connects a pool to dsn and returns a Source that owns it; [Source.Close] closes
// it. Errors never include the DSN's password.
func Open(ctx context.Context, dsn string, cfg Config) (*Source, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords only on a best-effort basis, and keeps the whole string
		// in its error: neither is passed on.
		return nil, errors.New("postgres source: cannot parse the connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres source %s: connect: %w", redactedAddr(pc.ConnConfig.Host, pc.ConnConfig.Port), err)
	}
	return &Source{pool: pool, owned: true, cfg: cfg}, nil
}

// Close closes the pool when the Source opened it with [Open]; otherwise it does nothing.
func (s *Source) Close() {
	if s.owned {
		s.pool.Close()
	}
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("postgres source: config: "+format, args...)
	}
	switch {
	case c.Table == "" && c.Query == "":
		return bad("set Table or Query")
	case c.Table != "" && c.Query != "":
		return bad("set only one of Table (%q) and Query", c.Table)
	case c.LookBack < 0:
		return bad("LookBack %s is negative", c.LookBack)
	case c.LookBack > 0 && c.Cursor == "":
		return bad("LookBack needs a Cursor")
	case c.CursorAs != "" && c.Cursor == "":
		return bad("CursorAs needs a Cursor")
	case c.NullCursor > NullCursorAlways:
		return bad("unknown NullCursor policy %d", c.NullCursor)
	}
	if c.Table != "" {
		if err := validName("Table", c.Table); err != nil {
			return bad("%v", err)
		}
		if c.Schema != "" {
			if err := validName("Schema", c.Schema); err != nil {
				return bad("%v", err)
			}
		}
	}
	for i, col := range c.Columns {
		if err := validName("column "+strconv.Itoa(i+1), col); err != nil {
			return bad("%v", err)
		}
	}
	for _, f := range []struct{ what, v string }{
		{"Deleted", c.Deleted}, {"CursorAs", c.CursorAs},
	} {
		if f.v != "" {
			if err := validName(f.what, f.v); err != nil {
				return bad("%v", err)
			}
		}
	}
	return nil
}

// name names the source in errors: "schema.table", "table" or the query's name.
func (s *Source) name() string {
	switch {
	case s.cfg.Query != "" && s.cfg.QueryName != "":
		return s.cfg.QueryName
	case s.cfg.Query != "":
		return "query"
	case s.cfg.Schema != "":
		return s.cfg.Schema + "." + s.cfg.Table
	}
	return s.cfg.Table
}

// from returns the FROM item: the quoted table, or the query as an aliased subquery.
func (s *Source) from() string {
	if s.cfg.Query != "" {
		// A trailing semicolon would end the statement early, and a trailing -- comment
		// would swallow the closing parenthesis.
		q := strings.TrimRight(s.cfg.Query, "; \t\r\n")
		return "(" + q + "\n) AS " + subqueryAlias
	}
	return relation(s.cfg.Schema, s.cfg.Table)
}

// Keys returns an extractor that streams only the columns keyCols of the same table or
// query, for a sink's hard-delete reconciliation: target rows whose key is not in this
// stream were deleted at the source. The stream is scoped by the source's Where and, when
// not empty, by where, a developer-written SQL predicate such as
// "created >= now() - interval '30 days'"; it ignores the cursor, the watermark and the
// run's window.
//
// Its cost is a full scan of the keys in scope on every call: a sequential scan of the
// table, or an index-only scan when an index covers keyCols and the predicate. Keep the
// scope as narrow as the data allows. A configuration error is returned by Extract.
func (s *Source) Keys(keyCols []string, where string) *Source {
	k := &Source{pool: s.pool, cfg: Config{
		Schema:    s.cfg.Schema,
		Table:     s.cfg.Table,
		Query:     s.cfg.Query,
		QueryName: s.cfg.QueryName,
		Columns:   append([]string(nil), keyCols...),
		Types:     keyTypes(s.cfg.Types, keyCols),
		Where:     andWhere(s.cfg.Where, where),
		Logger:    s.cfg.Logger,
	}}
	if len(keyCols) == 0 {
		k.err = fmt.Errorf("postgres source %s: Keys needs at least one key column", s.name())
	} else if err := k.cfg.validate(); err != nil {
		k.err = err
	}
	return k
}

// keyTypes keeps the type overrides of the key columns.
func keyTypes(types map[string]etl.Type, keyCols []string) map[string]etl.Type {
	var out map[string]etl.Type
	for _, c := range keyCols {
		if t, ok := types[c]; ok {
			if out == nil {
				out = make(map[string]etl.Type)
			}
			out[c] = t
		}
	}
	return out
}

func andWhere(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return "(" + a + ") AND (" + b + ")"
}

// Datasets reports the table (or query) read, for lineage, following OpenLineage's
// naming for PostgreSQL: namespace "postgres://host:port" and name
// "database.schema.table" (or "database.<QueryName>"). With no Schema set, the schema is
// the first of the pool's search_path, else "public". It never includes the user or the
// password.
func (s *Source) Datasets() []etl.Dataset {
	cc := s.pool.Config().ConnConfig
	ds := etl.Dataset{Namespace: lineage.Postgres(cc.Host, cc.Port)}
	if s.cfg.Query != "" {
		qn := s.cfg.QueryName
		if qn == "" {
			qn = "query"
		}
		ds.Name = cc.Database + "." + qn
	} else {
		schema := s.cfg.Schema
		if schema == "" {
			schema = lineage.FirstSchema(cc.RuntimeParams["search_path"])
		}
		ds.Name = cc.Database + "." + schema + "." + s.cfg.Table
	}
	return []etl.Dataset{ds}
}

func redactedAddr(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

func firstSearchPath(sp string) string {
	for _, p := range strings.Split(sp, ",") {
		p = strings.TrimSpace(p)
		if p == "" || p == "$user" || p == `"$user"` {
			continue
		}
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			p = strings.ReplaceAll(p[1:len(p)-1], `""`, `"`)
		}
		return p
	}
	return "public"
}

// Extract describes the table or query (a prepare, plus a catalog read of NOT NULL
// columns for a table; either reports a missing table or column now rather than
// mid-load) and returns a lazy stream over it. The stream declares the soft-delete
// column (Deleted) and the cursor, when a column of the stream carries it (Cursor names
// one, or CursorAs adds it), for a sink's merge. The stream
// reads the run's watermark when iteration starts, so a sink can set it under its lock
// first. run may be nil: no watermark and no window.
func (s *Source) Extract(ctx context.Context, run *etl.Run) (etl.Stream, error) {
	if s.err != nil {
		return etl.Stream{}, s.err
	}
	p, err := s.plan(ctx)
	if err != nil {
		return etl.Stream{}, err
	}
	return etl.Stream{Schema: p.schema, Cursor: p.declaredCursor, Deleted: s.cfg.Deleted, Rows: func(yield func(etl.Row, error) bool) {
		s.stream(ctx, run, p, yield)
	}}, nil
}
