package postgres

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNullCursor is matched (with errors.Is) by a [*NullCursorRowsError]: rows in scope have no
// cursor value and the source's [NullCursorPolicy] is [NullCursorError].
var ErrNullCursor = errors.New("rows have a NULL cursor")

// ErrUnsupportedValue is matched by errors that report a value the etl value table cannot
// carry exactly, such as an infinite timestamp or a NaN numeric.
var ErrUnsupportedValue = errors.New("value cannot be carried exactly")

// Error reports a failure reading a source. It names the table (or query) and, when one
// column is to blame, the column.
type Error struct {
	// Source names the table as "schema.table", or the query by [Config.QueryName].
	Source string
	// Column names the offending column, empty when no single column is to blame.
	Column string
	// Err is the underlying error.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	s := "postgres source " + e.Source
	if e.Column != "" {
		s += fmt.Sprintf(": column %q", e.Column)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// NullCursorRowsError reports rows whose cursor is NULL under the [NullCursorError] policy.
// The stream yielded no row after the first of them.
type NullCursorRowsError struct {
	// Source names the table or query.
	Source string
	// Cursor is the cursor column or expression.
	Cursor string
	// Count is the number of rows in scope with a NULL cursor.
	Count int64
	// Samples holds up to five of those rows' first column, as "name=value".
	Samples []string
}

// Error implements the error interface.
func (e *NullCursorRowsError) Error() string {
	return fmt.Sprintf("postgres source %s: %d row(s) have a NULL cursor %s (for example %s); "+
		"fix the data, widen the cursor with coalesce(...), or set NullCursor to NullCursorAlways",
		e.Source, e.Count, e.Cursor, strings.Join(e.Samples, ", "))
}

// Unwrap returns [ErrNullCursor].
func (e *NullCursorRowsError) Unwrap() error { return ErrNullCursor }
