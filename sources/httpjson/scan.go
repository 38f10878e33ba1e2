package httpjson

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// reader is a streaming JSON tokenizer. It reads its input through a buffer of fixed size
// and keeps nothing of what it has passed, except the token it is reading (a string, a
// number) or a value a caller captures whole (a TypeJSON column): memory is bounded by
// the largest such value, never by the size of the body.
//
// It validates what it reads as RFC 8259 JSON, skipped values included, so a body that
// json.Valid refuses fails here too. It does not check UTF-8 in strings it skips: only the
// values that reach a row are checked, where they are converted.
type reader struct {
	src  io.Reader
	buf  []byte
	pos  int   // next unread byte of buf
	end  int   // end of the bytes read into buf
	base int64 // offset in the input of buf[0]
	keep int64 // offset from which bytes must stay in buf, or -1
	max  int   // most bytes one kept span (a string, a captured value) may take
	err  error // the input's error, io.EOF at its end; sticky

	// lines makes '\n' end the value being read instead of being white space, for
	// NDJSON, where a record that runs past its line is malformed.
	lines bool
	depth int

	scratch []byte // a string with escapes, decoded
	// surrogate is set by readString when the string held an escaped UTF-16 surrogate
	// without its pair; such a string cannot be stored as text.
	surrogate bool
}

// maxDepth bounds the nesting of arrays and objects, as encoding/json does, so that a
// hostile body cannot exhaust the stack.
const maxDepth = 10000

// readBufSize is the read buffer: large enough that a page needs few reads, small enough
// to stay in cache.
const readBufSize = 64 << 10

func newReader(src io.Reader, max int) *reader {
	return &reader{src: src, buf: make([]byte, readBufSize), keep: -1, max: max}
}

// reset points r at a new input, keeping its buffers.
func (r *reader) reset(src io.Reader) {
	r.src, r.pos, r.end, r.base, r.keep, r.err, r.depth, r.lines = src, 0, 0, 0, -1, nil, 0, false
}

// offset returns the input offset of the next unread byte.
func (r *reader) offset() int64 { return r.base + int64(r.pos) }

// syntaxError reports input that is not valid JSON, at a byte offset of the body.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

// Unwrap lets the error match [ErrSyntax].
func (e *syntaxError) Unwrap() error { return ErrSyntax }

// readError is a failure of the input itself (a dropped connection, a stalled body), as
// opposed to bad JSON: the page may be fetched again.
type readError struct{ err error }

func (e *readError) Error() string { return "reading the body: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// tooLongError reports a string or captured value longer than the bound.
type tooLongError struct {
	off int64
	max int
}

func (e *tooLongError) Error() string {
	return fmt.Sprintf("a value at byte %d is longer than %d bytes (MaxValueBytes)", e.off, e.max)
}
func (e *tooLongError) Unwrap() error { return ErrValueTooLong }

func (r *reader) syntax(format string, args ...any) error {
	return &syntaxError{off: r.offset(), msg: fmt.Sprintf(format, args...)}
}

// unexpected describes the byte at pos, or the end of the input, as a syntax error.
func (r *reader) unexpected(what string) error {
	if r.pos >= r.end {
		if err := r.inputErr(); err != nil {
			return err
		}
		return r.syntax("unexpected end of input, want %s", what)
	}
	c := r.buf[r.pos]
	if r.lines && c == '\n' {
		return r.syntax("the line ends inside a record, want %s", what)
	}
	if c < 0x20 || c >= 0x7f {
		return r.syntax("unexpected byte 0x%02x, want %s", c, what)
	}
	return r.syntax("unexpected %q, want %s", c, what)
}

// inputErr returns the input's error when it is not the clean end of the input.
func (r *reader) inputErr() error {
	if r.err == nil || r.err == io.EOF {
		return nil
	}
	var tl *tooLongError
	if errors.As(r.err, &tl) {
		return r.err
	}
	return &readError{err: r.err}
}

// fill reads more input into buf. It returns false when nothing more could be read: at
// the end of the input, on a read error, or when the kept span would pass max.
func (r *reader) fill() bool {
	if r.err != nil {
		return false
	}
	from := r.pos
	if r.keep >= 0 {
		if k := int(r.keep - r.base); k < from {
			from = k
		}
	}
	if from > 0 {
		copy(r.buf, r.buf[from:r.end])
		r.end -= from
		r.pos -= from
		r.base += int64(from)
	}
	if r.end == len(r.buf) {
		if r.max > 0 && r.end >= r.max {
			r.err = &tooLongError{off: r.base, max: r.max}
			return false
		}
		n := 2 * len(r.buf)
		if r.max > 0 && n > r.max+1 {
			n = r.max + 1
		}
		nb := make([]byte, n)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range 100 {
		n, err := r.src.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			r.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	r.err = io.ErrNoProgress
	return false
}

// shrink drops a buffer that grew for one long value, once it is no longer needed.
func (r *reader) shrink() {
	if len(r.buf) > readBufSize && r.keep < 0 && r.end-r.pos <= readBufSize {
		nb := make([]byte, readBufSize)
		r.end = copy(nb, r.buf[r.pos:r.end])
		r.base += int64(r.pos)
		r.pos = 0
		r.buf = nb
	}
}

// isSpace reports JSON white space. In line mode '\n' is not white space.
func (r *reader) isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || (c == '\n' && !r.lines)
}

// next skips white space and returns the next byte without consuming it. ok is false at
// the end of the input.
func (r *reader) next() (c byte, ok bool) {
	for {
		for r.pos < r.end {
			c = r.buf[r.pos]
			if !r.isSpace(c) {
				return c, true
			}
			r.pos++
		}
		if !r.fill() {
			return 0, false
		}
	}
}

// expect consumes c, after white space, or fails naming what was wanted.
func (r *reader) expect(c byte, what string) error {
	got, ok := r.next()
	if !ok || got != c {
		return r.unexpected(what)
	}
	r.pos++
	return nil
}

// kind is the type of the JSON value that starts with a byte.
type kind uint8

const (
	kindNone kind = iota
	kindString
	kindNumber
	kindTrue
	kindFalse
	kindNull
	kindObject
	kindArray
)

func kindOf(c byte) kind {
	switch c {
	case '"':
		return kindString
	case '{':
		return kindObject
	case '[':
		return kindArray
	case 't':
		return kindTrue
	case 'f':
		return kindFalse
	case 'n':
		return kindNull
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return kindNumber
	}
	return kindNone
}

func (k kind) String() string {
	switch k {
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindTrue, kindFalse:
		return "a boolean"
	case kindNull:
		return "null"
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	}
	return "nothing"
}

// peekKind skips white space and returns the kind of the value that starts there,
// without consuming it.
func (r *reader) peekKind() (kind, error) {
	c, ok := r.next()
	if !ok {
		return kindNone, r.unexpected("a value")
	}
	k := kindOf(c)
	if k == kindNone {
		return kindNone, r.unexpected("a value")
	}
	return k, nil
}

// stringEnd marks the bytes that end the fast scan of a string: a quote, a backslash or
// a control character.
var stringEnd = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// readString reads a string, its opening quote at pos, and returns its decoded bytes.
// They stay valid until the next call on r. Invalid UTF-8 is returned as is; an escaped
// surrogate without its pair becomes U+FFFD and sets r.surrogate.
func (r *reader) readString() ([]byte, error) {
	r.surrogate = false
	start := r.offset()
	outer := r.keep
	if outer < 0 {
		r.keep = start
		defer func() { r.keep = -1 }()
	}
	r.pos++ // the opening quote
	// Fast path: no escapes, the string is a slice of buf.
	for {
		i := r.pos
		for i < r.end && !stringEnd[r.buf[i]] {
			i++
		}
		r.pos = i
		if i < r.end {
			break
		}
		if !r.fill() {
			return nil, r.unexpected("the end of the string")
		}
	}
	s := int(start-r.base) + 1
	if r.buf[r.pos] == '"' {
		b := r.buf[s:r.pos]
		r.pos++
		return b, nil
	}
	if r.buf[r.pos] != '\\' {
		return nil, r.unexpected("the end of the string") // a control character
	}
	r.scratch = append(r.scratch[:0], r.buf[s:r.pos]...)
	for {
		if r.pos >= r.end && !r.fill() {
			return nil, r.unexpected("the end of the string")
		}
		c := r.buf[r.pos]
		switch {
		case c == '"':
			r.pos++
			return r.scratch, nil
		case c == '\\':
			if err := r.escape(); err != nil {
				return nil, err
			}
		case c < 0x20:
			return nil, r.unexpected("the end of the string")
		default:
			i := r.pos + 1
			for i < r.end && !stringEnd[r.buf[i]] {
				i++
			}
			r.scratch = append(r.scratch, r.buf[r.pos:i]...)
			r.pos = i
		}
	}
}

// need makes n bytes from pos available, or returns false at the end of the input.
func (r *reader) need(n int) bool {
	for r.end-r.pos < n {
		if !r.fill() {
			return false
		}
	}
	return true
}

// escape decodes the escape sequence at pos into scratch.
func (r *reader) escape() error {
	if !r.need(2) {
		r.pos = r.end
		return r.unexpected("an escape sequence")
	}
	c := r.buf[r.pos+1]
	var b byte
	switch c {
	case '"', '\\', '/':
		b = c
	case 'b':
		b = '\b'
	case 'f':
		b = '\f'
	case 'n':
		b = '\n'
	case 'r':
		b = '\r'
	case 't':
		b = '\t'
	case 'u':
		r1, err := r.hex4()
		if err != nil {
			return err
		}
		if utf16.IsSurrogate(r1) {
			// A high surrogate needs a low one right after it.
			if r1 < 0xdc00 && r.need(2) && r.buf[r.pos] == '\\' && r.buf[r.pos+1] == 'u' {
				save := r.pos
				r2, err := r.hex4()
				if err != nil {
					return err
				}
				if dec := utf16.DecodeRune(r1, r2); dec != utf8.RuneError {
					r.scratch = utf8.AppendRune(r.scratch, dec)
					return nil
				}
				r.pos = save // not a pair: the second escape stands on its own
			}
			r.surrogate = true
			r.scratch = utf8.AppendRune(r.scratch, utf8.RuneError)
			return nil
		}
		r.scratch = utf8.AppendRune(r.scratch, r1)
		return nil
	default:
		r.pos++
		return r.syntax("invalid escape \\%c", c)
	}
	r.scratch = append(r.scratch, b)
	r.pos += 2
	return nil
}

// hex4 reads "\uXXXX" at pos.
func (r *reader) hex4() (rune, error) {
	if !r.need(6) {
		r.pos = r.end
		return 0, r.unexpected("four hex digits")
	}
	var v rune
	for i := 2; i < 6; i++ {
		c := r.buf[r.pos+i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			r.pos += i
			return 0, r.unexpected("a hex digit")
		}
		v = v<<4 | rune(c)
	}
	r.pos += 6
	return v, nil
}

// readNumber reads a number at pos and returns its text, valid until the next call on
// r. The text follows the JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *reader) readNumber() ([]byte, error) {
	start := r.offset()
	outer := r.keep
	if outer < 0 {
		r.keep = start
		defer func() { r.keep = -1 }()
	}
	// peek returns the byte at pos, or 0 at the end of the input.
	peek := func() byte {
		if r.pos >= r.end && !r.fill() {
			return 0
		}
		return r.buf[r.pos]
	}
	digits := func() int {
		n := 0
		for c := peek(); c >= '0' && c <= '9'; c = peek() {
			r.pos++
			n++
		}
		return n
	}
	if peek() == '-' {
		r.pos++
	}
	switch c := peek(); {
	case c == '0':
		r.pos++
	case c >= '1' && c <= '9':
		digits()
	default:
		return nil, r.unexpected("a digit")
	}
	if peek() == '.' {
		r.pos++
		if digits() == 0 {
			return nil, r.unexpected("a digit after the decimal point")
		}
	}
	if c := peek(); c == 'e' || c == 'E' {
		r.pos++
		if c := peek(); c == '+' || c == '-' {
			r.pos++
		}
		if digits() == 0 {
			return nil, r.unexpected("a digit in the exponent")
		}
	}
	if err := r.inputErr(); err != nil {
		return nil, err
	}
	return r.buf[int(start-r.base):r.pos], nil
}

// readLiteral reads true, false or null, whichever starts at pos.
func (r *reader) readLiteral(k kind) error {
	lit := "null"
	switch k {
	case kindTrue:
		lit = "true"
	case kindFalse:
		lit = "false"
	}
	for i := 0; i < len(lit); i++ {
		if r.pos >= r.end && !r.fill() {
			return r.unexpected(lit)
		}
		if r.buf[r.pos] != lit[i] {
			return r.unexpected(lit)
		}
		r.pos++
	}
	return nil
}

// skip reads and discards one value, after white space, checking its syntax.
func (r *reader) skip() error {
	k, err := r.peekKind()
	if err != nil {
		return err
	}
	switch k {
	case kindString:
		_, err = r.readString()
	case kindNumber:
		_, err = r.readNumber()
	case kindTrue, kindFalse, kindNull:
		err = r.readLiteral(k)
	case kindObject:
		err = r.object(func([]byte) error { return r.skip() })
	case kindArray:
		err = r.array(func() error { return r.skip() })
	}
	return err
}

// object reads an object whose '{' is next, calling member for each member with its
// decoded name; member must read the member's value. The name is valid only until
// member reads on.
func (r *reader) object(member func(name []byte) error) error {
	if r.depth++; r.depth > maxDepth {
		return r.syntax("nested deeper than %d", maxDepth)
	}
	defer func() { r.depth-- }()
	r.pos++ // '{'
	c, ok := r.next()
	if ok && c == '}' {
		r.pos++
		return nil
	}
	for {
		if !ok || c != '"' {
			return r.unexpected("a member name")
		}
		name, err := r.readString()
		if err != nil {
			return err
		}
		if err := r.expect(':', "':'"); err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
		c, ok = r.next()
		if !ok {
			return r.unexpected("',' or '}'")
		}
		switch c {
		case ',':
			r.pos++
			c, ok = r.next()
		case '}':
			r.pos++
			return nil
		default:
			return r.unexpected("',' or '}'")
		}
	}
}

// array reads an array whose '[' is next, calling elem for each element; elem must read
// the element.
func (r *reader) array(elem func() error) error {
	if r.depth++; r.depth > maxDepth {
		return r.syntax("nested deeper than %d", maxDepth)
	}
	defer func() { r.depth-- }()
	r.pos++ // '['
	c, ok := r.next()
	if ok && c == ']' {
		r.pos++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		c, ok = r.next()
		if !ok {
			return r.unexpected("',' or ']'")
		}
		switch c {
		case ',':
			r.pos++
		case ']':
			r.pos++
			return nil
		default:
			return r.unexpected("',' or ']'")
		}
	}
}

// capture runs read, which must read exactly one value after white space, and returns
// the value's text as written. The text is valid until the next call on r.
func (r *reader) capture(read func() error) ([]byte, error) {
	if _, ok := r.next(); !ok {
		return nil, r.unexpected("a value")
	}
	start := r.offset()
	outer := r.keep
	if outer < 0 {
		r.keep = start
		defer func() { r.keep = -1 }()
	}
	if err := read(); err != nil {
		return nil, err
	}
	return r.buf[int(start-r.base):r.pos], nil
}

// eof checks that nothing but white space follows the last value.
func (r *reader) eof() error {
	if _, ok := r.next(); ok {
		return r.unexpected("the end of the input")
	}
	return r.inputErr()
}
