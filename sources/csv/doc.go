// Package csv reads CSV into sluice streams. A [Source], built by [New] from a [Config],
// is an [etl.Extractor]: it reads a local file, any io.Reader, an http:// or https://
// URL, or S3 objects, maps the header to a target [etl.Schema], and types every field.
//
//	src, err := csv.New(csv.Config{
//		Path:   "s3://my-bucket/exports/2024-06-01/",
//		Schema: etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name"}},
//	})
//
// # Inputs
//
// [Config.Path] is a local path or a file://, http://, https:// or s3:// URL;
// [Config.Reader] is any io.Reader, named by [Config.Name] in errors. HTTP bodies and S3
// objects are streamed, so memory stays flat whatever the size: a stall longer than
// [Config.Timeout] fails the read, while a body that keeps flowing may take as long as it
// needs. A status other than 2xx is an [*HTTPError] naming the URL and the status; a
// body cut short is an error, never a silent end of data.
//
// "s3://bucket/key" reads one object; "s3://bucket/prefix/" reads every object under the
// prefix in key order as one stream, each object with its own header. S3 is reached with
// aws-sdk-go-v2 and the default credential chain; [S3Config] overrides the region, the
// endpoint and path-style addressing, or supplies a client.
//
// Gzip is recognised by its magic bytes, not by the name, and inflated on the fly. A
// UTF-8 byte order mark is skipped. Another encoding is decoded with [Config.Encoding]
// (golang.org/x/text: UTF-16, Latin-1, Windows-1252, ...); without it, an input that
// starts with a UTF-16 byte order mark fails with [ErrUTF16], which says to set it.
//
// Credentials in an s3:// URL are refused ([ErrCredentials]): the AWS credential chain
// is the way to give them. A presigned https:// URL is read as given, and its query is
// never printed: errors, logs and lineage name the URL without it.
//
// # Format
//
// Records follow RFC 4180 as encoding/csv reads it, except that a line break inside a
// quoted field is kept byte for byte (CR LF included, as PostgreSQL's CSV COPY keeps
// it). [Config.Comma], [Config.Quote] and [Config.Escape] set the delimiter, the quote
// and a backslash-style escape; [Config.DecimalComma] reads "1234,56";
// [Config.FillShortRows] reads a short record's missing fields as NULL. An input with no
// header line (zero bytes, or blank lines only) is malformed, not empty: it fails with
// [ErrNoHeader] whether or not the run allows an empty load.
//
// # Columns and values
//
// The header is matched to the schema by name, exactly or, with
// [Config.CaseInsensitive], ignoring case; header columns are read in whatever order
// they come. A schema column the header lacks is an error naming the file and the column;
// a header column the schema lacks is one too, unless [Config.IgnoreExtra] is set.
// [Config.NoHeader] maps fields by position instead.
//
// Each field becomes the Go value of its column's [etl.Type] (see [ParseValue]):
//
//	int64      [+-]digits, base 10
//	float64    [+-]digits[.digits][e[+-]digits], NaN, [+-]Infinity or inf; no
//	           hexadecimal floats or digit separators, and nothing beyond a double's
//	           range (overflow, or a non-zero value that rounds to zero)
//	numeric    [+-]digits[.digits], kept as text in an etl.Decimal
//	bool       t/f, true/false, 1/0, yes/no, any case
//	timestamp  RFC 3339, or "2006-01-02 15:04:05[.frac][zone]" with zone Z, +07, +0700
//	           or +07:00; without a zone, in Config.Location (UTC by default)
//	date       2006-01-02, as midnight UTC; year 0000 does not exist and is refused
//	bytes      PostgreSQL's bytea text: \x-prefixed hex, or bytes with \\ for a
//	           backslash and \ooo for an octal byte
//	json       any valid JSON document, kept as text
//	text       the field, which must be valid UTF-8
//
// These rules are PostgreSQL's own text input, checked against PostgreSQL in the tests,
// and stricter in a few places (no surrounding spaces, no exponent in a numeric); what
// they refuse is an error, never a value changed on the way in.
//
// A field equal to [Config.NullString] (empty by default) is NULL, except in text
// columns, which keep it as a string unless [Config.NullText] is set. A NULL in a column
// marked NotNull is a bad value.
//
// # Errors and bad rows
//
// Every problem found in the data is a [*ParseError] naming the file, the line, the
// byte column and the schema column: a ragged row, a bad quote, invalid UTF-8, a value
// of the wrong type, a header that does not fit the schema, or a read that failed part
// way. Its Err matches one of the ErrXxx sentinels with errors.Is.
//
// By default the first bad row fails the run. With [Config.MaxBadRows] set, up to that
// many bad rows are skipped and reported through [etl.Run.Reject], so the run record
// lists them; one more fails the run with [ErrTooManyBadRows] and the line that tipped
// it. An unterminated quote always fails the run, and so does a record longer than
// [Config.MaxRecordBytes] ([ErrRecordTooLong]): a quote left open near the start of a
// large file fails there, without reading the rest of it into memory.
//
// # Performance
//
// Records are read by a scanner that gives encoding/csv's results (line breaks inside
// quotes aside), with a fast path for lines without quotes that finds the delimiters
// eight bytes at a time and copies the line into a 16 KiB block shared by the records
// around it, and the stream reuses one [etl.Row] between iterations, as the etl contract
// allows. Integers, decimals, booleans and timestamps are parsed by hand, without
// reflection or time.Parse. Text, numbers and timestamps are boxed into the row from
// arrays shared by 128 values rather than allocated one by one; a value kept after its
// row is gone keeps its array and its record's block alive, so keep a copy of the field
// (such as a string built with strings.Clone) rather than the row's value when a few
// values of many rows are kept for long. The context is checked every 1024 records, and
// HTTP and S3 reads stop as soon as it is cancelled.
//
// [Source.ExtractLent] reads without allocating per record (quoted ones aside): its
// rows' values are lent (see [etl.LendingExtractor]), and [etl.Pipeline] asks for it
// when the rows go straight to a sink that keeps none, such as
// sinks/postgres.FullRefresh.
//
// # Lineage
//
// A Source implements [etl.Lineage]: its dataset is "file:///abs/path",
// "https://host/path" (without the query, where tokens live), "s3://bucket/key" or
// "s3://bucket/prefix/", or the Reader's name.
package csv
