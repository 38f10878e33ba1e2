// Package sources is the home of sluice's extractors, one package per kind of input.
// Each one implements [etl.Extractor], and [etl.Lineage] where it can name what it reads:
//
//   - [github.com/sluice-etl/sluice/sources/csv] reads CSV from a local file, an io.Reader,
//     HTTP(S) or S3, mapped and typed to a target schema.
//   - [github.com/sluice-etl/sluice/sources/postgres] reads a PostgreSQL table or query,
//     in full or incrementally by a cursor column, with soft deletes and key streams for
//     reconciliation.
//   - [github.com/sluice-etl/sluice/sources/httpjson] reads a JSON HTTP API page by page,
//     in full or incrementally by a "changed since" parameter, with retries and soft
//     deletes.
//
// # Writing a source
//
// A source opens nothing it cannot close: its stream closes its inputs when iteration
// stops, early or not. It reuses one [etl.Row] between rows when that saves allocations,
// reports a failure as a final (nil, err) pair, checks ctx often enough to stop promptly,
// and names the input, line and column in every error about the data. Bad records it may
// skip go to [etl.Run.Reject], bounded by a limit the caller sets.
//
// An incremental source never skips a record whose cursor is NULL, nor loads it
// silently: by default it fails with an error that names the record and the cursor
// column and matches the package's ErrNullCursor, and a NullCursor policy
// (NullCursorAlways) lets such records through, leaving the watermark alone.
//
// [etl.Extractor]: https://pkg.go.dev/github.com/sluice-etl/sluice/etl#Extractor
// [etl.Lineage]: https://pkg.go.dev/github.com/sluice-etl/sluice/etl#Lineage
// [etl.Row]: https://pkg.go.dev/github.com/sluice-etl/sluice/etl#Row
// [etl.Run.Reject]: https://pkg.go.dev/github.com/sluice-etl/sluice/etl#Run.Reject
package sources
