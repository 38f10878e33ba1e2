package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
)

// Strategy is how a [FullRefresh] replaces the table's rows. See the package
// documentation for the trade-offs.
type Strategy int

// The replace strategies. MySQL commits TRUNCATE implicitly, so there is no truncate
// strategy: it could not be rolled back.
const (
	// Delete deletes every row and loads the new ones into the table, in one
	// transaction. The table keeps its identity (grants, triggers, foreign keys), and
	// readers keep seeing the old rows until commit.
	Delete Strategy = iota
	// Swap loads a new table created LIKE the target, runs the checks on it, and then
	// swaps it in with one atomic RENAME TABLE. Readers see the old rows until the
	// rename. It refuses tables with triggers or foreign keys ([ErrSwapUnsafe]), which
	// the new table would not have.
	Swap
)

// String implements fmt.Stringer.
func (s Strategy) String() string {
	switch s {
	case Delete:
		return "delete"
	case Swap:
		return "swap"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// ErrSwapUnsafe is wrapped by the error of a [Swap] refresh of a table that the swap
// would change behind its users' backs: one with triggers or foreign keys, which belong
// to the table and would not follow the new one. The error names them; use [Delete].
var ErrSwapUnsafe = errors.New("swap would lose objects attached to the table")

// ErrDeleteUnsafe is wrapped by the error of a [Delete] refresh of a table that other
// tables' foreign keys reference with ON DELETE CASCADE, SET NULL or SET DEFAULT:
// deleting the old rows would change the rows of those tables. The error names the keys.
var ErrDeleteUnsafe = errors.New("deleting the old rows would change other tables through their foreign keys")

// FullRefresh replaces a table's rows with the stream's, atomically: on any error or
// failed check the table keeps exactly its old rows. A run that read no rows fails with
// etl.ErrEmpty unless the pipeline allows an empty load.
type FullRefresh struct {
	Target
	// Strategy chooses how the rows are replaced. Defaults to [Delete].
	Strategy Strategy
	// LockTimeout bounds each wait of the [Swap] strategy's RENAME TABLE for the queries
	// running on the table, so that a long query cannot stall the load, and the queries
	// queued behind the rename, indefinitely. A timed-out rename is retried LockRetries
	// times. Defaults to 5s.
	LockTimeout time.Duration
	// LockRetries is how often a timed-out rename is tried again, after a doubling
	// pause. Defaults to 5.
	LockRetries int
}

var (
	_ etl.Loader          = (*FullRefresh)(nil)
	_ etl.FailureRecorder = (*FullRefresh)(nil)
	_ etl.Lineage         = (*FullRefresh)(nil)
)

// Load replaces the table's rows with in's through the load protocol.
func (f *FullRefresh) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	if err := f.validate(); err != nil {
		return etl.LoadResult{}, err
	}
	if f.Strategy != Delete && f.Strategy != Swap {
		return etl.LoadResult{}, fmt.Errorf("mysql: unknown full refresh strategy %v", f.Strategy)
	}
	spec, err := f.loadSpec(ctx, true, in)
	if err != nil {
		return etl.LoadResult{}, etl.WithStep("connect", err)
	}
	return load.Run(ctx, f.dialect(), spec, &refreshMode{tableMaker: tableMaker{&f.Target, in.Schema}, f: f}, run, in)
}

// RecordFailure writes the run record of a run that failed before its load began.
func (f *FullRefresh) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return f.recordFailure(ctx, "full_refresh", run, stats, err)
}

// refreshMode is one full refresh's stage and apply. A swap also publishes and cleans up.
type refreshMode struct {
	tableMaker
	f      *FullRefresh
	p      *prepared
	loaded int64

	// The swap's state.
	newTable  string // the table loaded, then renamed into place
	oldTable  string // the old table's name between the rename and its drop
	swapLock  string // the table's swap lock, held from Stage to the end of the session
	published bool
}

var (
	_ load.Publisher = (*refreshMode)(nil)
	_ load.Cleaner   = (*refreshMode)(nil)
)

func (m *refreshMode) Kind() string { return "full_refresh" }

func (m *refreshMode) Stage(ctx context.Context, ltx load.Tx, run *etl.Run, in etl.Stream) (int64, error) {
	t, err := asTx(ltx)
	if err != nil {
		return 0, err
	}
	if m.p, err = m.f.prepare(ctx, t, in.Schema); err != nil {
		return 0, err
	}
	target := m.p.sql()
	if m.f.Strategy == Delete {
		if err := deleteSafe(ctx, t, m.p); err != nil {
			return 0, err
		}
		if _, err := t.Exec(ctx, "DELETE FROM "+target); err != nil {
			return 0, fmt.Errorf("delete from %s: %w", m.p.name(), err)
		}
		m.loaded, err = loadData(ctx, t, target, m.p.plan, in)
		return m.loaded, err
	}

	if err := swapSafe(ctx, t, m.p); err != nil {
		return 0, err
	}
	// One swap at a time per table: two pipelines that swap the same table would share
	// its new and old tables.
	lock := swapLockName(m.p.schema, m.p.table)
	ok, err := getLock(ctx, t.conn, lock, m.f.LockWait)
	if err != nil {
		return 0, fmt.Errorf("table %s: take the swap lock: %w", m.p.name(), err)
	}
	if !ok {
		return 0, fmt.Errorf("table %s: another load is swapping it (GET_LOCK %q): %w", m.p.name(), lock, etl.ErrLocked)
	}
	m.swapLock = lock
	t.s.atClose = append(t.s.atClose, func(ctx context.Context, conn *sql.Conn) { m.dropLeftovers(ctx, conn) })
	newTable, oldTable := swapTable(m.p.table, "new"), swapTable(m.p.table, "old")
	// A killed swap leaves these behind; under the swap lock nothing else uses them.
	if err := t.ddl(ctx, "DROP TABLE IF EXISTS "+qualify(m.p.schema, newTable)+", "+qualify(m.p.schema, oldTable)); err != nil {
		return 0, fmt.Errorf("table %s: drop what an earlier swap left: %w", m.p.name(), err)
	}
	if err := t.ddl(ctx, "CREATE TABLE "+qualify(m.p.schema, newTable)+" LIKE "+target); err != nil {
		return 0, fmt.Errorf("create table %s for the swap: %w", newTable, err)
	}
	m.newTable = newTable
	m.loaded, err = loadData(ctx, t, qualify(m.p.schema, newTable), m.p.plan, in)
	return m.loaded, err
}

func (m *refreshMode) Apply(context.Context, load.Tx, *etl.Run) (load.Applied, error) {
	return load.Applied{Written: m.loaded}, nil
}

// CheckTable is where the checks look: the new table of a swap, which is not in place
// yet, or the target.
func (m *refreshMode) CheckTable() (string, string) {
	if m.newTable != "" {
		return m.p.schema, m.newTable
	}
	return m.f.Schema, m.f.Table
}

// Publish swaps the checked new table in. RENAME TABLE commits the load of the new table,
// which nobody reads yet, and renames both tables in one atomic step, so readers see the
// old rows or the new ones. A failed rename changes nothing. The watermark and the run
// record are written in a new transaction after it: a crash between the rename and their
// commit leaves the new rows in place with the watermark of the run before, which a full
// refresh does not depend on, and the run's record "running", which the next run marks
// "abandoned".
func (m *refreshMode) Publish(ctx context.Context, ltx load.Tx, run *etl.Run) error {
	if m.newTable == "" {
		return nil
	}
	t, err := asTx(ltx)
	if err != nil {
		return err
	}
	newTable := qualify(m.p.schema, m.newTable)
	if err := t.ddl(ctx, "ANALYZE TABLE "+newTable); err != nil {
		return fmt.Errorf("analyze the new %s: %w", m.p.name(), err)
	}
	oldTable := swapTable(m.p.table, "old")
	rename := "RENAME TABLE " + m.p.sql() + " TO " + qualify(m.p.schema, oldTable) + ", " + newTable + " TO " + m.p.sql()
	if err := m.withLockTimeout(ctx, t, func() error { return t.ddl(ctx, rename) }); err != nil {
		return fmt.Errorf("swap the new %s in: %w", m.p.name(), err)
	}
	m.published, m.newTable, m.oldTable = true, "", oldTable
	if err := t.ddl(ctx, "DROP TABLE "+qualify(m.p.schema, oldTable)); err != nil {
		// The new rows are in place; the next swap drops what is left.
		run.Log().Warn("drop the old table after the swap", "table", m.p.name(), "error", err)
		return nil
	}
	m.oldTable = ""
	return nil
}

// withLockTimeout runs fn with lock_wait_timeout set to LockTimeout, and runs it again
// after a doubling pause when it times out waiting for the table's metadata lock.
func (m *refreshMode) withLockTimeout(ctx context.Context, t *tx, fn func() error) error {
	timeout := m.f.LockTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	retries := m.f.LockRetries
	if retries <= 0 {
		retries = 5
	}
	secs := max(int64((timeout+time.Second-1)/time.Second), 1)
	if _, err := t.conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", secs)); err != nil {
		return err
	}
	pause := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || errorNumber(err) != 1205 || attempt >= retries {
			return err
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return errors.Join(err, ctx.Err())
		case <-timer.C:
		}
		pause *= 2
	}
}

// dropLeftovers drops the swap's new table when the swap did not happen, and the old
// table when its drop failed, and releases the swap lock. It runs as the load's session
// ends, after the rollback or the commit, under the swap lock. It reports whether it
// could; when the connection is gone (a cancelled load), Cleanup tries again.
func (m *refreshMode) dropLeftovers(ctx context.Context, conn *sql.Conn) bool {
	var drop []string
	for _, name := range []string{m.newTable, m.oldTable} {
		if name != "" {
			drop = append(drop, qualify(m.p.schema, name))
		}
	}
	if len(drop) > 0 {
		if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+strings.Join(drop, ", ")); err != nil {
			return false
		}
	}
	m.newTable, m.oldTable = "", ""
	_, err := conn.ExecContext(ctx, "SELECT RELEASE_LOCK(?)", m.swapLock)
	return err == nil
}

// Cleanup drops what the session could not, on a connection of its own once the swap
// lock is free again: a dead session's lock lasts until the server notices. When another
// swap of the table holds the lock beyond the wait, that swap drops what is left as it
// starts.
func (m *refreshMode) Cleanup(ctx context.Context, committed bool) error {
	if m.newTable == "" && m.oldTable == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := m.f.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ok, err := getLock(ctx, conn, m.swapLock, 5*time.Second)
	if err != nil || !ok {
		return err
	}
	if !m.dropLeftovers(ctx, conn) {
		return fmt.Errorf("table %s: drop the swap's leftover tables", m.p.name())
	}
	return nil
}

// swapTable returns the name of the swap's new or old table for table: table, "__sluice_"
// and which, cut to MySQL's 64-character limit with a hash of the full name in place of
// what was cut, so that distinct tables never share one.
func swapTable(table, which string) string {
	suffix := "__sluice_" + which
	if utf8.RuneCountInString(table)+len(suffix) <= 64 {
		return table + suffix
	}
	sum := sha256.Sum256([]byte(table))
	suffix = "_" + hex.EncodeToString(sum[:4]) + suffix
	keep := 64 - len(suffix)
	r := []rune(table)
	return string(r[:keep]) + suffix
}

// swapSafe refuses a table with triggers or foreign keys: they belong to the table and
// would not follow the new one (CREATE TABLE ... LIKE copies neither), and foreign keys of
// other tables would follow the old table to its drop.
func swapSafe(ctx context.Context, t *tx, p *prepared) error {
	rows, err := t.QueryRows(ctx, `SELECT CONCAT('trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS
		WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?
		UNION ALL SELECT CONCAT('foreign key ', CONSTRAINT_NAME, ' to ', REFERENCED_TABLE_NAME)
		FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?
		UNION ALL SELECT CONCAT('foreign key ', CONSTRAINT_NAME, ' of ', CONSTRAINT_SCHEMA, '.', TABLE_NAME)
		FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE UNIQUE_CONSTRAINT_SCHEMA = ? AND REFERENCED_TABLE_NAME = ?`,
		p.schema, p.table, p.schema, p.table, p.schema, p.table)
	if err != nil {
		return fmt.Errorf("read what depends on %s: %w", p.name(), err)
	}
	if len(rows) == 0 {
		return nil
	}
	deps := make([]string, len(rows))
	for i, r := range rows {
		deps[i], _ = r[0].(string)
	}
	return fmt.Errorf("table %s: %w: %s (use the delete strategy)", p.name(), ErrSwapUnsafe, strings.Join(deps, ", "))
}

// deleteSafe refuses a table whose rows other tables' foreign keys reference with a rule
// that changes them when the row is deleted.
func deleteSafe(ctx context.Context, t *tx, p *prepared) error {
	rows, err := t.QueryRows(ctx, `SELECT CONCAT('foreign key ', CONSTRAINT_NAME, ' of ', CONSTRAINT_SCHEMA, '.', TABLE_NAME,
		' (ON DELETE ', DELETE_RULE, ')') FROM information_schema.REFERENTIAL_CONSTRAINTS
		WHERE UNIQUE_CONSTRAINT_SCHEMA = ? AND REFERENCED_TABLE_NAME = ? AND DELETE_RULE IN ('CASCADE', 'SET NULL', 'SET DEFAULT')`,
		p.schema, p.table)
	if err != nil {
		return fmt.Errorf("read foreign keys to %s: %w", p.name(), err)
	}
	if len(rows) == 0 {
		return nil
	}
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i], _ = r[0].(string)
	}
	return fmt.Errorf("table %s: %w: %s", p.name(), ErrDeleteUnsafe, strings.Join(keys, ", "))
}
