package csv

import (
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/textvalue"
)

// decoder maps the records of one input to rows of the source's schema.
type decoder struct {
	src      *Source
	file     string
	cr       *scanner
	cols     []column
	width    int  // fields a record must have
	atLeast  bool // width is a minimum (no header, extra fields ignored)
	lastLine int  // last line read, for errors that come between records
	fill     bool // FillShortRows
	decComma bool // DecimalComma
	replaced bool // an Encoding is set: U+FFFD in text means an undecodable byte
	tp       textvalue.Parser
	lend     bool // the slabs are rewound for every record: see etl.LendingExtractor

	strings  slab[string]
	ints     slab[int64]
	floats   slab[float64]
	decimals slab[etl.Decimal]
	times    slab[time.Time]
}

// column is one schema column and where its field sits in a record.
type column struct {
	name     string
	typ      etl.Type
	idx      int
	notNull  bool
	nullable bool // a field equal to NullString is NULL
}

func (d *decoder) columns() {
	d.cols = make([]column, len(d.src.schema))
	for i, c := range d.src.schema {
		d.cols[i] = column{
			name:     c.Name,
			typ:      c.Type,
			idx:      i,
			notNull:  c.NotNull,
			nullable: c.Type != etl.TypeText || d.src.cfg.NullText,
		}
	}
}

// identity maps fields to columns by position, for input without a header.
func (d *decoder) identity() {
	d.columns()
	d.width = len(d.cols)
	d.atLeast = d.src.cfg.IgnoreExtra
}

// header reads the header and maps it to the schema. An input with no header at all
// (empty, or blank lines only) is an error: it is malformed, not empty.
func (d *decoder) header() error {
	rec, err := d.cr.Read()
	if err == io.EOF {
		return &ParseError{File: d.file, Line: 1, Err: ErrNoHeader}
	}
	if err != nil {
		var pe *stdcsv.ParseError
		if errors.As(err, &pe) {
			return &ParseError{File: d.file, Line: pe.Line, Column: pe.Column, Err: fmt.Errorf("header: %w", pe.Err)}
		}
		return &ParseError{File: d.file, Line: 1, Err: fmt.Errorf("header: %w", err)}
	}
	if blank(rec) {
		line, _ := d.cr.FieldPos(0)
		return &ParseError{File: d.file, Line: line, Err: ErrNoHeader}
	}
	d.columns()
	for i := range d.cols {
		d.cols[i].idx = -1
	}
	line, _ := d.cr.FieldPos(0)
	cfg := &d.src.cfg
	for j, h := range rec {
		h = strings.TrimSpace(h)
		_, col := d.cr.FieldPos(j)
		if !utf8.ValidString(h) {
			return &ParseError{File: d.file, Line: line, Column: col, Err: fmt.Errorf("header: %w", ErrInvalidUTF8)}
		}
		if d.replaced && strings.ContainsRune(h, utf8.RuneError) {
			return &ParseError{File: d.file, Line: line, Column: col, Err: fmt.Errorf("header: %w", d.encodingError())}
		}
		matched := false
		for i := range d.cols {
			c := &d.cols[i]
			if c.name != h && !(cfg.CaseInsensitive && strings.EqualFold(c.name, h)) {
				continue
			}
			if c.idx >= 0 {
				return &ParseError{File: d.file, Line: line, Column: col, Field: h,
					Err: fmt.Errorf("%w (also field %d)", ErrDuplicateColumn, c.idx+1)}
			}
			c.idx, matched = j, true
		}
		if !matched && !cfg.IgnoreExtra {
			hint := "set IgnoreExtra to skip it"
			if c := d.caseMatch(h); c != "" {
				hint = fmt.Sprintf("it differs from the schema's %q only in case: set CaseInsensitive", c)
			}
			return &ParseError{File: d.file, Line: line, Column: col, Field: h,
				Err: fmt.Errorf("%w (%s)", ErrExtraColumn, hint)}
		}
	}
	for _, c := range d.cols {
		if c.idx < 0 {
			err := ErrMissingColumn
			if h := caseMatchIn(rec, c.name); h != "" && !cfg.CaseInsensitive {
				err = fmt.Errorf("%w (the header has %q, which differs only in case: set CaseInsensitive)", ErrMissingColumn, h)
			}
			return &ParseError{File: d.file, Line: line, Field: c.name, Err: err}
		}
	}
	d.width = len(rec)
	d.lastLine, _ = d.cr.FieldPos(len(rec) - 1)
	return nil
}

// blank reports whether a header record names no column at all: a line of spaces, or of
// delimiters only.
func blank(rec []string) bool {
	for _, h := range rec {
		if strings.TrimSpace(h) != "" {
			return false
		}
	}
	return true
}

// caseMatch returns the schema column that h names but for case, or "".
func (d *decoder) caseMatch(h string) string {
	for _, c := range d.cols {
		if strings.EqualFold(c.name, h) {
			return c.name
		}
	}
	return ""
}

// caseMatchIn returns the header field that names name but for case, or "".
func caseMatchIn(rec []string, name string) string {
	for _, h := range rec {
		if h = strings.TrimSpace(h); strings.EqualFold(h, name) {
			return h
		}
	}
	return ""
}

func (d *decoder) encodingError() error {
	return fmt.Errorf("%w %v", ErrEncoding, d.src.cfg.Encoding)
}

// decode fills row from rec, or says what is wrong with rec.
func (d *decoder) decode(rec []string, row etl.Row) *ParseError {
	last := len(rec) - 1
	d.lastLine, _ = d.cr.FieldPos(last)
	if len(rec) != d.width && (!d.atLeast || len(rec) < d.width) && (!d.fill || len(rec) > d.width) {
		at := last // too few: point at the last field there is
		if len(rec) > d.width {
			at = d.width // too many: point at the first extra one
		}
		line, col := d.cr.FieldPos(at)
		want := "the header has"
		if d.src.cfg.NoHeader {
			want = "the schema has"
		}
		return &ParseError{File: d.file, Line: line, Column: col,
			Err: fmt.Errorf("%w: %d fields, %s %d", ErrFieldCount, len(rec), want, d.width)}
	}
	null := d.src.cfg.NullString
	ascii := d.cr.ascii
	if d.lend {
		d.strings.rewind()
		d.ints.rewind()
		d.floats.rewind()
		d.decimals.rewind()
		d.times.rewind()
	}
	for i := range d.cols {
		c := &d.cols[i]
		if c.idx >= len(rec) { // a short record, with FillShortRows
			if c.notNull {
				return d.fieldError(c, fmt.Errorf("%w (the record has %d fields and ends before it)", ErrNull, len(rec)))
			}
			row[i] = nil
			continue
		}
		f := rec[c.idx]
		if c.nullable && f == null {
			if c.notNull {
				return d.fieldError(c, ErrNull)
			}
			row[i] = nil
			continue
		}
		// The common types are parsed here and boxed from slabs; the rest go through
		// value, which allocates as usual.
		switch c.typ {
		case etl.TypeText:
			// An all-ASCII record, as the scanner saw it, holds neither invalid UTF-8 nor
			// the U+FFFD of an undecodable byte.
			if !ascii && !utf8.ValidString(f) {
				return d.fieldError(c, ErrInvalidUTF8)
			}
			if !ascii && d.replaced && strings.ContainsRune(f, utf8.RuneError) {
				return d.fieldError(c, d.encodingError())
			}
			row[i] = d.strings.box(f)
		case etl.TypeInt64:
			n, ok := textvalue.Int64(f)
			if !ok {
				return d.fieldError(c, textvalue.Invalid(c.typ, f))
			}
			row[i] = d.ints.box(n)
		case etl.TypeFloat64:
			if d.decComma {
				var ok bool
				if f, ok = textvalue.DecimalComma(f); !ok {
					return d.fieldError(c, textvalue.Invalid(c.typ, f))
				}
			}
			x, err := textvalue.Float(f)
			if err != nil {
				return d.fieldError(c, err)
			}
			row[i] = d.floats.box(x)
		case etl.TypeNumeric:
			if d.decComma {
				var ok bool
				if f, ok = textvalue.DecimalComma(f); !ok {
					return d.fieldError(c, textvalue.Invalid(c.typ, f))
				}
			}
			n, ok := textvalue.Decimal(f)
			if !ok {
				return d.fieldError(c, textvalue.Invalid(c.typ, f))
			}
			row[i] = d.decimals.box(n)
		case etl.TypeTimestamp:
			ts, ok := d.tp.Timestamp(f, d.src.cfg.Location)
			if !ok {
				return d.fieldError(c, textvalue.Invalid(c.typ, f))
			}
			row[i] = d.times.box(ts)
		case etl.TypeBool:
			b, ok := textvalue.Bool(f)
			if !ok {
				return d.fieldError(c, textvalue.Invalid(c.typ, f))
			}
			row[i] = b // the runtime boxes booleans without allocating
		default:
			if d.replaced && c.typ == etl.TypeJSON && strings.ContainsRune(f, utf8.RuneError) {
				return d.fieldError(c, d.encodingError())
			}
			v, err := d.tp.Value(c.typ, f, d.src.cfg.Location)
			if err != nil {
				return d.fieldError(c, err)
			}
			row[i] = v
		}
	}
	return nil
}

func (d *decoder) fieldError(c *column, err error) *ParseError {
	line, col := d.cr.FieldPos(c.idx)
	return &ParseError{File: d.file, Line: line, Column: col, Field: c.name, Err: err}
}
