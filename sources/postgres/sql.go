package postgres

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// validName reports a name that cannot reach SQL intact: empty, or holding a NUL byte
// (PostgreSQL identifiers cannot contain NUL, and quoting would silently drop it).
func validName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s %q contains a NUL byte", what, s)
	}
	return nil
}

// quote quotes one identifier.
func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// relation returns the quoted, optionally schema-qualified table name.
func relation(schema, table string) string {
	if schema == "" {
		return pgx.Identifier{table}.Sanitize()
	}
	return pgx.Identifier{schema, table}.Sanitize()
}

// subqueryAlias is the alias a developer's Query is read through.
const subqueryAlias = `"sluice_src"`

// selectSQL is one SELECT over the source, rendered by [selectSQL.String].
type selectSQL struct {
	// from is the quoted relation, or a parenthesized query with its alias.
	from string
	// cols are the column names, quoted when rendered; none means "*".
	cols []string
	// probes are expressions appended to the select list (the cursor, the window column).
	probes []string
	// where holds predicates, each rendered in parentheses and joined with AND.
	where []string
	// orderBy, when > 0, orders by that 1-based output column, NULLs first.
	orderBy int
}

func (q selectSQL) String() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if len(q.cols) == 0 {
		b.WriteString("*")
	}
	for i, c := range q.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c))
	}
	for _, p := range q.probes {
		b.WriteString(", (" + p + ")")
	}
	b.WriteString(" FROM ")
	b.WriteString(q.from)
	for i, w := range q.where {
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		b.WriteString("(" + w + ")")
	}
	if q.orderBy > 0 {
		b.WriteString(" ORDER BY " + strconv.Itoa(q.orderBy) + " ASC NULLS FIRST")
	}
	return b.String()
}

// cursorKind is the family of a cursor's (or window column's) type, which decides how a
// watermark is bound and compared.
type cursorKind uint8

const (
	cursorInt cursorKind = iota + 1
	cursorDecimal
	cursorTimestamptz
	cursorTimestamp
	cursorDate
	cursorText
)

var errCursorType = errors.New("unsupported cursor type: use an integer, numeric, timestamp, date or text expression")

// cursorKindFor maps a cursor expression's result type to its kind.
func cursorKindFor(oid uint32) (cursorKind, error) {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		return cursorInt, nil
	case pgtype.NumericOID:
		return cursorDecimal, nil
	case pgtype.TimestamptzOID:
		return cursorTimestamptz, nil
	case pgtype.TimestampOID:
		return cursorTimestamp, nil
	case pgtype.DateOID:
		return cursorDate, nil
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID:
		return cursorText, nil
	}
	return 0, fmt.Errorf("%w (type OID %d)", errCursorType, oid)
}

// isTime reports a kind that a duration (LookBack) and now() apply to.
func (k cursorKind) isTime() bool {
	return k == cursorTimestamptz || k == cursorTimestamp || k == cursorDate
}

// param returns the placeholder for parameter n cast to the kind's type, so that the
// server never has to guess a parameter's type from its context.
func (k cursorKind) param(n int) string {
	p := "$" + strconv.Itoa(n)
	switch k {
	case cursorInt:
		return p + "::bigint"
	case cursorDecimal:
		return p + "::text::numeric"
	case cursorTimestamptz:
		return p + "::timestamptz"
	case cursorTimestamp:
		return p + "::timestamp"
	case cursorDate:
		return p + "::date"
	}
	return p + "::text"
}

// now returns the database's current time in the kind's type. Naive timestamps and dates
// are read as UTC, like the values this source yields.
func (k cursorKind) now() string {
	switch k {
	case cursorTimestamp:
		return "(now() AT TIME ZONE 'UTC')"
	case cursorDate:
		return "(now() AT TIME ZONE 'UTC')::date"
	}
	return "now()"
}

// bounds renders the range predicate on expr: expr > lower (when hasLower), expr < upper
// (when hasUpper), expr <= now() (when atNow), and, with orNull, rows whose expr is NULL.
// Parameters are numbered from first. It returns "" when nothing bounds expr and NULLs
// are wanted anyway.
func bounds(expr string, k cursorKind, first int, lowerOp string, hasLower, hasUpper, atNow, orNull bool) (pred string, next int) {
	var parts []string
	e := "(" + expr + ")"
	n := first
	if hasLower {
		parts = append(parts, e+" "+lowerOp+" "+k.param(n))
		n++
	}
	if hasUpper {
		parts = append(parts, e+" < "+k.param(n))
		n++
	}
	if atNow {
		parts = append(parts, e+" <= "+k.now())
	}
	if len(parts) == 0 {
		if orNull {
			return "", n
		}
		return e + " IS NOT NULL", n
	}
	pred = strings.Join(parts, " AND ")
	if orNull {
		pred = "(" + pred + ") OR " + e + " IS NULL"
	}
	return pred, n
}
