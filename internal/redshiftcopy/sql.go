package redshiftcopy

import (
	"fmt"
	"strings"
)

// Table names a table, optionally in a schema.
type Table struct {
	// Schema is the table's schema. Defaults to the connection's search_path when empty.
	Schema string
	// Name is the table's name.
	Name string
}

// String returns the table as quoted SQL.
func (t Table) String() string {
	if t.Schema == "" {
		return QuoteIdentifier(t.Name)
	}
	return QuoteIdentifier(t.Schema) + "." + QuoteIdentifier(t.Name)
}

// QuoteIdentifier returns name as a double-quoted SQL identifier, with embedded double
// quotes doubled. Redshift folds even quoted identifiers to lower case unless
// enable_case_sensitive_identifier is on, so names that differ only in case collide there.
func QuoteIdentifier(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// QuoteLiteral returns s as a single-quoted SQL string literal. Redshift reads a backslash
// in a literal as an escape, so backslashes are doubled as well as single quotes. The
// result is for Redshift: PostgreSQL with standard_conforming_strings on reads the doubled
// backslashes literally. Values from users are bound, never quoted; this is for the S3
// URLs, role ARNs and options that COPY takes only as literals.
func QuoteLiteral(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			b.WriteString(`''`)
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteByte(s[i])
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// NullMarker is the field that stands for NULL in staged CSV, passed to COPY as
// NULL AS. A text value equal to it cannot be staged.
const NullMarker = `\N`

// Copy is a Redshift COPY of staged gzip CSV parts, listed by a manifest, into a table.
type Copy struct {
	// Table is the table to load.
	Table Table
	// Columns lists the target columns in the order of the CSV fields.
	Columns []string
	// ManifestURL is the s3:// URL of the manifest that lists the parts.
	ManifestURL string
	// IAMRole is the ARN of the role Redshift assumes to read the bucket. Defaults to
	// the cluster's default role (IAM_ROLE default).
	IAMRole string
	// Region is the bucket's region. The sink always sets it, to the region its S3 client
	// resolved, since a COPY from a bucket in another region than the cluster's fails
	// without it. Defaults to the cluster's region (no REGION clause).
	Region string
}

// SQL returns the COPY statement. Every identifier is quoted and every string is an
// escaped literal. The options match what [Stager] writes: gzip CSV, NULL as
// [NullMarker], timestamps in ISO form with an offset. ROUNDEC makes a decimal with more
// fractional digits than its column's scale round, as INSERT does, where COPY would
// otherwise truncate it ("By default, COPY truncates values when necessary to fit the
// scale of the column", Data conversion parameters). COMPUPDATE and STATUPDATE are off
// because the target of a COPY is always a short-lived stage table.
func (c Copy) SQL() string {
	var b strings.Builder
	b.WriteString("COPY ")
	b.WriteString(c.Table.String())
	if len(c.Columns) > 0 {
		b.WriteString(" (")
		for i, col := range c.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(QuoteIdentifier(col))
		}
		b.WriteString(")")
	}
	b.WriteString(" FROM ")
	b.WriteString(QuoteLiteral(c.ManifestURL))
	b.WriteString(" IAM_ROLE ")
	if c.IAMRole == "" {
		b.WriteString("default")
	} else {
		b.WriteString(QuoteLiteral(c.IAMRole))
	}
	if c.Region != "" {
		b.WriteString(" REGION ")
		b.WriteString(QuoteLiteral(c.Region))
	}
	fmt.Fprintf(&b, " MANIFEST CSV GZIP NULL AS %s TIMEFORMAT 'auto' ROUNDEC COMPUPDATE OFF STATUPDATE OFF", QuoteLiteral(NullMarker))
	return b.String()
}
