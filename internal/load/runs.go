package load

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks"
)

// ReadRuns returns the last n records of pipeline in schema's sluice_runs, newest first.
// An empty pipeline means every pipeline, and n <= 0 means every record. A schema that
// no run has touched has none; the table is not created by reading it.
func ReadRuns(ctx context.Context, d Dialect, sess Session, schema, pipeline string, n int) ([]sinks.RunRecord, error) {
	table := d.Qualify(schema, RunsTable)
	if !tablesExist(ctx, sess, table) {
		return nil, nil
	}
	q := "SELECT run_id, pipeline, mode, target, window_start, window_end, status, step, error, rows_read, " +
		"rows_rejected, rows_filtered, rows_loaded, rows_written, rows_deleted, checks, rejects, watermark, attempts, " +
		"owner, started_at, finished_at FROM " + table
	var args []any
	if pipeline != "" {
		q += " WHERE pipeline = " + d.Placeholder(1)
		args = append(args, pipeline)
	}
	q += " ORDER BY started_at DESC, finished_at DESC"
	if n > 0 {
		q += " LIMIT " + strconv.Itoa(n)
	}
	tx, err := sess.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	rows, err := tx.QueryRows(ctx, q, args...)
	Rollback(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	out := make([]sinks.RunRecord, len(rows))
	for i, r := range rows {
		if len(r) != 22 {
			return nil, fmt.Errorf("read %s: a row has %d columns, not 22", table, len(r))
		}
		rec := sinks.RunRecord{
			RunID: text(r[0]), Pipeline: text(r[1]), Mode: text(r[2]), Target: text(r[3]),
			Status: text(r[6]), Step: text(r[7]), Error: text(r[8]),
			Stats: etl.Stats{RowsRead: integer(r[9]), RowsRejected: integer(r[10]), RowsFiltered: integer(r[11]),
				RowsWritten: integer(r[13]), RowsDeleted: integer(r[14])},
			Loaded: integer(r[12]), Watermark: text(r[17]), Attempts: int(integer(r[18])), Owner: text(r[19]),
		}
		var terr error
		for _, f := range []struct {
			dst *time.Time
			v   any
		}{{&rec.Window.Start, r[4]}, {&rec.Window.End, r[5]}, {&rec.Started, r[20]}, {&rec.Finished, r[21]}} {
			if *f.dst, terr = timestamp(f.v); terr != nil {
				return nil, fmt.Errorf("read %s: run %s: %w", table, rec.RunID, terr)
			}
		}
		if !rec.Finished.IsZero() {
			rec.Stats.Duration = rec.Finished.Sub(rec.Started)
		}
		if c := text(r[15]); c != "" && c != "null" {
			if err := json.Unmarshal([]byte(c), &rec.Checks); err != nil {
				return nil, fmt.Errorf("read %s: run %s: checks: %w", table, rec.RunID, err)
			}
		}
		if c := text(r[16]); c != "" && c != "null" {
			if err := json.Unmarshal([]byte(c), &rec.Rejects); err != nil {
				return nil, fmt.Errorf("read %s: run %s: rejects: %w", table, rec.RunID, err)
			}
		}
		out[i] = rec
	}
	return out, nil
}

// text reads a text column as a driver returns it; NULL is "".
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// integer reads an integer column as a driver returns it; NULL is 0.
func integer(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case string, []byte:
		n, _ := strconv.ParseInt(text(x), 10, 64)
		return n
	}
	return 0
}

// timestamp reads a timestamp column as a driver returns it: a time.Time, or the text of
// a database that stores times as text (SQLite) or returns them so (MySQL without
// parseTime). NULL is the zero time.
func timestamp(v any) (time.Time, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return x.UTC(), nil
	case string, []byte:
		s := text(x)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("cannot read %q as a time", s)
	}
	return time.Time{}, fmt.Errorf("cannot read a %T as a time", v)
}
