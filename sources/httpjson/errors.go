package httpjson

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/internal/textvalue"
)

// Sentinels for the conditions an [*Error] or [*HTTPError] can carry. Test for them with
// errors.Is.
var (
	// ErrSyntax marks a body that is not valid JSON (or, for NDJSON, a line that is not).
	ErrSyntax = errors.New("invalid JSON")
	// ErrInvalidValue marks a value that does not convert exactly to its column's type. It
	// is sources/csv's sentinel, so either package's name matches.
	ErrInvalidValue = textvalue.ErrInvalidValue
	// ErrInvalidUTF8 marks a string bound for a text column that is not valid UTF-8, or
	// that escapes half of a UTF-16 surrogate pair. It is sources/csv's sentinel.
	ErrInvalidUTF8 = textvalue.ErrInvalidUTF8
	// ErrNull marks a null or missing field for a column marked NotNull. It is
	// sources/csv's sentinel.
	ErrNull = textvalue.ErrNull
	// ErrNotObject marks a record that is not a JSON object, or a field on a path through
	// something that is not an object ("user.id" where user is a number).
	ErrNotObject = errors.New("not a JSON object")
	// ErrDuplicateField marks a record that holds a mapped field twice: which one was
	// meant cannot be told.
	ErrDuplicateField = errors.New("field appears twice")
	// ErrNoRecords marks a JSON body without an array at [Config.Records]: an error body
	// sent with status 200, or a changed API.
	ErrNoRecords = errors.New("no records array")
	// ErrTooManyBadRecords is returned when more records are bad than
	// [Config.MaxBadRecords] allows.
	ErrTooManyBadRecords = errors.New("too many bad records")
	// ErrValueTooLong marks a string or a TypeJSON value longer than
	// [Config.MaxValueBytes].
	ErrValueTooLong = errors.New("value too long")
	// ErrTooManyPages is returned when a run would fetch more than [Config.MaxPages]
	// pages: a pagination loop, or a limit set too low.
	ErrTooManyPages = errors.New("more pages than MaxPages")
	// ErrRepeatedPage is returned when the API hands out a next link or cursor it already
	// handed out in this run, or serves two pages in a row with the same body: following
	// it would read the same records again, forever.
	ErrRepeatedPage = errors.New("the API repeats a page")
	// ErrForeignHost is returned when a next link points at another scheme or host than
	// [Config.URL]: the source does not send the caller's headers (credentials) there.
	ErrForeignHost = errors.New("the next page is on another host")
	// ErrNullCursor marks a record whose [Config.Cursor] is null or missing under the
	// [NullCursorError] policy. sources/postgres reports such rows with an error of the
	// same name.
	ErrNullCursor = errors.New("the cursor is null")
	// ErrNotFound is matched by an [*HTTPError] with status 404.
	ErrNotFound = errors.New("not found")
)

// Error reports a problem at a place in the API's answers: a page that is not JSON, a
// record that is not an object, a value that does not fit its column, a pagination that
// loops.
type Error struct {
	// URL is the page's URL with its query and credentials hidden (see the package
	// documentation on secrets).
	URL string
	// Page is the 1-based number of the page in this run.
	Page int
	// Record is the 1-based position of the record in the page's records (for NDJSON, its
	// line), 0 when the problem is not about one record.
	Record int
	// Field is the record's field, as a path such as "user.id", empty when the whole
	// record or page is to blame.
	Field string
	// Column is the schema column the field maps to, empty when none.
	Column string
	// Err is the cause, which often matches one of the ErrXxx sentinels.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("httpjson: ")
	b.WriteString(pageName(e.URL, e.Page))
	if e.Record > 0 {
		b.WriteString(": record ")
		b.WriteString(strconv.Itoa(e.Record))
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %q", e.Field)
		if e.Column != "" && e.Column != e.Field {
			fmt.Fprintf(&b, " (column %q)", e.Column)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// pageName names a page by its redacted URL and its number in the run, since the URL
// alone (its query hidden) is often the same for every page.
func pageName(url string, page int) string {
	return url + " (page " + strconv.Itoa(page) + ")"
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// HTTPError reports an answer with a status other than 2xx, after the retries that the
// status allows. errors.Is(err, ErrNotFound) holds for a 404.
type HTTPError struct {
	// URL is the requested URL with its query and credentials hidden.
	URL string
	// Page is the 1-based number of the page in this run.
	Page int
	// StatusCode is the response's status code, such as 503.
	StatusCode int
	// Status is the response's status line, such as "503 Service Unavailable".
	Status string
	// Attempts counts the requests made for this page, the last one included.
	Attempts int
	// RetryAfter is the wait the server asked for, when it asked for longer than
	// [Retry.MaxWait] and the source gave up instead of waiting.
	RetryAfter time.Duration
	// Body is the start of the response body, at most 256 bytes, with the values of the
	// configured headers (the credentials) hidden, for a server that says why it refused.
	Body string
}

// Error implements the error interface.
func (e *HTTPError) Error() string {
	s := fmt.Sprintf("httpjson: GET %s: HTTP status %s", pageName(e.URL, e.Page), e.Status)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (the server asked to wait %s, more than Retry.MaxWait)", e.RetryAfter)
	}
	if e.Body != "" {
		s += ": " + strconv.Quote(e.Body)
	}
	return s
}

// Is reports a 404 as [ErrNotFound].
func (e *HTTPError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == 404
}
