package load

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redact"
)

// The protocol's own tables.
const (
	RunsTable  = "sluice_runs"
	StateTable = "sluice_state"
)

// The statuses of a run record.
const (
	// StatusRunning is a run that holds its pipeline's lock and has not ended yet, or one
	// whose process died before it could say how it ended (until the next run of the
	// pipeline marks it abandoned).
	StatusRunning = "running"
	// StatusSuccess is a run whose load committed.
	StatusSuccess = "success"
	// StatusFailed is a run that rolled back, or never began its load.
	StatusFailed = "failed"
	// StatusAbandoned is a run found still running by a later run of its pipeline that
	// took the lock: its process was killed, or lost its database, before it could record
	// how it ended. Its finished_at is when it was found.
	StatusAbandoned = "abandoned"
)

// Record is one row of sluice_runs: what a run did, or why it failed.
type Record struct {
	RunID    string
	Pipeline string
	Mode     string
	Target   string
	Window   etl.Window
	// Status is one of StatusRunning, StatusSuccess, StatusFailed and StatusAbandoned.
	Status string
	// Step names the failed step; Error is its message.
	Step, Error string
	Stats       etl.Stats
	// Loaded counts the rows the database received in the stage step.
	Loaded    int64
	Checks    []etl.CheckResult
	Rejects   []etl.Reject
	Watermark any
	Attempts  int
	Started   time.Time
	// Finished is when the run ended; zero (NULL) while it runs.
	Finished time.Time
	Owner    string
}

// EnsureMeta creates sluice_runs and sluice_state in schema when they are missing.
func EnsureMeta(ctx context.Context, d Dialect, sess Session, schema string) error {
	text, i64, ts := d.ColumnType(etl.TypeText), d.ColumnType(etl.TypeInt64), d.ColumnType(etl.TypeTimestamp)
	q := d.QuoteIdent
	cols := func(defs ...[2]string) string {
		parts := make([]string, len(defs))
		for i, c := range defs {
			parts[i] = q(c[0]) + " " + c[1]
		}
		return strings.Join(parts, ", ")
	}
	stmts := []string{
		"CREATE TABLE IF NOT EXISTS " + d.Qualify(schema, RunsTable) + " (" + cols(
			[2]string{"run_id", text + " NOT NULL"}, [2]string{"pipeline", text + " NOT NULL"},
			[2]string{"mode", text}, [2]string{"target", text},
			[2]string{"window_start", ts}, [2]string{"window_end", ts},
			[2]string{"status", text + " NOT NULL"}, [2]string{"step", text}, [2]string{"error", text},
			[2]string{"rows_read", i64}, [2]string{"rows_rejected", i64}, [2]string{"rows_filtered", i64},
			[2]string{"rows_loaded", i64}, [2]string{"rows_written", i64}, [2]string{"rows_deleted", i64},
			[2]string{"checks", text}, [2]string{"rejects", text}, [2]string{"watermark", text},
			[2]string{"attempts", i64}, [2]string{"owner", text},
			[2]string{"started_at", ts}, [2]string{"finished_at", ts},
		) + ")",
		"CREATE TABLE IF NOT EXISTS " + d.Qualify(schema, StateTable) + " (" + cols(
			[2]string{"pipeline", text + " NOT NULL"}, [2]string{"watermark", text},
			[2]string{"watermark_type", text}, [2]string{"run_id", text}, [2]string{"updated_at", ts},
		) + ")",
	}
	if tablesExist(ctx, sess, d.Qualify(schema, RunsTable), d.Qualify(schema, StateTable)) {
		// The common case, answered by a read: a write transaction here would queue behind
		// every other writer of a single-writer database such as SQLite.
		return nil
	}
	for _, s := range stmts {
		if err := execAlone(ctx, sess, s); err != nil {
			// Two pipelines creating the tables at once can collide in the catalog; the
			// loser finds them made.
			if err2 := execAlone(ctx, sess, s); err2 != nil {
				return fmt.Errorf("create %s tables in schema %q: %w", d.Name(), schema, err)
			}
		}
	}
	return nil
}

// tablesExist reports whether every table can be read, each probed in a read-only
// transaction of its own that is rolled back.
func tablesExist(ctx context.Context, sess Session, tables ...string) bool {
	for _, t := range tables {
		tx, err := sess.Begin(ctx)
		if err != nil {
			return false
		}
		_, err = tx.QueryRows(ctx, "SELECT 1 FROM "+t+" WHERE 1 = 0")
		Rollback(ctx, tx)
		if err != nil {
			return false
		}
	}
	return true
}

func execAlone(ctx context.Context, sess Session, sql string) error {
	tx, err := sess.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sql); err != nil {
		Rollback(ctx, tx)
		return err
	}
	return tx.Commit(ctx)
}

func placeholders(d Dialect, from, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = d.Placeholder(from + i)
	}
	return strings.Join(p, ", ")
}

// WriteRecord inserts rec into sluice_runs inside tx. A record that is not running
// without a Finished time finishes now.
func WriteRecord(ctx context.Context, d Dialect, tx Tx, schema string, rec Record) error {
	if rec.Finished.IsZero() && rec.Status != StatusRunning {
		rec.Finished = time.Now()
	}
	checksJSON, err := json.Marshal(rec.Checks)
	if err != nil {
		return err
	}
	rejects := make([]string, len(rec.Rejects), len(rec.Rejects)+1)
	for i, r := range rec.Rejects {
		// A reject quotes its source, which may be a URL with a credential in it; the
		// record is history anyone with the table can read.
		rejects[i] = redact.DSN(r.Error())
	}
	if more := rec.Stats.RowsRejected - int64(len(rec.Rejects)); more > 0 && len(rec.Rejects) > 0 {
		// The run keeps the first rejects only; say that the list was cut, and by how much.
		rejects = append(rejects, fmt.Sprintf("... and %d more rejected rows not listed", more))
	}
	rejectsJSON, err := json.Marshal(rejects)
	if err != nil {
		return err
	}
	var wm any
	if rec.Watermark != nil {
		wm, _, err = EncodeWatermark(rec.Watermark)
		if err != nil {
			return err
		}
	}
	args := []any{
		rec.RunID, rec.Pipeline, rec.Mode, rec.Target,
		nullTime(rec.Window.Start), nullTime(rec.Window.End),
		rec.Status, nullString(rec.Step), nullString(clip(redact.DSN(rec.Error))),
		rec.Stats.RowsRead, rec.Stats.RowsRejected, rec.Stats.RowsFiltered,
		rec.Loaded, rec.Stats.RowsWritten, rec.Stats.RowsDeleted,
		clip(string(checksJSON)), clip(string(rejectsJSON)), wm,
		int64(rec.Attempts), nullString(rec.Owner), rec.Started.UTC(), nullTime(rec.Finished),
	}
	q := "INSERT INTO " + d.Qualify(schema, RunsTable) + " (run_id, pipeline, mode, target, window_start, window_end, " +
		"status, step, error, rows_read, rows_rejected, rows_filtered, rows_loaded, rows_written, rows_deleted, " +
		"checks, rejects, watermark, attempts, owner, started_at, finished_at) VALUES (" +
		placeholders(d, 1, len(args)) + ")"
	if _, err := tx.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("write run record: %w", err)
	}
	return nil
}

// DeleteRunning deletes the "running" record of one run inside tx, before the record of
// how it ended takes its place. A record marked abandoned meanwhile goes too: the run was
// alive after all. Records of ended runs are never touched, even by a reused run ID.
func DeleteRunning(ctx context.Context, d Dialect, tx Tx, schema, pipeline, runID string) error {
	_, err := tx.Exec(ctx, "DELETE FROM "+d.Qualify(schema, RunsTable)+" WHERE run_id = "+d.Placeholder(1)+
		" AND pipeline = "+d.Placeholder(2)+" AND status IN ("+d.Placeholder(3)+", "+d.Placeholder(4)+")",
		runID, pipeline, StatusRunning, StatusAbandoned)
	if err != nil {
		return fmt.Errorf("replace the running record of run %s: %w", runID, err)
	}
	return nil
}

// MarkAbandoned marks as abandoned, inside tx, the records of the pipeline's runs other
// than self that are still running, and returns how many it marked. The caller must
// hold what proves those runs are gone: the pipeline's lock, or, given a target, the
// lock on that target (then only the runs that loaded it are marked).
func MarkAbandoned(ctx context.Context, d Dialect, tx Tx, schema, pipeline, target, self string) (int64, error) {
	ph := d.Placeholder
	q := "UPDATE " + d.Qualify(schema, RunsTable) + " SET status = " + ph(1) + ", finished_at = " + ph(2) +
		", error = " + ph(3) + " WHERE pipeline = " + ph(4) + " AND status = " + ph(5) + " AND run_id <> " + ph(6)
	msg := "the run ended without recording how (its process was killed, or lost its database); run " + self +
		" found it still marked running when it took the pipeline's lock"
	args := []any{StatusAbandoned, time.Now().UTC(), msg, pipeline, StatusRunning, self}
	if target != "" {
		q += " AND target = " + ph(7)
		args = append(args, target)
		msg = "the run ended without recording how (its process was killed, or lost its database); run " + self +
			" found it still marked running when it locked " + target
		args[2] = msg
	}
	n, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("mark abandoned runs of pipeline %q: %w", pipeline, err)
	}
	return n, nil
}

// maxText bounds the text the protocol writes into one column of its tables, so that a huge
// error message cannot make the run record itself fail: Redshift's widest VARCHAR holds
// 65535 bytes.
const maxText = 60000

// clip cuts s to at most maxText bytes on a UTF-8 boundary, marking the cut.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	const mark = " …[truncated]"
	cut := maxText - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ReadWatermark returns the pipeline's stored watermark, or nil.
func ReadWatermark(ctx context.Context, d Dialect, tx Tx, schema, pipeline string) (any, error) {
	rows, err := tx.QueryRows(ctx, "SELECT watermark, watermark_type FROM "+d.Qualify(schema, StateTable)+
		" WHERE pipeline = "+d.Placeholder(1), pipeline)
	if err != nil {
		return nil, fmt.Errorf("read state of pipeline %q: %w", pipeline, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	if len(rows) > 1 {
		return nil, fmt.Errorf("read state of pipeline %q: %d state rows", pipeline, len(rows))
	}
	text, _ := rows[0][0].(string)
	typ, _ := rows[0][1].(string)
	if rows[0][0] == nil {
		return nil, nil
	}
	return DecodeWatermark(text, typ)
}

// WriteWatermark stores v as the pipeline's watermark inside tx. It deletes and inserts
// rather than upserting, since that works the same in every dialect.
func WriteWatermark(ctx context.Context, d Dialect, tx Tx, schema, pipeline string, v any, runID string) error {
	text, typ, err := EncodeWatermark(v)
	if err != nil {
		return fmt.Errorf("pipeline %q: %w", pipeline, err)
	}
	table := d.Qualify(schema, StateTable)
	if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE pipeline = "+d.Placeholder(1), pipeline); err != nil {
		return fmt.Errorf("write state of pipeline %q: %w", pipeline, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (pipeline, watermark, watermark_type, run_id, updated_at) VALUES ("+
		placeholders(d, 1, 5)+")", pipeline, text, typ, runID, time.Now().UTC()); err != nil {
		return fmt.Errorf("write state of pipeline %q: %w", pipeline, err)
	}
	return nil
}

// ResetState deletes the pipeline's stored watermark, so its next run syncs from the start.
func ResetState(ctx context.Context, d Dialect, sess Session, schema, pipeline string) error {
	if err := EnsureMeta(ctx, d, sess, schema); err != nil {
		return err
	}
	return execArgs(ctx, sess, "DELETE FROM "+d.Qualify(schema, StateTable)+" WHERE pipeline = "+d.Placeholder(1), pipeline)
}

// SetState stores v as the pipeline's watermark, for an operator who re-syncs from a
// chosen point.
func SetState(ctx context.Context, d Dialect, sess Session, schema, pipeline string, v any) error {
	if err := EnsureMeta(ctx, d, sess, schema); err != nil {
		return err
	}
	tx, err := sess.Begin(ctx)
	if err != nil {
		return err
	}
	if err := WriteWatermark(ctx, d, tx, schema, pipeline, v, "manual"); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// State reads the pipeline's stored watermark outside a load.
func State(ctx context.Context, d Dialect, sess Session, schema, pipeline string) (any, error) {
	if err := EnsureMeta(ctx, d, sess, schema); err != nil {
		return nil, err
	}
	tx, err := sess.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer Rollback(ctx, tx)
	return ReadWatermark(ctx, d, tx, schema, pipeline)
}

func execArgs(ctx context.Context, sess Session, sql string, args ...any) error {
	tx, err := sess.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		Rollback(ctx, tx)
		return err
	}
	return tx.Commit(ctx)
}

// EncodeWatermark returns v's text form and type tag.
func EncodeWatermark(v any) (text, typ string, err error) {
	switch w := v.(type) {
	case int64:
		return strconv.FormatInt(w, 10), "int64", nil
	case int:
		return strconv.Itoa(w), "int64", nil
	case time.Time:
		return w.UTC().Format(time.RFC3339Nano), "timestamp", nil
	case etl.Decimal:
		return string(w), "numeric", nil
	case string:
		return w, "text", nil
	}
	return "", "", fmt.Errorf("watermark of type %T cannot be stored (use int64, time.Time, string or etl.Decimal)", v)
}

// DecodeWatermark parses what EncodeWatermark wrote.
func DecodeWatermark(text, typ string) (any, error) {
	switch typ {
	case "int64":
		return strconv.ParseInt(text, 10, 64)
	case "timestamp":
		return time.Parse(time.RFC3339Nano, text)
	case "numeric":
		return etl.Decimal(text), nil
	case "text":
		return text, nil
	}
	return nil, fmt.Errorf("stored watermark has unknown type %q", typ)
}

func sameWatermark(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}
