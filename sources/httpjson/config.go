package httpjson

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// Format is the shape of a page body.
type Format uint8

const (
	// JSON is one JSON document a page: an array of records, or an object that holds the
	// array at [Config.Records].
	JSON Format = iota
	// NDJSON is one record a line (newline-delimited JSON, JSON Lines). Blank lines are
	// skipped.
	NDJSON
)

// Config says what a [Source] reads. URL and Schema are required; every other field has a
// usable zero value.
type Config struct {
	// URL is the first page, such as "https://api.example.com/v1/orders?limit=1000". Its
	// query is kept on every page the source builds (page numbers, offsets, cursors). A
	// credential in the query (?api_key=...) works, and is hidden wherever the URL is
	// shown, but prefer Header. Required.
	URL string
	// Header is sent with every request, such as
	// http.Header{"Authorization": {"Bearer " + token}} or {"X-Api-Key": {key}}. Its
	// values are never logged, and are hidden from the errors that quote a response
	// body. They are not sent to another host: a next link that leaves the host of URL
	// fails with [ErrForeignHost], and the default client drops them on a redirect to
	// another host. Defaults to none.
	Header http.Header

	// Format is the body's shape. Defaults to JSON.
	Format Format
	// Records is the path of the records array in a JSON body, its steps separated by
	// dots: "data", "result.items". A body without it fails with [ErrNoRecords]; null
	// there is an empty page. Defaults to "": the body is the array itself.
	Records string

	// Schema is the stream's columns, in the order rows carry them. Each column reads the
	// record's field of the same name, or the path Paths gives it. A zero Type means
	// text. Required.
	Schema etl.Schema
	// Paths maps a column name to the path of its field in a record, its steps separated
	// by dots: {"user_id": "user.id"}. A member whose name holds a dot cannot be reached.
	// Defaults to the column's own name for every column not listed.
	Paths map[string]string

	// Pagination says how to find the next page: [NextLink], [LinkHeader],
	// [NextCursor], [PageNumber] or [Offset]. PageNumber and Offset stop at a page with
	// no records; the others stop where the API gives no next link or cursor. Defaults
	// to nil: URL is the only page.
	Pagination Pagination
	// MaxPages bounds the pages one run fetches, against an API that paginates forever;
	// the empty page that ends a PageNumber or Offset walk counts. Defaults to 10,000; a
	// run that would fetch more fails with [ErrTooManyPages].
	MaxPages int

	// Cursor names the column (of Schema) whose highest value, among the rows the run
	// yielded, becomes the run's new watermark (see "Incremental reads" in the package
	// documentation). It must be a timestamp, date, int64, numeric or text column (text
	// compares by bytes, which suits ISO dates and sortable IDs). A record whose cursor
	// is null or missing fails the run unless NullCursor says otherwise. Defaults to "":
	// the source reads everything and keeps no watermark.
	Cursor string
	// NullCursor says what to do with a record whose cursor is null or missing. Defaults
	// to [NullCursorError].
	NullCursor NullCursorPolicy
	// Since names the query parameter that carries the stored watermark, such as
	// "updated_since", so that the API returns only what changed. It is left out when
	// no watermark is stored yet. Required with Cursor.
	Since string
	// SinceLayout formats a time watermark for Since: a time.Format layout, or "unix" or
	// "unixmilli" for an epoch number. The time is in UTC and is truncated, never rounded
	// up, so an API that takes whole seconds re-reads less than a second rather than
	// missing a row. Integer, numeric and text watermarks are sent as they are. Defaults
	// to time.RFC3339.
	SinceLayout string
	// LookBack re-reads changes this long before the watermark, to catch records that an
	// API lists late with an older time. Re-reading is safe: a merge sink keeps the
	// latest version of each key. It needs a timestamp or date Cursor. Defaults to 0.
	LookBack time.Duration
	// NoUpperBound lets a time watermark pass the server's clock. Defaults to false: the
	// new watermark is at most the time the first page was served (its Date header, or
	// this machine's clock without one), so a record stamped in the future waits for the
	// next run instead of moving the watermark past records still to come.
	NoUpperBound bool
	// Deleted names the soft-delete column (of Schema): a boolean true, or any other
	// column that is not NULL (a deleted_at timestamp), marks a record deleted at the
	// source. The stream declares it, with Cursor, so a sink's merge applies the deletes
	// without being told the column again. Defaults to "": none.
	Deleted string

	// MaxBadRecords is how many bad records (a value that does not fit its column, a
	// record that is not an object, an NDJSON line that is not JSON) are skipped and
	// reported through [etl.Run.Reject] before the run fails. Defaults to 0: the first
	// bad record fails the run. A JSON body that is not valid JSON always fails it.
	MaxBadRecords int
	// MaxValueBytes bounds one string or json value, so that a runaway body cannot
	// exhaust memory; a longer one fails the run with [ErrValueTooLong]. Defaults to
	// 64 MiB.
	MaxValueBytes int

	// Retry says how failed requests are retried. Defaults to the zero Retry's defaults.
	Retry Retry
	// HTTPClient sends the requests. Defaults to a client that waits at most Timeout for
	// response headers and drops Header on a redirect to another host.
	HTTPClient *http.Client
	// Timeout bounds the wait for response headers and any stall while a body is read;
	// a body that keeps flowing may take as long as it needs, and the time the stream's
	// consumer spends between rows does not count. The context bounds the whole run.
	// Defaults to 1 minute.
	Timeout time.Duration

	// Logger receives debug logs of the pages fetched and the retries. Defaults to the
	// run's logger. Header values are never logged.
	Logger *slog.Logger
}

// NullCursorPolicy says what an incremental run does with a record whose Cursor is null
// or missing, as sources/postgres's policy of the same name does with a row. Such
// records are never skipped silently.
type NullCursorPolicy uint8

const (
	// NullCursorError fails the run at the first such record with an [*Error] that names
	// its page, its position and the cursor column, and matches [ErrNullCursor]; the sink
	// rolls back. It is the default: no watermark can place the record, so a later sync
	// that asks for what changed since may never list it again. The record is not a bad
	// record: [Config.MaxBadRecords] does not let it through.
	NullCursorError NullCursorPolicy = iota
	// NullCursorAlways yields such records, which leave the watermark alone. Whether a
	// later sync reads them again is the API's to decide, by what it lists for Since.
	NullCursorAlways
)

// Retry says how a request that failed for a passing reason is tried again: a 429 or a
// 5xx status (501 and 505 excepted), a connection that failed, or a body cut off before
// any of its records was yielded or rejected.
type Retry struct {
	// Attempts bounds the requests made for one page, the first included. Defaults to 5;
	// 1 turns retries off.
	Attempts int
	// Backoff is the wait before the second attempt; it doubles for each attempt after,
	// up to MaxBackoff, with random jitter of up to half of it. Defaults to 1 second.
	Backoff time.Duration
	// MaxBackoff bounds one wait of the backoff. Defaults to 30 seconds.
	MaxBackoff time.Duration
	// MaxWait bounds a wait that the server asks for with Retry-After (seconds, or an
	// HTTP date). A longer one fails the page with an [*HTTPError] that says how long
	// was asked, rather than holding the run (and the sink's lock) for it. Defaults to 5
	// minutes.
	MaxWait time.Duration
}

// Defaults of the Config and Retry fields.
const (
	// DefaultMaxPages is the default of [Config.MaxPages].
	DefaultMaxPages = 10000
	// DefaultMaxValueBytes is the default of [Config.MaxValueBytes].
	DefaultMaxValueBytes = 64 << 20
	// DefaultTimeout is the default of [Config.Timeout].
	DefaultTimeout = time.Minute
	// DefaultAttempts is the default of [Retry.Attempts].
	DefaultAttempts = 5
	// DefaultBackoff is the default of [Retry.Backoff].
	DefaultBackoff = time.Second
	// DefaultMaxBackoff is the default of [Retry.MaxBackoff].
	DefaultMaxBackoff = 30 * time.Second
	// DefaultMaxWait is the default of [Retry.MaxWait].
	DefaultMaxWait = 5 * time.Minute
)
