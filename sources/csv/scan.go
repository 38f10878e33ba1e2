package csv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	stdcsv "encoding/csv"
	"fmt"
	"io"
	"math/bits"
	"unsafe"
)

// scanner reads CSV records as encoding/csv does with FieldsPerRecord -1, ReuseRecord,
// no comment character and strict quotes, and returns the same field positions and errors
// (as *encoding/csv.ParseError), with three differences. A line break inside a quoted
// field is kept byte for byte: encoding/csv turns CR LF there into LF, while PostgreSQL's
// CSV COPY and Python's csv module keep it, and the file is what the table must hold. The
// quote character need not be '"'. And an escape character other than the quote may
// escape a quote or itself inside a quoted field, as in PostgreSQL's CSV ESCAPE option.
// FuzzScanner holds it to encoding/csv and to a reference reader.
//
// It exists for speed. Most lines of a bulk export hold no quote at all; for those, one
// IndexByte for the quote, one string conversion and one IndexByte per field make the
// record, without the per-field copying and bookkeeping encoding/csv does. Lines with a
// quote take the slow path, which is encoding/csv's own algorithm. The delimiter, the
// quote and the escape are single bytes.
type scanner struct {
	r      *bufio.Reader
	comma  byte
	quote  byte
	escape byte // == quote: a quote is escaped by doubling it
	max    int  // bytes a record may take; <= 0 for no bound

	numLine int
	raw     []byte // a line longer than the bufio buffer
	buf     []byte // the unquoted fields of a slow-path record
	ends    []int  // where each field ends in buf
	rec     []string
	pos     []position
	opened  position // where the last quoted field opened, for an unterminated one
	// ascii reports that the last record, read by the fast path, is all ASCII, so that
	// its text fields need no UTF-8 check.
	ascii bool
	arena []byte // where the fast path's records are copied: see text
	// fast reports that the last record came from split, whose fields start after the
	// delimiters at s.ends, on line fastLine; s.pos holds the positions otherwise.
	fast     bool
	fastLine int
	// lend makes the fast path's fields point into the line as read, valid until the
	// next Read (see etl.LendingExtractor), instead of into the arena.
	lend bool
}

type position struct{ line, col int }

func newScanner(r *bufio.Reader, comma byte) *scanner {
	return &scanner{r: r, comma: comma, quote: '"', escape: '"'}
}

// FieldPos returns the line and 1-based byte column where field i of the last record
// starts.
func (s *scanner) FieldPos(i int) (line, column int) {
	if s.fast {
		if i < 0 || i >= len(s.ends) {
			return s.numLine, 0
		}
		if i == 0 {
			return s.fastLine, 1
		}
		return s.fastLine, s.ends[i-1] + 2
	}
	if i < 0 || i >= len(s.pos) {
		return s.numLine, 0
	}
	p := s.pos[i]
	return p.line, p.col
}

func (s *scanner) readLine() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.raw = append(s.raw[:0], line...)
		for err == bufio.ErrBufferFull {
			if s.max > 0 && len(s.raw) > s.max {
				return nil, s.tooLong(false)
			}
			line, err = s.r.ReadSlice('\n')
			s.raw = append(s.raw, line...)
		}
		line = s.raw
	}
	n := len(line)
	if n > 0 && err == io.EOF {
		err = nil
		if line[n-1] == '\r' { // encoding/csv drops a \r before EOF
			line = line[:n-1]
		}
	}
	s.numLine++
	return line, err
}

// lengthNL returns the length of the line break that ends b: 2 for CR LF, 1 for LF, 0
// for none. The line break is kept in b, so that one inside a quoted field keeps its bytes.
func lengthNL(b []byte) int {
	n := len(b)
	if n == 0 || b[n-1] != '\n' {
		return 0
	}
	if n >= 2 && b[n-2] == '\r' {
		return 2
	}
	return 1
}

// columns returns how many columns b takes as encoding/csv counts them, with a CR LF
// line break counted as one.
func columns(b []byte) int {
	if lengthNL(b) == 2 {
		return len(b) - 1
	}
	return len(b)
}

// tooLong is the error for a record past s.max bytes, inside a quoted field or not.
// Reading stops there: where the next record starts is unknown.
func (s *scanner) tooLong(inQuote bool) error {
	if inQuote {
		return fmt.Errorf("%w: over %d bytes since the quote at line %d, column %d (is it closed?)",
			ErrRecordTooLong, s.max, s.opened.line, s.opened.col)
	}
	return fmt.Errorf("%w: over %d bytes", ErrRecordTooLong, s.max)
}

// Read returns the next record. The slice is reused by the next call; the strings are
// not.
func (s *scanner) Read() ([]string, error) {
	var line []byte
	var errRead error
	for errRead == nil {
		line, errRead = s.readLine()
		if errRead == nil && len(line) == lengthNL(line) {
			line = nil
			continue // skip empty lines
		}
		break
	}
	if errRead == io.EOF {
		return nil, errRead
	}
	recLine := s.numLine
	s.rec, s.pos = s.rec[:0], s.pos[:0]

	if errRead == nil && s.split(line[:len(line)-lengthNL(line)], recLine) {
		return s.rec, nil
	}

	// The slow path: encoding/csv's readRecord, for a single-byte delimiter and strict
	// quotes, with the line breaks inside quotes kept and the escape character added.
	var err error
	s.buf, s.ends = s.buf[:0], s.ends[:0]
	s.ascii, s.fast = false, false
	pos := position{line: s.numLine, col: 1}
parseField:
	for {
		if len(line) == 0 || line[0] != s.quote {
			i := bytes.IndexByte(line, s.comma)
			field := line
			if i >= 0 {
				field = field[:i]
			} else {
				field = field[:len(field)-lengthNL(field)]
			}
			if j := bytes.IndexByte(field, s.quote); j >= 0 {
				err = &stdcsv.ParseError{StartLine: recLine, Line: s.numLine, Column: pos.col + j, Err: stdcsv.ErrBareQuote}
				break parseField
			}
			s.buf = append(s.buf, field...)
			s.ends = append(s.ends, len(s.buf))
			s.pos = append(s.pos, pos)
			if i >= 0 {
				line = line[i+1:]
				pos.col += i + 1
				continue parseField
			}
			break parseField
		}
		fieldPos := pos
		s.opened = pos
		line = line[1:]
		pos.col++
		for {
			i := s.indexQuote(line)
			switch {
			case i >= 0 && line[i] != s.quote: // the escape character
				if i+1 < len(line) && (line[i+1] == s.quote || line[i+1] == s.escape) {
					s.buf = append(s.buf, line[:i]...)
					s.buf = append(s.buf, line[i+1])
					line = line[i+2:]
					pos.col += i + 2
				} else { // escapes nothing: kept, as PostgreSQL keeps it
					s.buf = append(s.buf, line[:i+1]...)
					line = line[i+1:]
					pos.col += i + 1
				}
			case i >= 0:
				s.buf = append(s.buf, line[:i]...)
				line = line[i+1:]
				pos.col += i + 1
				switch {
				case len(line) > 0 && line[0] == s.quote && s.escape == s.quote: // `""` is a quote
					s.buf = append(s.buf, s.quote)
					line = line[1:]
					pos.col++
				case len(line) > 0 && line[0] == s.comma: // `",` ends the field
					line = line[1:]
					pos.col++
					s.ends = append(s.ends, len(s.buf))
					s.pos = append(s.pos, fieldPos)
					continue parseField
				case lengthNL(line) == len(line): // `"\n` ends the record
					s.ends = append(s.ends, len(s.buf))
					s.pos = append(s.pos, fieldPos)
					break parseField
				default: // `"x` is a stray quote
					err = &stdcsv.ParseError{StartLine: recLine, Line: s.numLine, Column: pos.col - 1, Err: stdcsv.ErrQuote}
					break parseField
				}
			case len(line) > 0: // the field goes on to the next line
				s.buf = append(s.buf, line...)
				if errRead != nil {
					break parseField
				}
				if s.max > 0 && len(s.buf) > s.max {
					return nil, s.tooLong(true)
				}
				pos.col += columns(line)
				line, errRead = s.readLine()
				if len(line) > 0 {
					pos.line++
					pos.col = 1
				}
				if errRead == io.EOF {
					errRead = nil
				}
			default: // the input ended inside the quotes
				if errRead == nil {
					err = &stdcsv.ParseError{StartLine: recLine, Line: pos.line, Column: pos.col, Err: stdcsv.ErrQuote}
					break parseField
				}
				s.ends = append(s.ends, len(s.buf))
				s.pos = append(s.pos, fieldPos)
				break parseField
			}
		}
	}
	if err == nil {
		err = errRead
	}
	// Lent like the fast path's fields, or copied into the arena: a record with a quote
	// costs no allocation of its own either (one in 200 of a bulk load's records used to
	// be the load's only allocation per row).
	str := s.text(s.buf)
	prev := 0
	for _, end := range s.ends {
		s.rec = append(s.rec, str[prev:end])
		prev = end
	}
	return s.rec, err
}

// Bytes of eight: the bit patterns of the word-at-a-time search in split.
const (
	ones  = 0x0101010101010101
	low7  = 0x7f7f7f7f7f7f7f7f
	highs = 0x8080808080808080
)

// equalBytes returns a word with the high bit set in each byte of x equal to the byte
// that pat repeats, and every other bit clear. It is exact: a match does not spill into
// its neighbours, as the shorter (x-ones)&^x trick can.
func equalBytes(x, pat uint64) uint64 {
	t := x ^ pat
	return ^(((t & low7) + low7) | t | low7)
}

// split reads a record without a quote, body being its line without the line break: it
// finds the delimiters eight bytes at a time and makes the fields substrings of one copy
// of the line. It reports false, having read nothing, when the line holds a quote. The
// field positions are not stored: FieldPos finds them from s.ends.
func (s *scanner) split(body []byte, recLine int) bool {
	commas, quotes := uint64(s.comma)*ones, uint64(s.quote)*ones
	ends := s.ends[:0]
	var seen uint64
	n := len(body)
	i := 0
	for ; i+8 <= n; i += 8 {
		x := binary.LittleEndian.Uint64(body[i:])
		seen |= x
		if equalBytes(x, quotes) != 0 {
			s.ends = ends
			return false
		}
		for m := equalBytes(x, commas); m != 0; m &= m - 1 {
			ends = append(ends, i+bits.TrailingZeros64(m)>>3)
		}
	}
	switch {
	case i == n:
	case n >= 8:
		// The last eight bytes, the first of which were searched above: their matches
		// are masked off.
		x := binary.LittleEndian.Uint64(body[n-8:])
		seen |= x
		keep := ^uint64(0) << (8 * (8 - (n - i)))
		if equalBytes(x, quotes)&keep != 0 {
			s.ends = ends
			return false
		}
		for m := equalBytes(x, commas) & keep; m != 0; m &= m - 1 {
			ends = append(ends, n-8+bits.TrailingZeros64(m)>>3)
		}
	default:
		for ; i < n; i++ {
			c := body[i]
			seen |= uint64(c)
			switch c {
			case s.quote:
				s.ends = ends
				return false
			case s.comma:
				ends = append(ends, i)
			}
		}
	}
	ends = append(ends, n)
	s.ends = ends
	s.ascii = seen&highs == 0
	s.fast, s.fastLine = true, recLine
	str := s.text(body)
	start := 0
	for _, end := range ends {
		s.rec = append(s.rec, str[start:end])
		start = end + 1
	}
	return true
}

// arenaLen is the size of the blocks the fast path copies records into. A field kept
// after its row is gone keeps its block alive, some 150 records of the bulk-load shape;
// in exchange a record costs no allocation of its own.
const arenaLen = 16 << 10

// text returns b as a string, copied into the arena. The bytes of a string handed out
// are never written again: the arena only appends, and starts a new block when one is
// full, so the string is as immutable as one from string(b). With lend, it is b's own
// bytes instead, valid until the next Read.
func (s *scanner) text(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s.lend {
		return unsafe.String(&b[0], len(b))
	}
	if len(b) > arenaLen/8 {
		return string(b)
	}
	if cap(s.arena)-len(s.arena) < len(b) {
		s.arena = make([]byte, 0, arenaLen)
	}
	at := len(s.arena)
	s.arena = append(s.arena, b...)
	return unsafe.String(&s.arena[at], len(b))
}

// indexQuote returns the index of the first quote or escape character in b, or -1.
func (s *scanner) indexQuote(b []byte) int {
	i := bytes.IndexByte(b, s.quote)
	if s.escape == s.quote {
		return i
	}
	if i >= 0 {
		b = b[:i]
	}
	if j := bytes.IndexByte(b, s.escape); j >= 0 {
		return j
	}
	return i
}
