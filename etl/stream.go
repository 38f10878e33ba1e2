package etl

import (
	"context"
	"fmt"
	"iter"
)

// Stream is a schema and a single-use sequence of rows in that schema.
//
// Rows may reuse one Row slice between iterations; a consumer that keeps a row past the
// next iteration must call [Row.Clone]. A failure is yielded as a final (nil, err) pair.
// Ranging over Rows a second time is an error the stream may not detect.
//
// A source of changed rows declares what its columns mean to a merge: Cursor orders the
// versions of one key and Deleted marks the soft-deleted ones. A merge takes both as its
// defaults, so a soft delete declared once, at the source, is applied by the sink.
// [Map], [Filter] and [Validate] keep the declaration, and [Pipeline.Run] carries it
// across any transform whose output stream declares nothing (one that rebuilds the
// stream with [StructStream], say). A merge fails, rather than load tombstones as rows,
// when a declared column is missing from the stream it receives.
type Stream struct {
	Schema Schema
	Rows   iter.Seq2[Row, error]
	// Cursor names the column of Schema whose highest value is the latest version of a
	// key. Defaults to none: the last row to arrive wins.
	Cursor string
	// Deleted names the column of Schema that marks a row deleted at the source (a soft
	// delete): a bool column when it is true, a column of any other type (a deleted_at
	// timestamp) when it is not NULL. Defaults to none: no row is a delete.
	Deleted string
	// Position, when not nil, returns where the row Rows yielded last came from; it is
	// valid until the next row is yielded. A source that reads lines sets it, and [Map],
	// [Filter] and [Validate] pass it on, since they yield each row as they receive it. A
	// transform that buffers, reorders or merges rows must leave it nil. Sinks call it to
	// name the line of a value the target refused.
	Position func() Position
}

// Position is where a row came from: the input it was read from and the line its record
// starts on.
type Position struct {
	// Source names the input as the source's own errors name it: a path, a URL without
	// its query, or a reader's name.
	Source string
	// Line is the 1-based line the row's record starts on.
	Line int64
}

// String formats p as "source: line N".
func (p Position) String() string { return fmt.Sprintf("%s: line %d", p.Source, p.Line) }

// declare returns s with the declaration of from wherever s declares nothing.
func (s Stream) declare(from Stream) Stream {
	if s.Cursor == "" {
		s.Cursor = from.Cursor
	}
	if s.Deleted == "" {
		s.Deleted = from.Deleted
	}
	return s
}

// Extractor reads rows from a source. Extract opens the source and returns a stream over
// it; the stream closes what it opened when iteration stops, early or not.
type Extractor interface {
	Extract(ctx context.Context, run *Run) (Stream, error)
}

// LendingExtractor is an [Extractor] that can lend its rows' values. ExtractLent returns
// the stream Extract would, except that the values of a row (its strings and times, not
// only the Row slice) are valid only until the next iteration, so that the source can
// reuse their memory instead of allocating for every value. Cloning such a row does not
// make its values last.
//
// [Pipeline.Run] calls ExtractLent only when the rows go straight to a
// [BorrowingLoader], with no transform between them; otherwise it calls Extract. Code
// that calls ExtractLent itself takes on the same duty: nothing it hands the rows to
// may keep a value past the next row.
type LendingExtractor interface {
	Extractor
	ExtractLent(ctx context.Context, run *Run) (Stream, error)
}

// BorrowingLoader is a [Loader] that keeps no value of a row past the next iteration
// (it encodes each row as it arrives, say), so it can take a [LendingExtractor]'s lent
// rows. BorrowsRows only marks the capability.
type BorrowingLoader interface {
	Loader
	BorrowsRows()
}

// Transformer turns one stream into another. It must stay lazy: it wraps in.Rows rather
// than collecting it, so memory stays flat.
type Transformer interface {
	Transform(ctx context.Context, run *Run, in Stream) (Stream, error)
}

// Loader writes a stream into a target. A loader that fails must leave the target as it
// was before the call. It returns what it wrote, and the results of the checks it ran even
// when the load failed.
type Loader interface {
	Load(ctx context.Context, run *Run, in Stream) (LoadResult, error)
}

// LoadResult is what a [Loader] reports about one load.
type LoadResult struct {
	// RowsWritten counts rows inserted or replaced in the target.
	RowsWritten int64
	// RowsDeleted counts target rows removed (a full refresh's old rows excluded).
	RowsDeleted int64
	// Checks holds every check's result, passed or not.
	Checks []CheckResult
}

// ExtractFunc adapts a function to [Extractor].
type ExtractFunc func(ctx context.Context, run *Run) (Stream, error)

// Extract calls f(ctx, run).
func (f ExtractFunc) Extract(ctx context.Context, run *Run) (Stream, error) { return f(ctx, run) }

// TransformFunc adapts a function to [Transformer].
type TransformFunc func(ctx context.Context, run *Run, in Stream) (Stream, error)

// Transform calls f(ctx, run, in).
func (f TransformFunc) Transform(ctx context.Context, run *Run, in Stream) (Stream, error) {
	return f(ctx, run, in)
}

// LoadFunc adapts a function to [Loader].
type LoadFunc func(ctx context.Context, run *Run, in Stream) (LoadResult, error)

// Load calls f(ctx, run, in).
func (f LoadFunc) Load(ctx context.Context, run *Run, in Stream) (LoadResult, error) {
	return f(ctx, run, in)
}

// Map returns a Transformer that rewrites each row in place with fn and keeps the schema
// out. A nil out keeps the input schema. fn may modify and return the row it is given. An
// error from fn stops the stream. The stream's declared Cursor and Deleted are kept, so
// an out that drops a declared column makes a merge of the stream fail.
func Map(out Schema, fn func(Row) (Row, error)) Transformer {
	return TransformFunc(func(ctx context.Context, run *Run, in Stream) (Stream, error) {
		schema := out
		if schema == nil {
			schema = in.Schema
		}
		return Stream{Schema: schema, Cursor: in.Cursor, Deleted: in.Deleted, Position: in.Position, Rows: func(yield func(Row, error) bool) {
			for row, err := range in.Rows {
				if err == nil {
					if row, err = fn(row); err != nil {
						err = WithStep("transform", err)
					}
				}
				if err != nil {
					yield(nil, err)
					return
				}
				if !yield(row, nil) {
					return
				}
			}
		}}, nil
	})
}

// Filter returns a Transformer that keeps the rows for which keep returns true. Dropped
// rows are counted in [Stats.RowsFiltered], so row-count checks still balance.
func Filter(keep func(Row) bool) Transformer {
	return TransformFunc(func(ctx context.Context, run *Run, in Stream) (Stream, error) {
		return Stream{Schema: in.Schema, Cursor: in.Cursor, Deleted: in.Deleted, Position: in.Position, Rows: func(yield func(Row, error) bool) {
			for row, err := range in.Rows {
				if err == nil && !keep(row) {
					run.addFiltered(1)
					continue
				}
				if !yield(row, err) || err != nil {
					return
				}
			}
		}}, nil
	})
}

// Validate returns a Transformer that skips the rows check refuses. Each refused row is
// recorded with [Run.Rejects] and counted in [Stats.RowsRejected] (it was already counted
// as read), so row-count checks still balance. maxBad bounds the run's rejected rows in
// all, the source's included: the refusal that takes the run past it fails the stream (so
// maxBad 0 fails on the first), and so does a stream that ends past it. check may return a [Reject] to name the line and column.
func Validate(maxBad int, check func(Row) error) Transformer {
	return TransformFunc(func(ctx context.Context, run *Run, in Stream) (Stream, error) {
		return Stream{Schema: in.Schema, Cursor: in.Cursor, Deleted: in.Deleted, Position: in.Position, Rows: func(yield func(Row, error) bool) {
			for row, err := range in.Rows {
				if err == nil {
					if verr := check(row); verr != nil {
						rej, ok := verr.(Reject)
						if !ok {
							rej = Reject{Source: "validate", Err: verr}
						}
						// Counted before the run fails, so that the error and the run
						// record's rows_rejected give the same number.
						run.reject(rej)
						if n := run.rejected.Load(); n > int64(maxBad) {
							yield(nil, WithStep("transform", fmt.Errorf("%d rows rejected, more than the %d allowed; the last: %w", n, maxBad, rej)))
							return
						}
						continue
					}
				}
				if !yield(row, err) || err != nil {
					return
				}
			}
			// The source's own rejects may come after the last refusal here.
			if n := run.rejected.Load(); n > int64(maxBad) {
				yield(nil, WithStep("transform", fmt.Errorf("%d rows rejected, more than the %d allowed", n, maxBad)))
			}
		}}, nil
	})
}

// Collect reads a whole stream into memory, cloning each row. It is meant for tests and
// small lookups, not for loads.
func Collect(s Stream) ([]Row, error) {
	var rows []Row
	for row, err := range s.Rows {
		if err != nil {
			return rows, err
		}
		rows = append(rows, row.Clone())
	}
	return rows, nil
}

// SliceStream returns a stream over rows held in memory.
func SliceStream(schema Schema, rows []Row) Stream {
	return Stream{Schema: schema, Rows: func(yield func(Row, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}}
}
