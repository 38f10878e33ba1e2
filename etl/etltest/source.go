package etltest

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/sluice-etl/sluice/etl"
)

// Source is an in-memory [etl.Extractor]. Its fields may be set directly or through
// [NewSource] and [SourceOf]; change them only between runs.
//
// Each Extract yields a fresh pass over Rows through one reused [etl.Row], as real sources
// do, so the rows in the Source are never modified by the pipeline, and a transform or
// sink that keeps a row without cloning it sees it change.
type Source struct {
	// Schema is the stream's schema.
	Schema etl.Schema
	// Rows are yielded in order. Each must have one value per column of Schema.
	Rows []etl.Row
	// Cursor and Deleted are declared on the stream (see [etl.Stream]), as a source of
	// changed rows declares its cursor and soft-delete columns. Default to none.
	Cursor, Deleted string
	// Err, when set, is returned by Extract, as a source that cannot be opened does.
	// Defaults to nil.
	Err error
	// StreamErr, when set, is yielded after the rows as the stream's final error, as a
	// source that breaks half-way does. Defaults to nil.
	StreamErr error

	extracts atomic.Int64
}

// NewSource returns a Source of rows in schema.
func NewSource(schema etl.Schema, rows ...etl.Row) *Source {
	return &Source{Schema: schema, Rows: rows}
}

// SourceOf returns a Source of items, mapped to rows by [etl.SchemaOf]'s rules. It panics
// when T cannot be mapped, as httptest.NewRequest does on bad input: that is a mistake in
// the test, not a condition it can handle.
func SourceOf[T any](items ...T) *Source {
	s, err := etl.FromStructs(items)
	if err != nil {
		panic("etltest.SourceOf: " + err.Error())
	}
	rows, err := etl.Collect(s)
	if err != nil {
		panic("etltest.SourceOf: " + err.Error())
	}
	return &Source{Schema: s.Schema, Rows: rows}
}

// Extracts returns how many times Extract has been called.
func (s *Source) Extracts() int { return int(s.extracts.Load()) }

// Extract returns a stream over the source's rows, or Err. The stream stops with the
// context's error when ctx is cancelled.
func (s *Source) Extract(ctx context.Context, _ *etl.Run) (etl.Stream, error) {
	s.extracts.Add(1)
	if s.Err != nil {
		return etl.Stream{}, s.Err
	}
	schema, rows, streamErr := s.Schema, s.Rows, s.StreamErr
	return etl.Stream{Schema: schema, Cursor: s.Cursor, Deleted: s.Deleted, Rows: func(yield func(etl.Row, error) bool) {
		buf := make(etl.Row, len(schema))
		for i, r := range rows {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			if len(r) != len(schema) {
				yield(nil, fmt.Errorf("etltest: source row %d has %d values, the schema has %d columns", i+1, len(r), len(schema)))
				return
			}
			copy(buf, r)
			if !yield(buf, nil) {
				return
			}
		}
		if streamErr != nil {
			yield(nil, streamErr)
		}
	}}, nil
}
