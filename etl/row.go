package etl

import (
	"bytes"
	"fmt"
	"strings"
)

// Type is the logical type of a column. Each sink maps it to its own SQL type.
type Type uint8

// The column types a [Schema] can hold. See the package documentation for the Go value
// that each one carries in a [Row].
const (
	TypeText Type = iota + 1
	TypeInt64
	TypeFloat64
	TypeNumeric
	TypeBool
	TypeTimestamp
	TypeDate
	TypeBytes
	TypeJSON
)

var typeNames = [...]string{
	TypeText:      "text",
	TypeInt64:     "int64",
	TypeFloat64:   "float64",
	TypeNumeric:   "numeric",
	TypeBool:      "bool",
	TypeTimestamp: "timestamp",
	TypeDate:      "date",
	TypeBytes:     "bytes",
	TypeJSON:      "json",
}

// String returns the type's name, as accepted by [ParseType].
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// ParseType returns the Type named s (case-insensitive), as printed by [Type.String].
func ParseType(s string) (Type, error) {
	for t, name := range typeNames {
		if name != "" && strings.EqualFold(name, s) {
			return Type(t), nil
		}
	}
	return 0, fmt.Errorf("etl: unknown column type %q", s)
}

// Decimal is an exact decimal number in its text form, such as "12.50" or "-0.001". It is
// the value of a [TypeNumeric] column; keeping the text avoids rounding through float64.
type Decimal string

// Column describes one column of a [Schema].
type Column struct {
	// Name is the column's name in the source and the target. It is quoted wherever it
	// reaches SQL, so any string is allowed.
	Name string
	// Type is the column's logical type. Defaults to TypeText when zero.
	Type Type
	// NotNull marks a column that never holds NULL. Sinks declare it on the tables they
	// create.
	NotNull bool
}

// Schema is the ordered list of a stream's columns.
type Schema []Column

// Index returns the position of the column named name, or -1.
func (s Schema) Index(name string) int {
	for i, c := range s {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Names returns the column names in order.
func (s Schema) Names() []string {
	names := make([]string, len(s))
	for i, c := range s {
		names[i] = c.Name
	}
	return names
}

// Validate reports an empty schema, an empty column name or a duplicate column name.
func (s Schema) Validate() error {
	if len(s) == 0 {
		return fmt.Errorf("etl: schema has no columns")
	}
	seen := make(map[string]bool, len(s))
	for i, c := range s {
		if c.Name == "" {
			return fmt.Errorf("etl: column %d has no name", i+1)
		}
		if seen[c.Name] {
			return fmt.Errorf("etl: column %q appears twice", c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

// Row is one record: a value per column of its stream's [Schema], nil for NULL.
type Row []any

// Clone returns a copy of r that stays valid after the stream moves on. Byte slices are
// copied too.
func (r Row) Clone() Row {
	c := make(Row, len(r))
	for i, v := range r {
		if b, ok := v.([]byte); ok {
			v = bytes.Clone(b) // keeps an empty slice empty, not nil (NULL)
		}
		c[i] = v
	}
	return c
}
