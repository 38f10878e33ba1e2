package csv

import (
	"bufio"
	"context"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/lineage"
	"github.com/sluice-etl/sluice/internal/redact"
)

// Config configures a [Source]. Exactly one of Path and Reader is set, and Schema is
// required; every other field has a usable zero value.
type Config struct {
	// Path names the input: a local file path, or a file://, http://, https:// or s3://
	// URL. "s3://bucket/key" reads one object; "s3://bucket/prefix/" (ending in "/")
	// reads every object under the prefix in key order, each with its own header.
	// Defaults to "": Reader is read instead.
	Path string
	// Reader is read instead of Path when set. It is read once: a Source over a Reader
	// is single-use. It is closed after reading when it is an io.ReadCloser. Defaults
	// to nil: Path is read instead.
	Reader io.Reader
	// Name names Reader in errors and lineage. Defaults to "reader".
	Name string

	// Schema is the stream's columns, in the order rows carry them. Header columns are
	// matched to it by name. A zero Type means text. Required: there is no default.
	Schema etl.Schema
	// NoHeader reads the first line as data and maps fields to Schema by position.
	// Defaults to false: the first line is a header.
	NoHeader bool
	// CaseInsensitive matches header names to Schema names ignoring case. Defaults to
	// false: names must match exactly (after trimming spaces).
	CaseInsensitive bool
	// IgnoreExtra skips header columns that Schema lacks. Defaults to false: an extra
	// column is an error, since it usually means the file changed shape.
	IgnoreExtra bool
	// Comma is the field delimiter, an ASCII character such as ';' or '\t'. Defaults to
	// ','.
	Comma rune
	// Quote is the quote character, an ASCII character other than Comma, such as '\''.
	// Inside a quoted field it is written twice to stand for itself (but see Escape).
	// Defaults to '"'.
	Quote rune
	// Escape is the character that escapes the quote character, or itself, inside a
	// quoted field, as PostgreSQL's CSV ESCAPE option and many exporters (MySQL, Spark)
	// write it: with Escape '\\', "say \"hi\"" reads as say "hi". Before any other
	// character it is kept ("C:\dir" reads as C:\dir), and outside quotes it means
	// nothing. With an Escape of its own, a doubled quote inside a quoted field is an
	// error, since readers disagree on what it means. Defaults to Quote: a quote is
	// escaped by doubling it.
	Escape rune
	// Encoding decodes the input to UTF-8 before it is read: an encoding from
	// golang.org/x/text/encoding, such as charmap.ISO8859_1 (Latin-1),
	// charmap.Windows1252, or unicode.UTF16(unicode.LittleEndian, unicode.UseBOM) for
	// UTF-16 with a byte order mark. A byte the encoding does not define, or a broken
	// UTF-16 surrogate, is not silently replaced: a text field that decodes to U+FFFD is
	// a bad value (so is a genuine U+FFFD in a file of such an encoding). Defaults to nil:
	// the input is UTF-8, and an input that starts with a UTF-16 byte order mark fails
	// with an error that says to set Encoding.
	Encoding encoding.Encoding
	// DecimalComma reads numeric and float fields written with a decimal comma, such as
	// "1234,56", as many European exports write them. A point in such a field is an error,
	// since it may be a thousands separator. Comma must then be another character, such
	// as ';'. Defaults to false: the decimal separator is a point.
	DecimalComma bool
	// FillShortRows reads a record with fewer fields than the header (or, with NoHeader,
	// the schema) as if the missing fields at its end were NULL, as some exporters write
	// trailing empty columns by leaving them out. A missing field of a NotNull column is
	// still a bad value. Defaults to false: a short record is a bad row
	// ([ErrFieldCount]).
	FillShortRows bool
	// MaxRecordBytes bounds the size of one record, so that a quote left open does not
	// read the rest of a large input into memory before it can fail; a longer record
	// fails the run with [ErrRecordTooLong]. Defaults to 64 MiB; negative means no bound.
	MaxRecordBytes int

	// NullString is the field value that means NULL. Defaults to "": an empty field is
	// NULL, except in text columns (see NullText).
	NullString string
	// NullText applies NullString to text columns too. Defaults to false: a text field
	// is always kept as a string, so an empty name loads as "" and not as NULL. Set it
	// with NullString `\N` to read PostgreSQL's text format faithfully.
	NullText bool
	// Location is the zone of timestamps that carry none. Defaults to UTC.
	Location *time.Location

	// MaxBadRows is how many bad rows (ragged, badly quoted, invalid UTF-8, a value of
	// the wrong type) are skipped and reported through [etl.Run.Reject] before the run
	// fails. Defaults to 0: the first bad row fails the run. An unterminated quote always
	// fails it, since the reader cannot tell where the next record starts.
	MaxBadRows int

	// HTTPClient sends the requests for http:// and https:// inputs. Defaults to a
	// client that waits at most Timeout for response headers.
	HTTPClient *http.Client
	// Timeout bounds the wait for HTTP response headers and any stall while reading an
	// HTTP or S3 body; there is no bound on a body that keeps flowing, so a file of any
	// size can be read, and time the stream's consumer spends between reads does not
	// count. Defaults to 1 minute.
	Timeout time.Duration
	// S3 says how to reach S3 for s3:// inputs. Defaults to the default credential chain.
	S3 S3Config

	// Logger receives debug logs about the inputs opened and the rows rejected. Defaults
	// to the run's logger.
	Logger *slog.Logger
}

var _ etl.LendingExtractor = (*Source)(nil)

// DefaultMaxRecordBytes is the default of [Config.MaxRecordBytes].
const DefaultMaxRecordBytes = 64 << 20

type kind uint8

const (
	kindReader kind = iota + 1
	kindFile
	kindHTTP
	kindS3
)

// Source reads CSV rows from a file, a reader, an HTTP(S) URL or S3 objects, and types
// each field by the column it maps to. It implements [etl.Extractor] and [etl.Lineage].
type Source struct {
	cfg     Config
	schema  etl.Schema
	kind    kind
	name    string // the input as errors and logs name it
	dataset etl.Dataset

	path        string // kindFile: absolute path
	url         *url.URL
	httpClient  *http.Client
	timeout     time.Duration
	bucket, key string // kindS3
	prefix      bool
	readerUsed  atomic.Bool
}

// New checks cfg and returns a Source. It opens nothing: inputs are opened when the
// stream is read.
func New(cfg Config) (*Source, error) {
	if err := cfg.Schema.Validate(); err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	s := &Source{cfg: cfg, schema: make(etl.Schema, len(cfg.Schema))}
	for i, c := range cfg.Schema {
		if c.Type == 0 {
			c.Type = etl.TypeText
		}
		if c.Type > etl.TypeJSON {
			return nil, fmt.Errorf("csv: column %q has unknown type %s", c.Name, c.Type)
		}
		s.schema[i] = c
	}
	if s.cfg.Comma == 0 {
		s.cfg.Comma = ','
	}
	if s.cfg.Quote == 0 {
		s.cfg.Quote = '"'
	}
	if s.cfg.Escape == 0 {
		s.cfg.Escape = s.cfg.Quote
	}
	if !asciiDelim(s.cfg.Comma) || s.cfg.Comma == s.cfg.Quote {
		return nil, fmt.Errorf("csv: invalid delimiter %q: it must be one ASCII character other than the quote or a line break", s.cfg.Comma)
	}
	if !asciiDelim(s.cfg.Quote) {
		return nil, fmt.Errorf("csv: invalid quote %q: it must be one ASCII character other than a line break", s.cfg.Quote)
	}
	if !asciiDelim(s.cfg.Escape) || s.cfg.Escape == s.cfg.Comma {
		return nil, fmt.Errorf("csv: invalid escape %q: it must be one ASCII character other than the delimiter or a line break", s.cfg.Escape)
	}
	if s.cfg.DecimalComma && s.cfg.Comma == ',' {
		return nil, errors.New("csv: DecimalComma needs a delimiter other than ',': set Comma, such as ';'")
	}
	if s.cfg.Location == nil {
		s.cfg.Location = time.UTC
	}
	if s.cfg.MaxRecordBytes == 0 {
		s.cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if s.cfg.MaxBadRows < 0 {
		return nil, fmt.Errorf("csv: MaxBadRows is %d, must not be negative", s.cfg.MaxBadRows)
	}
	s.timeout = cfg.Timeout
	if s.timeout <= 0 {
		s.timeout = time.Minute
	}
	s.dataset.Schema = s.schema

	switch {
	case cfg.Reader != nil && cfg.Path != "":
		return nil, errors.New("csv: both Path and Reader are set; set one")
	case cfg.Reader != nil:
		s.kind, s.name = kindReader, cfg.Name
		if s.name == "" {
			s.name = "reader"
		}
		s.dataset.Name = s.name
	case cfg.Path == "":
		return nil, errors.New("csv: no input: set Path or Reader")
	case hasScheme(cfg.Path, "http://"), hasScheme(cfg.Path, "https://"):
		u, err := url.Parse(cfg.Path)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("csv: invalid URL %q", redact.URL(cfg.Path))
		}
		s.kind, s.url = kindHTTP, u
		s.name = u.Scheme + "://" + u.Host + u.EscapedPath()
		s.dataset.Namespace = u.Scheme + "://" + u.Host
		s.dataset.Name = strings.TrimPrefix(u.Path, "/")
		s.httpClient = cfg.HTTPClient
		if s.httpClient == nil {
			t, ok := http.DefaultTransport.(*http.Transport)
			if ok {
				t = t.Clone()
			} else { // someone replaced it; start from net/http's defaults
				t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
			}
			t.ResponseHeaderTimeout = s.timeout
			s.httpClient = &http.Client{Transport: t}
		}
	case hasScheme(cfg.Path, "s3://"):
		rest := cfg.Path[len("s3://"):]
		bucket, key, _ := strings.Cut(rest, "/")
		if strings.Contains(bucket, "@") {
			return nil, fmt.Errorf("csv: %s: %w", redact.URL(cfg.Path), ErrCredentials)
		}
		if signedS3Key(key) {
			return nil, fmt.Errorf("csv: %s: %w", redact.URL(cfg.Path), ErrSignedS3URL)
		}
		if bucket == "" {
			return nil, fmt.Errorf("csv: %q names no bucket", redact.URL(cfg.Path))
		}
		s.kind, s.bucket, s.key = kindS3, bucket, key
		s.prefix = key == "" || strings.HasSuffix(key, "/")
		s.name = "s3://" + bucket + "/" + key
		s.dataset.Namespace, s.dataset.Name = "s3://"+bucket, key
	default:
		p := cfg.Path
		if hasScheme(p, "file://") {
			u, err := url.Parse(p)
			if err != nil || (u.Host != "" && u.Host != "localhost") {
				return nil, fmt.Errorf("csv: invalid file URL %q", redact.URL(p))
			}
			p = filepath.FromSlash(u.Path)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("csv: %s: %w", p, err)
		}
		s.kind, s.path, s.name = kindFile, abs, p
		s.dataset.Namespace = "file://"
		s.dataset.Name = strings.TrimPrefix(filepath.ToSlash(abs), "/")
	}
	return s, nil
}

// signedS3Key reports whether an s3:// URL's key ends in a presigned URL's query: S3
// keys may hold "?", but not a signature that s3:// could never use.
func signedS3Key(key string) bool {
	_, q, ok := strings.Cut(key, "?")
	if !ok {
		return false
	}
	q = strings.ToLower(q)
	return strings.Contains(q, "x-amz-signature=") || strings.Contains(q, "x-amz-credential=") ||
		strings.Contains(q, "x-amz-security-token=")
}

func asciiDelim(r rune) bool {
	return r > 0 && r < utf8.RuneSelf && r != '\r' && r != '\n'
}

func hasScheme(s, scheme string) bool {
	return len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme)
}

// Schema returns the columns the stream's rows carry.
func (s *Source) Schema() etl.Schema { return s.schema }

// Datasets reports the input for lineage, named as OpenLineage names it: a local file
// as namespace "file" and its absolute path, "https://host" and the path (no query),
// "s3://bucket" and the key or prefix, or the Reader's Name; with the configured columns.
// It implements [etl.Lineage].
func (s *Source) Datasets() []etl.Dataset {
	d := s.dataset
	if s.kind == kindFile {
		d.Namespace, d.Name = lineage.File(s.path)
	}
	if len(d.Schema) == 0 {
		d.Schema = s.schema
	}
	return []etl.Dataset{d}
}

// Extract returns a stream over the input. A local file is checked here, so that a
// missing file fails before the sink begins; other inputs are opened when the stream is
// read. Each call reads the input afresh, except a Reader, which is read once.
func (s *Source) Extract(ctx context.Context, run *etl.Run) (etl.Stream, error) {
	if s.kind == kindFile {
		if _, err := os.Stat(s.path); err != nil {
			return etl.Stream{}, fmt.Errorf("csv: %w", err)
		}
	}
	pos := new(etl.Position)
	return etl.Stream{Schema: s.schema, Rows: s.rows(ctx, run, pos, false), Position: func() etl.Position { return *pos }}, nil
}

// ExtractLent is [Source.Extract] with lent rows (see [etl.LendingExtractor]): a row's
// strings point into the read buffer and its other values into memory the next row
// reuses, so reading a record allocates nothing. It implements [etl.LendingExtractor].
func (s *Source) ExtractLent(ctx context.Context, run *etl.Run) (etl.Stream, error) {
	st, err := s.Extract(ctx, run)
	if err != nil {
		return st, err
	}
	pos := new(etl.Position)
	st.Rows, st.Position = s.rows(ctx, run, pos, true), func() etl.Position { return *pos }
	return st, nil
}

// rows is the stream. One Row slice is reused for every record. pos is set to each
// row's position before the row is yielded. With lend, the values are lent too.
func (s *Source) rows(ctx context.Context, run *etl.Run, pos *etl.Position, lend bool) iter.Seq2[etl.Row, error] {
	return func(yield func(etl.Row, error) bool) {
		st := &readState{row: make(etl.Row, len(s.schema)), run: run, log: s.cfg.Logger, pos: pos, lend: lend}
		if st.log == nil {
			if run != nil {
				st.log = run.Log()
			} else {
				st.log = slog.New(slog.DiscardHandler)
			}
		}
		for in, err := range s.inputs(ctx) {
			if err == nil {
				var more bool
				more, err = s.read(ctx, in, st, yield)
				if err == nil && !more {
					return
				}
			}
			if err != nil {
				yield(nil, err)
				return
			}
		}
	}
}

// readState is what carries over from one input to the next.
type readState struct {
	row     etl.Row
	run     *etl.Run
	log     *slog.Logger
	bad     int
	records int
	pos     *etl.Position // where the row last yielded came from
	lend    bool          // the rows' values are valid until the next row only
}

// ctxCheckEvery is how many records pass between checks of ctx: often enough to stop
// within a millisecond, rarely enough to cost nothing.
const ctxCheckEvery = 1024

// read streams one input. It reports whether the consumer wants more rows.
func (s *Source) read(ctx context.Context, in input, st *readState, yield func(etl.Row, error) bool) (bool, error) {
	st.log.DebugContext(ctx, "csv: reading", slog.String("input", in.name))
	rc, err := in.open(ctx)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	br, err := decoded(rc, s.cfg.Encoding)
	if err != nil {
		return false, &ParseError{File: in.name, Line: 1, Err: err}
	}
	cr := newScanner(br, byte(s.cfg.Comma))
	cr.quote, cr.escape = byte(s.cfg.Quote), byte(s.cfg.Escape)
	cr.max = s.cfg.MaxRecordBytes

	d := &decoder{src: s, file: in.name, cr: cr, fill: s.cfg.FillShortRows, decComma: s.cfg.DecimalComma,
		replaced: s.cfg.Encoding != nil, lend: st.lend}
	if !s.cfg.NoHeader {
		if err := d.header(); err != nil {
			return false, err
		}
	} else {
		d.identity()
	}
	cr.lend = st.lend // the header's names outlive its record, in errors

	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return true, nil
		}
		st.records++
		if st.records%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return false, fmt.Errorf("csv: %s: line %d: %w", in.name, d.lastLine+1, err)
			}
		}
		var perr *ParseError
		if err != nil {
			var pe *stdcsv.ParseError
			if !errors.As(err, &pe) {
				// The read itself failed: a dropped connection, a truncated gzip stream.
				return false, &ParseError{File: in.name, Line: d.lastLine + 1, Err: err}
			}
			perr = &ParseError{File: in.name, Line: pe.Line, Column: pe.Column, Err: pe.Err}
			if errors.Is(pe.Err, ErrQuote) && exhausted(br) {
				// The quote ran to the end of the input, swallowing every record after
				// it: no count of bad rows makes that a single bad row.
				return false, &ParseError{File: in.name, Line: cr.opened.line, Column: cr.opened.col,
					Err: fmt.Errorf("quoted field never closed: %w", ErrQuote)}
			}
			d.lastLine = pe.Line
		} else {
			perr = d.decode(rec, st.row)
		}
		if perr != nil {
			if err := s.reject(ctx, st, perr); err != nil {
				return false, err
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		st.pos.Source, st.pos.Line = in.name, int64(line)
		if !yield(st.row, nil) {
			return false, nil
		}
	}
}

// reject skips a bad row, or fails when it is one too many.
func (s *Source) reject(ctx context.Context, st *readState, perr *ParseError) error {
	st.bad++
	if st.bad > s.cfg.MaxBadRows {
		if s.cfg.MaxBadRows == 0 {
			return perr
		}
		return fmt.Errorf("%w (more than %d): %w", ErrTooManyBadRows, s.cfg.MaxBadRows, perr)
	}
	if st.run != nil {
		st.run.Reject(etl.Reject{Source: perr.File, Line: int64(perr.Line), Column: perr.Field, Err: perr.Err})
	}
	st.log.DebugContext(ctx, "csv: row rejected", slog.String("input", perr.File),
		slog.Int("line", perr.Line), slog.String("column", perr.Field), slog.Any("error", perr.Err))
	return nil
}

// exhausted reports whether br has nothing left to read.
func exhausted(br *bufio.Reader) bool {
	_, err := br.Peek(1)
	return err != nil
}
