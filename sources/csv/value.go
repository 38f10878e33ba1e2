package csv

import (
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/textvalue"
)

// ParseValue converts one CSV field to the Go value that a column of type t carries in
// an [etl.Row] (see the value table in package etl). It never returns NULL: deciding
// which fields mean NULL is the caller's business. Timestamps without a zone are read as
// UTC. An error matches [ErrInvalidValue] or [ErrInvalidUTF8].
func ParseValue(t etl.Type, s string) (any, error) {
	return textvalue.Parse(t, s)
}
