// Package etl holds the composable pieces every sluice pipeline is built from: the
// [Extractor], [Transformer] and [Loader] interfaces, the [Stream] of rows that flows between
// them, the [Pipeline] that wires them together, and the [Window], [Stats] and [Run] that
// describe one execution.
//
// Package etl imports only the standard library. Database and cloud code lives in the
// packages under sources/ and sinks/.
//
// # Streams
//
// A [Stream] is a [Schema] plus a single-use iter.Seq2 of [Row] values. Memory stays flat
// whatever the input size: a source yields one row at a time and may reuse the same Row
// slice between iterations, so a consumer that keeps a row must [Row.Clone] it. A stream
// reports a failure as a final (nil, err) pair and then stops. A [LendingExtractor] can
// lend the values too, valid until the next row like the slice; [Pipeline.Run] asks for
// that only when the rows go straight to a [BorrowingLoader], which keeps none of them.
//
// # Values
//
// A Row holds one Go value per column, in the order of the schema, and nil for NULL:
//
//	TypeText       string
//	TypeInt64      int64
//	TypeFloat64    float64
//	TypeNumeric    Decimal (an exact decimal in text form, such as "-12.50")
//	TypeBool       bool
//	TypeTimestamp  time.Time
//	TypeDate       time.Time (midnight UTC)
//	TypeBytes      []byte
//	TypeJSON       string (a JSON document)
//
// Sinks may accept other values for a column (a string for a numeric column, say) but the
// table above is what sources produce and what sinks must accept.
//
// # Structs
//
// Rows map to and from Go structs through `db:"col"` tags, reflected once per type:
// [SchemaOf] derives a schema, [FromStructs] and [StructStream] turn structs into a stream,
// and [Structs], [CollectStructs] and [ScanRow] turn rows back into structs. The mapping
// rules are in SchemaOf's documentation.
//
// # Runs
//
// [Pipeline.Run] gives every execution a [Run]: a unique ID, the pipeline's name and
// metadata, the data [Window], and live counters of rows read and rejected. Every stage
// receives the same *Run, so a sink can record in its run history what the source read.
package etl
