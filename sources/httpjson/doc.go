// Package httpjson reads the records of a JSON HTTP API into sluice streams: page after
// page, typed to a target [etl.Schema], and incrementally by a "changed since" query
// parameter. A [Source], built by [New] from a [Config], is an [etl.Extractor] and an
// [etl.Lineage].
//
//	src, err := httpjson.New(httpjson.Config{
//		URL:        "https://api.example.com/v1/orders?limit=1000",
//		Header:     http.Header{"Authorization": {"Bearer " + token}},
//		Records:    "data",
//		Pagination: httpjson.NextCursor{Path: "meta.next_cursor", Param: "cursor"},
//		Schema: etl.Schema{
//			{Name: "id", Type: etl.TypeInt64, NotNull: true},
//			{Name: "customer_id", Type: etl.TypeInt64},
//			{Name: "total", Type: etl.TypeNumeric},
//			{Name: "updated_at", Type: etl.TypeTimestamp},
//			{Name: "deleted", Type: etl.TypeBool},
//		},
//		Paths:    map[string]string{"customer_id": "customer.id"},
//		Cursor:   "updated_at",
//		Since:    "updated_since",
//		LookBack: 5 * time.Minute,
//		Deleted:  "deleted",
//	})
//
// # Bodies and records
//
// A page body is a JSON array of records, an object that holds the array at
// [Config.Records] ("data", "result.items"), or NDJSON, one record a line
// ([Config.Format]). Each record is an object; each column reads the field of its name,
// or the dotted path [Config.Paths] gives it ("user.id"). A field that is missing or null
// is NULL, and a column marked NotNull refuses it. Fields the schema does not name are
// skipped, whatever they hold.
//
// Bodies are streamed: a record is decoded as its bytes arrive and handed on before the
// next is read, so memory holds one read buffer (64 KiB) and the current value, never a
// page, and stays flat whatever the number of pages. A single string or json value may be
// at most [Config.MaxValueBytes].
//
// # Values
//
// A value becomes its column's [etl.Type] exactly, or the record is bad:
//
//	int64      a number without fraction or exponent, in range; or a string as
//	           sources/csv reads it ("42", "+42"). 1.5 and 9223372036854775808 are
//	           refused, never rounded or clipped; so are 1.0 and 1e3, as PostgreSQL's
//	           bigint input refuses them.
//	float64    a number, correctly rounded; one that overflows, or underflows to zero,
//	           is refused, as PostgreSQL refuses it. A string as sources/csv reads it.
//	numeric    a number, kept digit for digit as an etl.Decimal, an exponent written
//	           out (1.5e3 is "1500", 2.50E-2 is "0.0250", at most 1000 digits); a string
//	           in sources/csv's form ([+-]digits[.digits], no exponent).
//	bool       true or false; the numbers 0 and 1; a string as sources/csv reads it
//	           (t/f, true/false, yes/no, 1/0).
//	timestamp  a string: RFC 3339 or "2006-01-02 15:04:05[.frac][zone]"; without a zone,
//	           UTC. Numbers are refused (an epoch's unit cannot be guessed).
//	date       a string "2006-01-02".
//	text       a string, which must be valid UTF-8 and must not escape half a surrogate
//	           pair; a number as written (an ID of 20 digits keeps them); true/false.
//	bytes      a string as sources/csv reads it (\x-prefixed hex, else its bytes).
//	json       any value, kept as written in the body; null is NULL.
//
// An object or array for a column that is not json is refused. Big integers never pass
// through float64: numbers are read from their text.
//
// A record that holds a mapped field twice ({"id":1,"id":2}) is refused: which one was
// meant cannot be told. A path that runs through something other than an object
// ("user.id" where user is 5) is refused; through null, its columns are NULL.
//
// # Errors and bad records
//
// Every problem found in the data is an [*Error] naming the page's URL (redacted), the
// page's number in the run, the record's position in the page (for NDJSON, its line) and
// the field and column; its Err matches an ErrXxx sentinel. A body that is not JSON
// names the byte.
//
// By default the first bad record fails the run. With [Config.MaxBadRecords], up to that
// many bad records (a value that does not fit, a record that is not an object, an NDJSON
// line that is not JSON) are skipped and reported through [etl.Run.Reject]; one more fails
// the run with [ErrTooManyBadRecords]. A JSON body that is not valid JSON always fails
// the run: where its next record starts cannot be known. A body that is not the shape
// configured (an object with no array at Records, say an error sent with status 200)
// fails with [ErrNoRecords]; the run does not take it for an empty page.
//
// # Pagination
//
// [Config.Pagination] is one of:
//
//	NextLink{Path: "links.next"}              follow a URL given in the body
//	LinkHeader{}                              follow Link: <...>; rel="next"
//	NextCursor{Path: "next", Param: "cursor"} send a token from the body back as ?cursor=
//	PageNumber{Param: "page"}                 ?page=1, 2, 3, ...
//	Offset{Param: "offset"}                   ?offset=0, then the records read so far
//
// PageNumber and Offset stop at a page that holds no records (a 204 No Content answer
// is one). The other styles stop only where the API marks the end (no next link, no
// cursor): they follow a link or cursor through a page with no records, which an API
// that filters its pages after cutting them may serve before the last. Against loops: a
// next link or cursor the run has already followed fails with [ErrRepeatedPage] (the run
// keeps an 8-byte hash of each, so this costs about 16 bytes a page), so does a page
// whose body is the same as the one before (an API that ignores the page parameter), and
// [Config.MaxPages] (10,000 by default) bounds every run. A next link to another scheme or
// host fails with [ErrForeignHost]: the caller's credentials are not sent where the
// caller did not point them.
//
// PageNumber and Offset ask for a position in a list. When the list changes while a run
// pages through it (a record is updated and moves to the end of a list sorted by
// updated_at), the records behind it shift forward and one is skipped; with an
// incremental cursor the watermark then passes it, and it is not read again until it
// changes again. Where the API offers a cursor or next link that continues after the
// last record served (keyset pagination), prefer it: a record that changes mid-run is
// then listed again, never skipped, and the merge keeps its latest version.
//
// # Retries and timeouts
//
// A request that fails for a passing reason is tried again, up to [Retry].Attempts (5)
// for one page: a 429 or 408, a 5xx other than 501 and 505, a connection that failed, or
// a body cut off before any of its records was yielded or rejected. The wait doubles
// from [Retry].Backoff (1s) up to MaxBackoff (30s), with jitter, unless the server asks
// for a wait with Retry-After (seconds or an HTTP date), which is honoured up to
// [Retry].MaxWait (5 minutes); a longer one fails at once with an [*HTTPError] saying
// what was asked. Other statuses fail at once with an [*HTTPError] that quotes the start
// of the body, credentials hidden.
//
// A body that breaks after some of its records were yielded or rejected fails the run
// instead of being fetched again: the API may not send the same records in the same
// order twice, so skipping the ones already handed on could lose some, and sending them
// again could duplicate them in the run's counts and rejects. The sink then rolls back,
// and the next run reads the page again.
//
// The context bounds the whole run, backoff waits included. [Config.Timeout] (1 minute)
// bounds the wait for each response's headers and any stall while a body is read, never
// a body that keeps flowing, and never the time the stream's consumer takes.
//
// # Incremental reads
//
// With [Config.Cursor] (a column) and [Config.Since] (a query parameter), a run asks only
// for what changed since the last one. The watermark travels through the [etl.Run] as
// with sources/postgres: a sink that keeps state reads the stored watermark under its
// lock and calls [etl.Run.SetWatermark]; the stream reads [etl.Run.Watermark] when
// iteration starts (not in Extract), sends it less [Config.LookBack] in the Since
// parameter, formatted by [Config.SinceLayout] (RFC 3339 in UTC by default, truncated,
// never rounded up), and after the last page, and only then, calls [etl.Run.Advance]
// with the highest cursor it yielded, which the sink stores in the same transaction as
// the rows. With no stored watermark the first run reads everything. The watermark never
// moves back.
//
// A record whose cursor is null or missing is never skipped or loaded silently: by
// default ([NullCursorError]) the run fails with an [*Error] that names the record and
// the column and matches [ErrNullCursor], as sources/postgres fails on a NULL cursor. With
// [NullCursorAlways] such records are yielded and leave the watermark alone.
//
// The Since parameter goes on the first page's URL, and on the pages built from it
// (PageNumber, Offset, NextCursor). A next link or Link header is followed as the API
// wrote it: the API carries its own filter there.
//
// A time watermark is held at the time the server served the first page (its Date
// header, or this machine's clock), so that a record stamped in the future does not move
// the watermark past records still to come; [Config.NoUpperBound] lifts that.
//
// The API decides whether Since is inclusive, and may list a record again; a record may
// also be listed on two pages when it changes while the run pages through. The source
// yields what the API sends, duplicates included. A merge sink keeps one version of each
// key, the latest by the cursor the stream declares, so loading the same record twice, or
// re-reading with a look-back, changes nothing.
//
// # Soft deletes
//
// [Config.Deleted] names the column that marks a record deleted at the source: a boolean
// that is true, or a deleted_at timestamp that is not NULL. The stream declares it
// (etl.Stream.Deleted), and the cursor column with it (etl.Stream.Cursor), so a sink's
// merge deletes those records and keeps the latest version of the others without being
// told either column again. The API must list deleted records as changes.
//
// # Secrets
//
// [Config.Header] carries the credentials (a bearer token, an API key). They are sent
// with every request to the host of [Config.URL] and nowhere else, and are never logged.
// URLs in errors, logs, rejects and lineage have their query and user info replaced
// ("https://api.example.com/v1/orders?..."), where api_key= and token= parameters live;
// the page number says which page. Where an error quotes a server's response body, the
// header values and the URL's credentials are masked in it. None of them reach a sink's
// run record.
//
// # Lineage
//
// [Source.Datasets] names the API as namespace "https://host[:port]" and name the URL's
// path without its leading slash.
package httpjson
