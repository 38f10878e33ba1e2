package redshifttest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// field is one CSV field and whether it was quoted, which Redshift's NULL rules need and
// encoding/csv does not report (it also drops carriage returns inside quoted fields).
type field struct {
	value  string
	quoted bool
}

// csvReader reads RFC 4180 records with ',' and '"', keeping every byte of quoted fields.
type csvReader struct {
	r    *bufio.Reader
	line int // 1-based line where the last record started
	next int // line the next record starts on
	buf  []byte
}

func newCSVReader(r io.Reader) *csvReader {
	return &csvReader{r: bufio.NewReaderSize(r, 64<<10), next: 1}
}

var errBareQuote = errors.New("quote inside an unquoted field")

// read returns the next record, or io.EOF after the last one. A final line without a
// newline is a record.
func (c *csvReader) read(fields []field) ([]field, error) {
	fields = fields[:0]
	c.line = c.next
	if _, err := c.r.Peek(1); err != nil {
		return nil, err
	}
	var b byte
	var err error
	for {
		c.buf = c.buf[:0]
		b, err = c.r.ReadByte()
		if err != nil && err != io.EOF {
			return nil, err
		}
		if err == nil && b == '"' {
			// quoted field
			for {
				b, err = c.r.ReadByte()
				if err == io.EOF {
					return nil, fmt.Errorf("line %d: unterminated quoted field", c.line)
				}
				if err != nil {
					return nil, err
				}
				if b == '"' {
					b2, err2 := c.r.ReadByte()
					if err2 == nil && b2 == '"' {
						c.buf = append(c.buf, '"')
						continue
					}
					if err2 == nil {
						_ = c.r.UnreadByte()
					}
					break
				}
				if b == '\n' {
					c.next++
				}
				c.buf = append(c.buf, b)
			}
			fields = append(fields, field{string(c.buf), true})
			b, err = c.r.ReadByte()
			if err == nil && b != ',' && b != '\n' && b != '\r' {
				return nil, fmt.Errorf("line %d: %q after a closing quote", c.line, b)
			}
		} else {
			for err == nil && b != ',' && b != '\n' && b != '\r' {
				if b == '"' {
					return nil, fmt.Errorf("line %d: %w", c.line, errBareQuote)
				}
				c.buf = append(c.buf, b)
				b, err = c.r.ReadByte()
			}
			fields = append(fields, field{string(c.buf), false})
		}
		if err == io.EOF {
			c.next++
			return fields, nil
		}
		if err != nil {
			return nil, err
		}
		switch b {
		case ',':
			continue
		case '\r':
			if b2, err2 := c.r.ReadByte(); err2 == nil && b2 != '\n' {
				_ = c.r.UnreadByte()
			}
		}
		c.next++
		return fields, nil
	}
}

// skipLines drops n physical lines, as IGNOREHEADER does.
func (c *csvReader) skipLines(n int) error {
	for range n {
		if _, err := c.r.ReadSlice('\n'); err != nil {
			if err == io.EOF {
				return nil
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				return err
			}
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = c.r.ReadSlice('\n')
			}
		}
		c.next++
	}
	return nil
}
