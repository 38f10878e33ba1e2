package csv

import (
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluice-etl/sluice/internal/textvalue"
)

// Sentinels for the conditions a [ParseError] or an open error can carry. Test for them
// with errors.Is.
var (
	// ErrFieldCount marks a record whose field count differs from the header's. It is
	// encoding/csv's own sentinel, so either package's name matches.
	ErrFieldCount = stdcsv.ErrFieldCount
	// ErrQuote marks a quoted field that is not closed, or text after a closing quote.
	ErrQuote = stdcsv.ErrQuote
	// ErrBareQuote marks a quote inside an unquoted field.
	ErrBareQuote = stdcsv.ErrBareQuote
	// ErrInvalidUTF8 marks a text or JSON field that is not valid UTF-8.
	ErrInvalidUTF8 = textvalue.ErrInvalidUTF8
	// ErrInvalidValue marks a field that does not parse as its column's type.
	ErrInvalidValue = textvalue.ErrInvalidValue
	// ErrNull marks a NULL in a column whose schema says NotNull.
	ErrNull = textvalue.ErrNull
	// ErrMissingColumn marks a schema column that the header lacks.
	ErrMissingColumn = errors.New("missing column")
	// ErrExtraColumn marks a header column that the schema lacks, when extra columns are
	// not ignored.
	ErrExtraColumn = errors.New("column not in the schema")
	// ErrDuplicateColumn marks a header that names one column twice.
	ErrDuplicateColumn = errors.New("duplicate column in header")
	// ErrTooManyBadRows is returned when more rows are bad than [Config.MaxBadRows] allows.
	ErrTooManyBadRows = errors.New("too many bad rows")
	// ErrNotFound marks an input that does not exist: an HTTP 404 or a missing S3 key.
	// A missing local file matches os.ErrNotExist instead.
	ErrNotFound = errors.New("not found")
	// ErrRecordTooLong marks a record longer than [Config.MaxRecordBytes], most often
	// a quote that is never closed. It always fails the run.
	ErrRecordTooLong = errors.New("record too long")
	// ErrNoObjects is returned when an s3:// prefix holds no objects.
	ErrNoObjects = errors.New("no objects under the prefix")
	// ErrNoHeader marks an input with no header line: a file of zero bytes or of blank
	// lines only. Such a file is malformed, not empty, and fails the run whether or not
	// the run allows an empty load; with [Config.NoHeader] it is read as no rows.
	ErrNoHeader = errors.New("header missing: the input is empty or blank")
	// ErrUTF16 marks an input that starts with a UTF-16 byte order mark while
	// [Config.Encoding] is unset.
	ErrUTF16 = errors.New("UTF-16: set Encoding (the input starts with a UTF-16 byte order mark), such as unicode.UTF16(unicode.LittleEndian, unicode.UseBOM) from golang.org/x/text/encoding/unicode")
	// ErrEncoding marks a text field holding U+FFFD after decoding with [Config.Encoding]:
	// bytes the encoding does not define.
	ErrEncoding = errors.New("bytes not valid in the encoding (decoded as U+FFFD)")
	// ErrSignedS3URL is returned by [New] for an s3:// URL that carries a presigned
	// query (X-Amz-Signature and the like), which only an https:// URL can use.
	ErrSignedS3URL = errors.New("an s3:// URL takes no signature: read the presigned https:// URL instead, or give credentials through the AWS credential chain")
	// ErrCredentials is returned by [New] for an s3:// URL that carries credentials.
	ErrCredentials = errors.New("credentials in an s3:// URL are refused: give them through the AWS credential chain (environment, shared profile, IAM role) or S3Config.Credentials")
)

// ParseError reports a problem at a place in an input: a malformed record, a value of
// the wrong type, a header that does not match the schema, or a read that failed part
// way.
type ParseError struct {
	// File names the input: a path, a URL without its query, or [Config.Name].
	File string
	// Line is the 1-based line where the problem is; for a value, the line its field
	// starts on.
	Line int
	// Column is the 1-based byte offset of the field in its line, 0 when unknown.
	Column int
	// Field names the schema or header column involved, if any.
	Field string
	// Err is the cause, which often matches one of the ErrXxx sentinels.
	Err error
}

// Error implements the error interface.
func (e *ParseError) Error() string {
	s := e.File + ": line " + strconv.Itoa(e.Line)
	if e.Column > 0 {
		s += ", column " + strconv.Itoa(e.Column)
	}
	if e.Field != "" {
		s += fmt.Sprintf(" (%q)", e.Field)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// HTTPError reports an HTTP input that answered with a status other than 2xx.
// errors.Is(err, ErrNotFound) holds for a 404.
type HTTPError struct {
	// URL is the requested URL, without its query string.
	URL string
	// StatusCode is the response's status code.
	StatusCode int
	// Status is the response's status line, such as "404 Not Found".
	Status string
}

// Error implements the error interface.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("GET %s: HTTP status %s", e.URL, e.Status)
}

// Is reports a 404 as [ErrNotFound].
func (e *HTTPError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == 404
}
