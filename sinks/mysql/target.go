package mysql

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/lineage"
	"github.com/sluice-etl/sluice/internal/load"
)

// Target is the table a loader writes and the policies every MySQL loader shares. Embed it
// in [FullRefresh], [Merge] or [WindowReplace].
type Target struct {
	// DB connects to the server. Required. A load holds one of its connections for the
	// whole load and closes it afterwards instead of returning it, since the load changes
	// the session's settings.
	DB *sql.DB
	// DSN is the data source name DB was opened with (go-sql-driver/mysql's form,
	// "user:password@tcp(host:3306)/database"), read only to name the table for lineage
	// (see [Target.Datasets]): a *sql.DB does not reveal which server and database it
	// reaches. The sink never connects with it, nor shows it. Defaults to "": the target
	// reports no dataset.
	DSN string
	// Schema is the database that holds the table. Defaults to the connection's current
	// database (the one the DSN names).
	Schema string
	// Table is the target table's name, unquoted; any name MySQL allows. Required.
	Table string
	// Create creates the table from the stream's schema when it is missing, with Key as
	// its primary key. MySQL commits CREATE TABLE at once, so a failed first load leaves
	// the new, empty table behind. Defaults to false: a missing table fails the load with
	// an error wrapping etl.ErrNoTable.
	Create bool
	// Key is the table's key: what a merge matches on, what checks.UniqueKey with no
	// columns checks, and the primary key of a created table. Defaults to the table's
	// primary key.
	Key []string
	// Checks run inside the load's transaction, before commit. Defaults to none.
	Checks []checks.Check
	// MetaSchema is the database that holds the sluice_runs and sluice_state tables,
	// created on first use. Defaults to Schema.
	MetaSchema string
	// LockWait bounds the wait for another run of the same pipeline to finish, rounded up
	// to whole seconds (GET_LOCK's unit). Defaults to 0: a second run fails at once with
	// an error wrapping etl.ErrLocked, which suits overlapping cron runs (the next run
	// catches up).
	LockWait time.Duration
}

// ErrNoKey is wrapped by the error of a merge whose table has no key: set Key or give the
// table a primary key.
var ErrNoKey = errors.New("merge needs a key")

func (t *Target) validate() error {
	switch {
	case t.DB == nil:
		return errors.New("mysql: loader has no DB")
	case t.Table == "":
		return errors.New("mysql: loader has no Table")
	}
	return nil
}

func (t *Target) meta() string {
	if t.MetaSchema != "" {
		return t.MetaSchema
	}
	return t.Schema
}

func (t *Target) dialect() dialect { return dialect{db: t.DB, meta: t.meta()} }

func (t *Target) name() string {
	if t.Schema == "" {
		return t.Table
	}
	return t.Schema + "." + t.Table
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
	key, err := primaryKey(ctx, t.DB, t.Schema, t.Table)
	if err != nil {
		return spec, fmt.Errorf("read primary key of %s: %w", t.name(), err)
	}
	spec.Key = key
	return spec, nil
}

// Datasets names the target table for lineage, following OpenLineage's naming for
// MySQL: namespace "mysql://{host}:{port}" and name "{database}.{table}", from DSN's
// address and Schema, else DSN's database. Names are kept as written. It returns nil when
// DSN is empty, does not parse, reaches the server through a Unix socket (no host), or
// names no database while Schema is empty: a dataset without its server or database would
// merge tables of different servers into one.
func (t *Target) Datasets() []etl.Dataset {
	if t.DSN == "" {
		return nil
	}
	cfg, err := mysqldriver.ParseDSN(t.DSN)
	if err != nil || cfg.Net != "tcp" {
		return nil
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil
	}
	database := cmp.Or(t.Schema, cfg.DBName)
	if database == "" {
		return nil
	}
	return []etl.Dataset{{Namespace: lineage.MySQL(host, uint16(n)), Name: database + "." + t.Table}}
}

// recordFailure writes the failed-run record of a run that never reached Load.
func (t *Target) recordFailure(ctx context.Context, kind string, run *etl.Run, stats etl.Stats, err error) error {
	if verr := t.validate(); verr != nil {
		return verr
	}
	return load.RecordFailure(ctx, t.dialect(), t.spec(false), kind, run, stats, err)
}

// column is one column of the target table, from information_schema.COLUMNS.
type column struct {
	Name      string
	DataType  string // DATA_TYPE, lower case: "int", "varchar", "decimal", ...
	Type      string // COLUMN_TYPE, as in "decimal(12,2) unsigned"
	Nullable  bool
	Scale     int // NUMERIC_SCALE, or -1
	Precision int // DATETIME_PRECISION, or -1
	Generated bool
	// MaxChars and MaxBytes are CHARACTER_MAXIMUM_LENGTH and CHARACTER_OCTET_LENGTH, or
	// 0 when the column has none; Charset is CHARACTER_SET_NAME, lower case, or "".
	MaxChars, MaxBytes int64
	Charset            string
}

// prepared is what every mode learns about the target at the start of its stage.
type prepared struct {
	schema string // the database, resolved
	table  string
	cols   []column
	key    []string
	plan   *loadPlan
}

func (p *prepared) name() string { return p.schema + "." + p.table }

func (p *prepared) sql() string { return qualify(p.schema, p.table) }

// column returns the table's column named name, compared as MySQL compares column names:
// without regard to case.
func (p *prepared) column(name string) (column, bool) {
	for _, c := range p.cols {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return column{}, false
}

// database returns the database that holds the table: Schema, or the connection's
// current one.
func (t *Target) database(ctx context.Context, tx *tx) (string, error) {
	if t.Schema != "" {
		return t.Schema, nil
	}
	rows, err := tx.QueryRows(ctx, "SELECT DATABASE()")
	if err != nil {
		return "", err
	}
	if len(rows) == 1 {
		if db, _ := rows[0][0].(string); db != "" {
			return db, nil
		}
	}
	return "", fmt.Errorf("table %s: no database selected: set Schema or name a database in the DSN", t.Table)
}

// ensureTable creates the table when it is missing and Create is set, or fails with
// etl.ErrNoTable. Every mode calls it first in the load's transaction (load.Preparer),
// so that what runs before the stage, such as the count of a checks.Shrink, finds the
// table: a first run has nothing to shrink from. CREATE TABLE commits the transaction,
// which has read nothing yet, and the load goes on in a new one.
func (t *Target) ensureTable(ctx context.Context, tx *tx, schema etl.Schema) error {
	if err := schema.Validate(); err != nil {
		return etl.WithStep("stage", fmt.Errorf("table %s: %w", t.name(), err))
	}
	db, err := t.database(ctx, tx)
	if err != nil {
		return etl.WithStep("stage", err)
	}
	kind, err := tableType(ctx, tx.conn, db, t.Table)
	if err != nil || kind != "" {
		return etl.WithStep("stage", err)
	}
	name := db + "." + t.Table
	if !t.Create {
		return etl.WithStep("stage", fmt.Errorf("table %s: %w (set Create to make it from the stream's schema)", name, etl.ErrNoTable))
	}
	coll, err := exactCollation(ctx, tx)
	if err != nil {
		return etl.WithStep("stage", err)
	}
	if err := tx.ddl(ctx, createTableSQL(qualify(db, t.Table), schema, t.Key, coll)); err != nil {
		return etl.WithStep("stage", fmt.Errorf("create table %s: %w", name, err))
	}
	return nil
}

// tableMaker is embedded in every mode: its Prepare makes sure the table exists.
type tableMaker struct {
	t      *Target
	schema etl.Schema
}

// Prepare implements load.Preparer.
func (m tableMaker) Prepare(ctx context.Context, ltx load.Tx, _ *etl.Run) error {
	t, err := asTx(ltx)
	if err != nil {
		return err
	}
	return m.t.ensureTable(ctx, t, m.schema)
}

// prepare looks the table up, plans the LOAD DATA of the stream and settles the key. It
// runs inside the load's transaction, after [Target.ensureTable].
func (t *Target) prepare(ctx context.Context, tx *tx, schema etl.Schema) (*prepared, error) {
	if err := schema.Validate(); err != nil {
		return nil, fmt.Errorf("table %s: %w", t.name(), err)
	}
	db, err := t.database(ctx, tx)
	if err != nil {
		return nil, err
	}
	p := &prepared{schema: db, table: t.Table}
	kind, err := tableType(ctx, tx.conn, db, t.Table)
	if err != nil {
		return nil, fmt.Errorf("look up table %s: %w", p.name(), err)
	}
	switch kind {
	case "":
		return nil, fmt.Errorf("table %s: %w (set Create to make it from the stream's schema)", p.name(), etl.ErrNoTable)
	case "BASE TABLE":
	default:
		return nil, fmt.Errorf("table %s is a %s, not a table", p.name(), strings.ToLower(kind))
	}
	if p.cols, err = tableColumns(ctx, tx.conn, db, t.Table); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", p.name(), err)
	}
	if p.plan, err = planLoad(p, schema); err != nil {
		return nil, err
	}
	p.key = t.Key
	if len(p.key) == 0 {
		if p.key, err = primaryKey(ctx, tx.conn, db, t.Table); err != nil {
			return nil, fmt.Errorf("read primary key of %s: %w", p.name(), err)
		}
	}
	return p, nil
}

// schemaArg is the database to look a table up in: the one given, or the connection's
// current one.
const schemaArg = "COALESCE(NULLIF(?, ''), DATABASE())"

func tableType(ctx context.Context, q rowQuerier, schema, table string) (string, error) {
	rows, err := queryRows(ctx, q, "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = "+
		schemaArg+" AND TABLE_NAME = ?", schema, table)
	if err != nil {
		return "", err
	}
	for _, r := range rows {
		// information_schema compares names without regard to case; tables are exact.
		if r[0] == table {
			s, _ := r[1].(string)
			return s, nil
		}
	}
	return "", nil
}

func tableColumns(ctx context.Context, q rowQuerier, schema, table string) ([]column, error) {
	rows, err := queryRows(ctx, q, `SELECT TABLE_NAME, COLUMN_NAME, LOWER(DATA_TYPE), LOWER(COLUMN_TYPE), IS_NULLABLE,
		NUMERIC_SCALE, DATETIME_PRECISION, UPPER(EXTRA), CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH,
		LOWER(CHARACTER_SET_NAME) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = `+schemaArg+` AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, schema, table)
	if err != nil {
		return nil, err
	}
	var cols []column
	for _, r := range rows {
		if r[0] != table {
			continue
		}
		c := column{Scale: -1, Precision: -1}
		c.Name, _ = r[1].(string)
		c.DataType, _ = r[2].(string)
		c.Type, _ = r[3].(string)
		c.Nullable = r[4] == "YES"
		if n, ok := r[5].(int64); ok {
			c.Scale = int(n)
		}
		if n, ok := r[6].(int64); ok {
			c.Precision = int(n)
		}
		extra, _ := r[7].(string)
		c.Generated = strings.Contains(extra, "GENERATED")
		c.MaxChars, _ = r[8].(int64)
		c.MaxBytes, _ = r[9].(int64)
		c.Charset, _ = r[10].(string)
		cols = append(cols, c)
	}
	return cols, nil
}

func primaryKey(ctx context.Context, q rowQuerier, schema, table string) ([]string, error) {
	idx, err := uniqueIndexes(ctx, q, schema, table)
	if err != nil {
		return nil, err
	}
	for _, ix := range idx {
		if ix.Name == "PRIMARY" {
			return ix.Columns, nil
		}
	}
	return nil, nil
}

// index is one unique index of a table.
type index struct {
	Name    string
	Columns []string
	// Exact is false for an index that is not a plain index of whole columns: a prefix
	// index (SUB_PART) or one over an expression.
	Exact bool
	// NotNull reports that every column is NOT NULL, so no two rows can share a key.
	NotNull bool
}

// uniqueIndexes lists a table's unique indexes, the primary key first.
func uniqueIndexes(ctx context.Context, q rowQuerier, schema, table string) ([]index, error) {
	rows, err := queryRows(ctx, q, `SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, SUB_PART, NULLABLE
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = `+schemaArg+` AND TABLE_NAME = ? AND NON_UNIQUE = 0
		ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`, schema, table)
	if err != nil {
		return nil, err
	}
	var out []index
	for _, r := range rows {
		if r[0] != table {
			continue
		}
		name, _ := r[1].(string)
		if len(out) == 0 || out[len(out)-1].Name != name {
			out = append(out, index{Name: name, Exact: true, NotNull: true})
		}
		ix := &out[len(out)-1]
		col, ok := r[2].(string)
		if !ok || r[3] != nil {
			ix.Exact = false
		}
		ix.Columns = append(ix.Columns, col)
		if r[4] == "YES" {
			ix.NotNull = false
		}
	}
	return out, nil
}

// sameColumns reports whether a and b name the same columns in any order, compared as
// MySQL compares column names.
func sameColumns(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !containsFold(b, x) {
			return false
		}
	}
	return true
}

// subsetColumns reports whether every column of a is in b.
func subsetColumns(a, b []string) bool {
	for _, x := range a {
		if !containsFold(b, x) {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// UniqueIndex reports whether a unique index over exactly cols, whose columns are all NOT
// NULL, makes a uniqueness query redundant.
func (dialect) UniqueIndex(ctx context.Context, ltx load.Tx, schema, table string, cols []string) (bool, error) {
	t, err := asTx(ltx)
	if err != nil {
		return false, err
	}
	idx, err := uniqueIndexes(ctx, t.conn, schema, table)
	if err != nil {
		return false, fmt.Errorf("look up unique indexes of %s: %w", table, err)
	}
	for _, ix := range idx {
		if ix.Exact && ix.NotNull && sameColumns(ix.Columns, cols) {
			return true, nil
		}
	}
	return false, nil
}

// exactCollation returns the utf8mb4 collation the tables sluice creates give their text
// columns: binary and without trailing-space padding where the server has one, so that
// keys compare as exactly as they do in PostgreSQL ("Ann" and "ann", or "a" and "a ",
// are different keys).
func exactCollation(ctx context.Context, tx *tx) (string, error) {
	rows, err := tx.QueryRows(ctx, "SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN "+
		"('utf8mb4_0900_bin', 'utf8mb4_nopad_bin', 'utf8mb4_bin')")
	if err != nil {
		return "", fmt.Errorf("look up collations: %w", err)
	}
	have := map[any]bool{}
	for _, r := range rows {
		have[r[0]] = true
	}
	for _, c := range []string{"utf8mb4_0900_bin", "utf8mb4_nopad_bin", "utf8mb4_bin"} {
		if have[c] {
			return c, nil
		}
	}
	return "", errors.New("the server has no utf8mb4 binary collation")
}

func createTableSQL(qualified string, schema etl.Schema, key []string, collation string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(qualified)
	b.WriteString(" (")
	for i, c := range schema {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.Name))
		b.WriteString(" ")
		b.WriteString(sqlType(c.Type, containsFold(key, c.Name)))
		if c.NotNull {
			b.WriteString(" NOT NULL")
		}
	}
	if len(key) > 0 {
		b.WriteString(", PRIMARY KEY (")
		b.WriteString(quoteList(key))
		b.WriteString(")")
	}
	b.WriteString(") CHARACTER SET utf8mb4 COLLATE ")
	b.WriteString(collation)
	return b.String()
}
