// Package pgxrows reads small query results from pgx into the plain values package etl
// documents, for the PostgreSQL and Redshift dialects of the load protocol, whose checks
// and state reads print and compare what they get back.
package pgxrows

import (
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluice-etl/sluice/etl"
)

// Collect reads every row of rows, closing it, with each value made plain by [Plain].
// Callers bound their queries; this holds the whole result.
func Collect(rows pgx.Rows, err error) ([][]any, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = Plain(v)
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// Plain turns pgx's wrapper types into the values package etl documents: numeric becomes
// etl.Decimal, a UUID its text form, and every integer int64, so checks print keys as
// people write them.
func Plain(v any) any {
	switch x := v.(type) {
	case pgtype.Numeric:
		if !x.Valid {
			return nil
		}
		b, err := x.MarshalJSON()
		if err != nil {
			return nil
		}
		return etl.Decimal(b)
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	}
	return v
}
