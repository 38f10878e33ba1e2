package redshift

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/internal/pgxrows"
)

// LoadError is a COPY that Redshift refused because of a value, as its load error log
// describes it: the staged file and line, the column, the value and the reason. The
// sink reads it from SYS_LOAD_ERROR_DETAIL, or from STL_LOAD_ERRORS where the SYS view is
// missing, right after the COPY fails; the value comes from STL_LOAD_ERRORS, which
// Serverless lacks, so there it is empty.
type LoadError struct {
	// Table is the table the load was for.
	Table string
	// File is the s3:// URL of the staged part that holds the line.
	File string
	// Line is the line of File, counted from 1.
	Line int64
	// Column is the column Redshift could not load, and Type and Length its type and
	// declared length as Redshift names them ("varchar", "6").
	Column, Type, Length string
	// Value is the field as Redshift logged it, cut to 200 bytes; Redshift logs
	// multibyte characters as periods.
	Value string
	// Code is Redshift's load error code, such as 1204 (see the Developer Guide's "Load
	// error reference"), and Reason its explanation.
	Code   int
	Reason string
	// KeptUntil is when the staged files, kept for inspection, may be swept; zero when
	// they were deleted.
	KeptUntil time.Time
	// Prefix is the s3:// URL of the run's staged files.
	Prefix string
	// Err is the COPY's own error.
	Err error
}

// Error names the table, the file and line, the column and its type, the reason and the
// value.
func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s: COPY refused line %d of %s", e.Table, e.Line, e.File)
	if e.Column != "" {
		fmt.Fprintf(&b, ", column %q", e.Column)
		if e.Type != "" {
			b.WriteString(" (" + e.Type)
			if e.Length != "" {
				b.WriteString("(" + e.Length + ")")
			}
			b.WriteString(")")
		}
	}
	fmt.Fprintf(&b, ": %s (load error %d)", e.Reason, e.Code)
	if e.Value != "" {
		fmt.Fprintf(&b, ", value %q", e.Value)
	}
	if !e.KeptUntil.IsZero() {
		fmt.Fprintf(&b, "; staged files kept until %s under %s", e.KeptUntil.UTC().Format(time.RFC3339), e.Prefix)
	}
	return b.String()
}

// Unwrap returns the COPY's error.
func (e *LoadError) Unwrap() error { return e.Err }

// maxValue bounds the value a LoadError carries.
const maxValue = 200

// explainCopy reads the load error log for the session's last COPY, which failed with
// copyErr, and returns a *LoadError, or nil when the log has nothing (the COPY failed
// for another reason, such as access to the bucket). The failed transaction is already
// rolled back: the log is written outside it and an aborted transaction refuses
// queries. The queries are those of the Developer Guide's pages on the two tables;
// that SYS_LOAD_ERROR_DETAIL.query_id and STL_LOAD_ERRORS.query both equal
// pg_last_copy_id() is the guide's reading (PG_LAST_COPY_ID: "the query ID of the last
// COPY ... even if the load failed") but has not been checked on a cluster.
func explainCopy(ctx context.Context, db DB, table string, copyErr error) *LoadError {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rows, err := pgxrows.Collect(db.Query(ctx, "SELECT pg_last_copy_id()"))
	if err != nil || len(rows) != 1 {
		return nil
	}
	id, ok := rows[0][0].(int64)
	if !ok || id <= 0 {
		return nil
	}
	le := &LoadError{Table: table, Err: copyErr}
	sys, sysErr := pgxrows.Collect(db.Query(ctx, `SELECT trim(file_name), line_number, trim(column_name), trim(column_type),
		trim(column_length), error_code, trim(error_message) FROM sys_load_error_detail WHERE query_id = $1
		ORDER BY line_number LIMIT 1`, id))
	if sysErr == nil && len(sys) == 1 {
		r := sys[0]
		le.File, le.Line, le.Column, le.Type, le.Length = str(r[0]), num(r[1]), str(r[2]), str(r[3]), str(r[4])
		le.Code, le.Reason = int(num(r[5])), str(r[6])
	}
	// STL_LOAD_ERRORS has the raw value; Serverless has no STL tables, and a query of a
	// missing table fails harmlessly outside any transaction.
	stl, stlErr := pgxrows.Collect(db.Query(ctx, `SELECT trim(filename), line_number, trim(colname), trim(type),
		trim(col_length), err_code, trim(err_reason), trim(raw_field_value) FROM stl_load_errors WHERE query = $1
		ORDER BY line_number LIMIT 1`, id))
	if stlErr == nil && len(stl) == 1 {
		r := stl[0]
		if le.File == "" {
			le.File, le.Line, le.Column, le.Type, le.Length = str(r[0]), num(r[1]), str(r[2]), str(r[3]), str(r[4])
			le.Code, le.Reason = int(num(r[5])), str(r[6])
		}
		if le.Line == num(r[1]) && le.Column == str(r[2]) {
			le.Value = clipValue(str(r[7]))
		}
	}
	if le.File == "" && le.Reason == "" {
		return nil
	}
	return le
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func num(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n
	}
	return 0
}

// clipValue cuts s to maxValue bytes on a UTF-8 boundary.
func clipValue(s string) string {
	if len(s) <= maxValue {
		return s
	}
	cut := maxValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
