package httpjson

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sluice-etl/sluice/etl"
)

// node is one step of the paths from a record (or a page body) to the fields read from
// it: a tree built once, so that a member name is looked up once as it streams past.
type node struct {
	id       int              // index into the decoder's seen flags
	col      int              // the column read from here, or -1
	what     pageField        // in a page tree: what the value here is
	children map[string]*node // nil for a leaf
	path     string           // the path to here, for errors
}

// pageField says what a page body holds at a path.
type pageField uint8

const (
	pageNone    pageField = iota
	pageRecords           // the records array
	pageNext              // the next link or cursor
)

// tree builds the node tree of paths; leaf(i) is called for path i's final node.
type tree struct {
	root  *node
	nodes int
}

func newTree() *tree {
	return &tree{root: &node{col: -1}, nodes: 1}
}

// add inserts path and returns its node. A path is split on "."; an empty segment is an
// error.
func (t *tree) add(path string) (*node, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	n := t.root
	for i, seg := range strings.Split(path, ".") {
		if seg == "" {
			return nil, fmt.Errorf("path %q has an empty segment", path)
		}
		if n.children == nil {
			n.children = make(map[string]*node)
		}
		c := n.children[seg]
		if c == nil {
			c = &node{id: t.nodes, col: -1, path: strings.Join(strings.Split(path, ".")[:i+1], ".")}
			t.nodes++
			n.children[seg] = c
		}
		n = c
	}
	return n, nil
}

// column is one schema column and where its field is.
type column struct {
	name    string
	path    string
	typ     etl.Type
	notNull bool
}

// fieldError is a record that cannot become a row: the first bad field found, or the
// whole record (col -1).
type fieldError struct {
	col  int
	path string
	err  error
}

// recordDecoder maps one record, streamed from a reader, to a row of the schema.
type recordDecoder struct {
	cols  []column
	tree  *tree
	colID []int   // by column: the id of its node
	seen  []bool  // by node id: the node's value was met in this record
	row   etl.Row // reused for every record
	bad   *fieldError
}

func newRecordDecoder(cols []column) (*recordDecoder, error) {
	t := newTree()
	colID := make([]int, len(cols))
	for i, c := range cols {
		n, err := t.add(c.path)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.name, err)
		}
		if n.col >= 0 {
			return nil, fmt.Errorf("columns %q and %q read the same field %q", cols[n.col].name, c.name, c.path)
		}
		n.col, colID[i] = i, n.id
	}
	// A field that is both a column and the parent of other columns must be an object,
	// so its own column must be able to hold one.
	var check func(n *node) error
	check = func(n *node) error {
		if n.col >= 0 && n.children != nil && cols[n.col].typ != etl.TypeJSON {
			return fmt.Errorf("column %q reads field %q, which other columns read inside of; make it a json column", cols[n.col].name, n.path)
		}
		for _, c := range n.children {
			if err := check(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := check(t.root); err != nil {
		return nil, err
	}
	return &recordDecoder{cols: cols, tree: t, colID: colID, seen: make([]bool, t.nodes), row: make(etl.Row, len(cols))}, nil
}

// decode reads one record at r's position into d.row. A record that cannot become a row
// is returned as a fieldError, with r past its end so that reading goes on; an error of
// the input (bad JSON, a failed read) is returned as err and ends the page.
func (d *recordDecoder) decode(r *reader) (*fieldError, error) {
	clear(d.seen)
	d.bad = nil
	k, err := r.peekKind()
	if err != nil {
		return nil, err
	}
	if k != kindObject {
		if err := r.skip(); err != nil {
			return nil, err
		}
		return &fieldError{col: -1, err: fmt.Errorf("the record is %s: %w", k, ErrNotObject)}, nil
	}
	if err := d.object(r, d.tree.root); err != nil {
		return nil, err
	}
	if d.bad != nil {
		return d.bad, nil
	}
	for i := range d.cols {
		if d.seen[d.colID[i]] {
			continue
		}
		if c := &d.cols[i]; c.notNull {
			return &fieldError{col: i, path: c.path, err: fmt.Errorf("%w: the field is missing", ErrNull)}, nil
		}
		d.row[i] = nil
	}
	return nil, nil
}

// object reads the members of an object, descending into those the tree names.
func (d *recordDecoder) object(r *reader, n *node) error {
	return r.object(func(name []byte) error {
		c := n.children[string(name)]
		if c == nil || d.bad != nil {
			return r.skip()
		}
		return d.field(r, c)
	})
}

// fail records the first bad field of the record.
func (d *recordDecoder) fail(n *node, err error) {
	if d.bad == nil {
		d.bad = &fieldError{col: n.col, path: n.path, err: err}
	}
}

// field reads the value at node n.
func (d *recordDecoder) field(r *reader, n *node) error {
	if d.seen[n.id] {
		d.fail(n, ErrDuplicateField)
		return r.skip()
	}
	d.seen[n.id] = true
	k, err := r.peekKind()
	if err != nil {
		return err
	}
	if n.children != nil && k != kindObject && k != kindNull {
		// The columns below need an object here.
		d.fail(n, notObjectError(k))
		return r.skip()
	}
	if n.col < 0 { // a step on the way to columns
		if k == kindObject {
			return d.object(r, n)
		}
		return r.readLiteral(k) // null: the columns below are NULL
	}
	c := &d.cols[n.col]
	var v any
	var verr error
	switch {
	case c.typ == etl.TypeJSON:
		read := r.skip
		if n.children != nil && k == kindObject {
			read = func() error { return d.object(r, n) }
		}
		raw, err := r.capture(read)
		if err != nil {
			return err
		}
		switch {
		case k == kindNull: // SQL NULL, as PostgreSQL's json_populate_record reads it
		case !utf8.Valid(raw):
			verr = ErrInvalidUTF8
		default:
			v = string(raw)
		}
	case k == kindString:
		b, err := r.readString()
		if err != nil {
			return err
		}
		v, verr = fromString(c.typ, b, r.surrogate)
	case k == kindNumber:
		b, err := r.readNumber()
		if err != nil {
			return err
		}
		v, verr = fromNumber(c.typ, b)
	case k == kindTrue || k == kindFalse:
		if err := r.readLiteral(k); err != nil {
			return err
		}
		v, verr = fromBool(c.typ, k == kindTrue)
	case k == kindNull:
		if err := r.readLiteral(k); err != nil {
			return err
		}
	default:
		if err := r.skip(); err != nil {
			return err
		}
		verr = wrongKind(c.typ, k)
	}
	if verr == nil && v == nil && c.notNull {
		verr = ErrNull
	}
	if verr != nil {
		d.fail(n, verr)
		return nil
	}
	d.row[n.col] = v
	return nil
}

// pageInfo is what a page body said besides its records.
type pageInfo struct {
	records int    // records read, bad ones included
	next    string // the next link or cursor, "" for none
	found   bool   // the records array was there (or null)
}

// errStop ends a page early because the stream's consumer wants no more rows.
var errStop = errors.New("stop")

// pageDecoder reads one page body: it finds the records and the next link or cursor, and
// hands each record to the source as it streams past.
type pageDecoder struct {
	ndjson bool
	shape  *tree // nil: the body is the records array
	seen   []bool
	// decode reads the record at the reader, numbered from 1 (in NDJSON, its line):
	// into the row, or as a fieldError when it cannot become one.
	decode func(n int) (*fieldError, error)
	// emit hands on the record just decoded: the row when fe is nil, else fe as a bad
	// record (an NDJSON line that is not JSON among them), which it rejects or fails on.
	// It returns errStop when the consumer wants no more rows.
	emit func(n int, fe *fieldError) error
}

// read decodes the body at r.
func (p *pageDecoder) read(r *reader) (pageInfo, error) {
	var info pageInfo
	if p.ndjson {
		return info, p.lines(r, &info)
	}
	k, err := r.peekKind()
	if err != nil {
		if _, ok := r.next(); !ok && r.inputErr() == nil {
			return info, fmt.Errorf("%w: the body is empty", ErrNoRecords)
		}
		return info, err
	}
	if p.shape == nil {
		if k != kindArray {
			return info, fmt.Errorf("%w: the body is %s, not an array (set Records to the path of the array)", ErrNoRecords, k)
		}
		info.found = true
		err = r.array(func() error {
			info.records++
			return p.one(info.records)
		})
	} else {
		if k != kindObject {
			return info, fmt.Errorf("%w: the body is %s, not an object with the records under %q", ErrNoRecords, k, p.recordsPath())
		}
		clear(p.seen)
		err = p.walk(r, p.shape.root, &info)
		if err == nil && !info.found {
			err = fmt.Errorf("%w: the body has no %q", ErrNoRecords, p.recordsPath())
		}
	}
	if err != nil {
		return info, err
	}
	return info, r.eof()
}

// one decodes and hands on record n of an array.
func (p *pageDecoder) one(n int) error {
	fe, err := p.decode(n)
	if err != nil {
		return err
	}
	return p.emit(n, fe)
}

func (p *pageDecoder) recordsPath() string {
	var find func(n *node) string
	find = func(n *node) string {
		if n.what == pageRecords {
			return n.path
		}
		for _, c := range n.children {
			if s := find(c); s != "" {
				return s
			}
		}
		return ""
	}
	return find(p.shape.root)
}

// walk reads an object of the body, descending into the members the shape names.
func (p *pageDecoder) walk(r *reader, n *node, info *pageInfo) error {
	return r.object(func(name []byte) error {
		c := n.children[string(name)]
		if c == nil {
			return r.skip()
		}
		if p.seen[c.id] {
			return fmt.Errorf("%w: the body has %q twice", ErrSyntax, c.path)
		}
		p.seen[c.id] = true
		k, err := r.peekKind()
		if err != nil {
			return err
		}
		switch c.what {
		case pageRecords:
			info.found = true
			switch k {
			case kindNull:
				return r.readLiteral(k)
			case kindArray:
				return r.array(func() error {
					info.records++
					return p.one(info.records)
				})
			}
			return fmt.Errorf("%w: the body's %q is %s, not an array", ErrNoRecords, c.path, k)
		case pageNext:
			switch k {
			case kindNull:
				return r.readLiteral(k)
			case kindString:
				b, err := r.readString()
				if err != nil {
					return err
				}
				if r.surrogate || !utf8.Valid(b) {
					return fmt.Errorf("the body's %q: %w", c.path, ErrInvalidUTF8)
				}
				info.next = string(b)
				return nil
			case kindNumber:
				b, err := r.readNumber()
				if err != nil {
					return err
				}
				info.next = string(b)
				return nil
			}
			return fmt.Errorf("the body's %q is %s, not a string: %w", c.path, k, ErrInvalidValue)
		}
		switch k {
		case kindObject:
			return p.walk(r, c, info)
		case kindNull:
			return r.readLiteral(k)
		}
		return fmt.Errorf("the body's %q is %s: %w", c.path, k, ErrNotObject)
	})
}

// lines reads an NDJSON body: one record a line, blank lines skipped. A line that is not
// JSON is handed to emit as a bad record; reading resumes on the next line, since a JSON string cannot hold
// a line break.
func (p *pageDecoder) lines(r *reader, info *pageInfo) error {
	line := 1
	for {
		r.lines = false
		for {
			if r.pos >= r.end && !r.fill() {
				return r.inputErr()
			}
			c := r.buf[r.pos]
			if c == '\n' {
				line++
			} else if c != ' ' && c != '\t' && c != '\r' {
				break
			}
			r.pos++
		}
		info.found = true
		info.records++
		r.lines = true
		fe, err := p.decode(line)
		if err == nil {
			// Nothing but blanks may follow the record on its line.
			if c, ok := r.next(); ok && c != '\n' {
				err = r.unexpected("the end of the line")
			} else if !ok {
				err = r.inputErr()
			}
		}
		if err == nil {
			err = p.emit(line, fe)
			if err != nil {
				return err
			}
			continue
		}
		var se *syntaxError
		if !errors.As(err, &se) {
			return err
		}
		if err := p.emit(line, &fieldError{col: -1, err: err}); err != nil {
			return err
		}
		if err := r.skipLine(); err != nil {
			return err
		}
	}
}

// skipLine discards input up to the next '\n', which it leaves unread.
func (r *reader) skipLine() error {
	r.keep = -1
	r.depth = 0
	for {
		for r.pos < r.end {
			if r.buf[r.pos] == '\n' {
				return nil
			}
			r.pos++
		}
		if !r.fill() {
			return r.inputErr()
		}
	}
}
