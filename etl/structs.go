package etl

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FieldError reports a struct field that cannot be mapped to or from its column: an
// unsupported Go type, a bad tag, or a value that does not fit.
type FieldError struct {
	// Struct is the Go type, such as "main.Person".
	Struct string
	// Field is the field's path in the struct, such as "Address.City".
	Field string
	// Column is the column the field maps to, empty when it has none.
	Column string
	// Row is the 1-based position of the struct or row in its stream, 0 when unknown.
	Row int64
	// Err says what was wrong.
	Err error
}

// Error implements the error interface.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("etl: ")
	if e.Row > 0 {
		fmt.Fprintf(&b, "row %d: ", e.Row)
	}
	b.WriteString(e.Struct)
	if e.Field != "" {
		b.WriteString(".")
		b.WriteString(e.Field)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, " (column %q)", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// SchemaOf returns the schema that struct type T maps to, one column per mapped field in
// field order. T may also be a pointer to a struct. The same mapping governs
// [StructStream], [FromStructs], [NewScanner], [ScanRow] and [Structs]:
//
//   - A field tagged `db:"name"` maps to the column "name"; `db:"-"` skips the field.
//   - An exported field without a tag maps to its name lower-cased, as sqlx does:
//     CreatedAt becomes "createdat". Tag it to get "created_at".
//   - Unexported fields are ignored. A db tag on one is an error, since it would
//     otherwise be dropped without a word.
//   - An embedded struct without a tag has its fields flattened into the parent, as
//     encoding/json does. Embedding a pointer to a struct is an error; embed the value.
//   - Two fields that map to the same column are an error naming both.
//   - A pointer (one level), a database/sql Null type (sql.NullString, sql.Null[T], ...)
//     or a []byte makes the column nullable; every other field is NotNull.
//   - The tag option type= picks another column type the Go value fits:
//     `db:"doc,type=json"` on a string or []byte, `db:"day,type=date"` on a time.Time
//     (truncated to midnight UTC on the way out), `db:"amount,type=numeric"` on a string.
//
// Go types map to column types as follows:
//
//	string and named string types           TypeText
//	int, int8...int64, uint, uint8...uint64  TypeInt64 (a uint above MaxInt64 fails)
//	float32, float64                        TypeFloat64
//	bool                                    TypeBool
//	time.Time                               TypeTimestamp
//	[]byte                                  TypeBytes
//	Decimal                                 TypeNumeric
//
// A struct type is reflected once; the result, or the error, is cached for the life of
// the process, so a stream of any length pays for reflection once.
func SchemaOf[T any]() (Schema, error) {
	info, _, err := structInfoOf[T]()
	if err != nil {
		return nil, err
	}
	return slices.Clone(info.schema), nil
}

// StructStream returns a stream of the structs that seq yields, in the schema
// [SchemaOf][T] returns. It reuses one Row for every struct, so a consumer that keeps a
// row must [Row.Clone] it. A value that does not fit its column (a uint64 above
// MaxInt64, a nil element when T is a pointer) ends the stream with a [*FieldError].
func StructStream[T any](seq iter.Seq[T]) (Stream, error) {
	info, isPtr, err := structInfoOf[T]()
	if err != nil {
		return Stream{}, err
	}
	return Stream{Schema: slices.Clone(info.schema), Rows: func(yield func(Row, error) bool) {
		var cur T
		cv := reflect.ValueOf(&cur).Elem()
		row := make(Row, len(info.fields))
		var n int64
		for item := range seq {
			n++
			cur = item
			if err := info.fill(row, cv, isPtr, n); err != nil {
				yield(nil, err)
				return
			}
			if !yield(row, nil) {
				return
			}
		}
	}}, nil
}

// FromStructs returns a stream over items, as [StructStream] does, without copying each
// struct. The stream may be ranged over more than once.
func FromStructs[T any](items []T) (Stream, error) {
	info, isPtr, err := structInfoOf[T]()
	if err != nil {
		return Stream{}, err
	}
	return Stream{Schema: slices.Clone(info.schema), Rows: func(yield func(Row, error) bool) {
		row := make(Row, len(info.fields))
		for i := range items {
			if err := info.fill(row, reflect.ValueOf(&items[i]).Elem(), isPtr, int64(i+1)); err != nil {
				yield(nil, err)
				return
			}
			if !yield(row, nil) {
				return
			}
		}
	}}, nil
}

// Scanner stores rows of one schema into structs of type T. It matches columns to fields
// once, in [NewScanner], so Scan costs no lookups. A Scanner is safe for concurrent use.
type Scanner[T any] struct {
	info  *structInfo
	isPtr bool
	cols  []int // cols[i] is the row position of info.fields[i]
	width int
}

// NewScanner returns a Scanner from rows in schema into T. Every mapped field of T must
// have a column in schema, so that a typo in a tag fails here rather than leaving a field
// zero; columns with no field are ignored, so a struct may read a subset of a wide
// stream.
func NewScanner[T any](schema Schema) (*Scanner[T], error) {
	info, isPtr, err := structInfoOf[T]()
	if err != nil {
		return nil, err
	}
	pos := make(map[string]int, len(schema))
	for i, c := range schema {
		if _, dup := pos[c.Name]; !dup {
			pos[c.Name] = i
		}
	}
	s := &Scanner[T]{info: info, isPtr: isPtr, cols: make([]int, len(info.fields)), width: len(schema)}
	var errs []error
	for i := range info.fields {
		f := &info.fields[i]
		p, ok := pos[f.column]
		if !ok {
			errs = append(errs, info.fieldError(f, 0, fmt.Errorf("the schema has no such column (it has %s)", quoteNames(schema.Names()))))
			continue
		}
		s.cols[i] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Scan stores row into *dst. When T is a pointer type and *dst is nil, Scan allocates the
// struct. Byte slices are copied, so dst stays valid after the stream reuses row. A
// value that does not fit its field, or a NULL in a field that cannot hold one, fails
// with a [*FieldError]; dst may then be partly written.
func (s *Scanner[T]) Scan(row Row, dst *T) error {
	if len(row) != s.width {
		return fmt.Errorf("etl: scan into %s: row has %d values, schema has %d columns", s.info.typ, len(row), s.width)
	}
	v := reflect.ValueOf(dst).Elem()
	if s.isPtr {
		if v.IsNil() {
			v.Set(reflect.New(s.info.typ))
		}
		v = v.Elem()
	}
	for i := range s.info.fields {
		f := &s.info.fields[i]
		if err := f.store(fieldOf(v, f.index), row[s.cols[i]]); err != nil {
			return s.info.fieldError(f, 0, err)
		}
	}
	return nil
}

// ScanRow stores row, whose columns are schema, into *dst. It matches columns to fields
// on every call; to scan many rows, make one [Scanner] with [NewScanner], or range over
// [Structs].
func ScanRow[T any](schema Schema, row Row, dst *T) error {
	s, err := NewScanner[T](schema)
	if err != nil {
		return err
	}
	return s.Scan(row, dst)
}

// Structs returns the rows of s as values of T, matched to the schema once. A failure,
// of the stream or of a scan, is yielded as a final (zero, err) pair; a scan error is a
// [*FieldError] that names the row. Like the stream, the sequence is single-use.
func Structs[T any](s Stream) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		sc, err := NewScanner[T](s.Schema)
		if err != nil {
			yield(zero, err)
			return
		}
		var cur T
		var n int64
		for row, err := range s.Rows {
			if err != nil {
				yield(zero, err)
				return
			}
			n++
			cur = zero
			if err := sc.Scan(row, &cur); err != nil {
				var fe *FieldError
				if errors.As(err, &fe) {
					fe.Row = n
				}
				yield(zero, err)
				return
			}
			if !yield(cur, nil) {
				return
			}
		}
	}
}

// CollectStructs reads a whole stream into a slice of T. Like [Collect], it is meant for
// tests and small lookups.
func CollectStructs[T any](s Stream) ([]T, error) {
	var out []T
	for v, err := range Structs[T](s) {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// valueKind is the family of Go types a field holds, once pointers and sql.Null
// wrappers are taken off.
type valueKind uint8

const (
	kindText valueKind = iota + 1
	kindDecimal
	kindInt
	kindUint
	kindFloat
	kindBool
	kindTime
	kindBytes
)

// wrapKind says how a field makes its value nullable.
type wrapKind uint8

const (
	wrapNone wrapKind = iota
	wrapPtr           // *T; nil is NULL
	wrapNull          // database/sql Null type: field 0 holds the value, field 1 is Valid
)

type fieldInfo struct {
	path   string // Go field path, such as "Address.City"
	column string
	index  []int
	typ    Type
	kind   valueKind
	wrap   wrapKind
	goType reflect.Type // the field's declared type
}

type structInfo struct {
	typ    reflect.Type
	schema Schema
	fields []fieldInfo
}

type structCacheEntry struct {
	info *structInfo
	err  error
}

// structCache maps a struct's reflect.Type to its *structCacheEntry.
var structCache sync.Map

var (
	timeType    = reflect.TypeFor[time.Time]()
	decimalType = reflect.TypeFor[Decimal]()
)

// structInfoOf returns the cached mapping of T, and whether T is a pointer to the
// struct.
func structInfoOf[T any]() (*structInfo, bool, error) {
	t := reflect.TypeFor[T]()
	isPtr := false
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
		t, isPtr = t.Elem(), true
	}
	if e, ok := structCache.Load(t); ok {
		e := e.(*structCacheEntry)
		return e.info, isPtr, e.err
	}
	info, err := analyzeStruct(t)
	e, _ := structCache.LoadOrStore(t, &structCacheEntry{info: info, err: err})
	return e.(*structCacheEntry).info, isPtr, e.(*structCacheEntry).err
}

func analyzeStruct(t reflect.Type) (*structInfo, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("etl: %s is not a struct; struct mapping needs a struct or a pointer to one", t)
	}
	info := &structInfo{typ: t}
	byColumn := make(map[string]string)
	if err := info.addFields(t, nil, "", byColumn); err != nil {
		return nil, err
	}
	if len(info.fields) == 0 {
		return nil, fmt.Errorf("etl: %s has no exported fields to map to columns", t)
	}
	for _, f := range info.fields {
		info.schema = append(info.schema, Column{Name: f.column, Type: f.typ, NotNull: f.wrap == wrapNone && f.kind != kindBytes})
	}
	return info, nil
}

func (info *structInfo) addFields(t reflect.Type, index []int, prefix string, byColumn map[string]string) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, tagged := sf.Tag.Lookup("db")
		if tag == "-" {
			continue
		}
		path := prefix + sf.Name
		idx := append(slices.Clip(index), i)
		fe := func(column string, err error) error {
			return &FieldError{Struct: info.typ.String(), Field: path, Column: column, Err: err}
		}
		if !sf.IsExported() {
			if tagged {
				return fe("", errors.New(`has a db tag but is unexported; export it or tag it db:"-"`))
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			switch {
			case sf.Type.Kind() == reflect.Struct && sf.Type != timeType && !isSQLNull(sf.Type):
				if err := info.addFields(sf.Type, idx, path+".", byColumn); err != nil {
					return err
				}
				continue
			case sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct && sf.Type.Elem() != timeType:
				return fe("", errors.New(`is an embedded pointer, which struct mapping does not follow; embed the struct by value or tag it db:"-"`))
			}
		}
		column := name
		if column == "" {
			column = strings.ToLower(sf.Name)
		}
		f := fieldInfo{path: path, column: column, index: idx, goType: sf.Type}
		if err := f.classify(sf.Type, opts); err != nil {
			return fe(column, err)
		}
		if other, dup := byColumn[column]; dup {
			return fe(column, fmt.Errorf("maps to the same column as field %s", other))
		}
		byColumn[column] = path
		info.fields = append(info.fields, f)
	}
	return nil
}

// isSQLNull reports whether t is one of database/sql's Null types, which all have the
// shape struct { V T; Valid bool }.
func isSQLNull(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.PkgPath() == "database/sql" && t.NumField() == 2 &&
		t.Field(1).Name == "Valid" && t.Field(1).Type.Kind() == reflect.Bool && t.Field(0).IsExported()
}

// classify sets the field's kind, wrapper and column type from its Go type and tag
// options.
func (f *fieldInfo) classify(t reflect.Type, opts string) error {
	base := t
	switch {
	case t.Kind() == reflect.Pointer:
		f.wrap, base = wrapPtr, t.Elem()
	case isSQLNull(t):
		f.wrap, base = wrapNull, t.Field(0).Type
	}
	switch {
	case base == decimalType:
		f.kind, f.typ = kindDecimal, TypeNumeric
	case base == timeType:
		f.kind, f.typ = kindTime, TypeTimestamp
	case base.Kind() == reflect.String:
		f.kind, f.typ = kindText, TypeText
	case base.Kind() == reflect.Bool:
		f.kind, f.typ = kindBool, TypeBool
	case base.Kind() >= reflect.Int && base.Kind() <= reflect.Int64:
		f.kind, f.typ = kindInt, TypeInt64
	case base.Kind() >= reflect.Uint && base.Kind() <= reflect.Uint64:
		f.kind, f.typ = kindUint, TypeInt64
	case base.Kind() == reflect.Float32 || base.Kind() == reflect.Float64:
		f.kind, f.typ = kindFloat, TypeFloat64
	case base.Kind() == reflect.Slice && base.Elem().Kind() == reflect.Uint8 && f.wrap == wrapNone:
		f.kind, f.typ = kindBytes, TypeBytes
	default:
		return fmt.Errorf("has Go type %s, which maps to no column type; use a string, number, bool, time.Time, []byte, etl.Decimal, a pointer to one, or tag it db:\"-\"", t)
	}
	for opt := range strings.SplitSeq(opts, ",") {
		if opt == "" {
			continue
		}
		name, ok := strings.CutPrefix(opt, "type=")
		if !ok {
			return fmt.Errorf("has unknown db tag option %q (known: type=)", opt)
		}
		typ, err := ParseType(name)
		if err != nil {
			return err
		}
		if !f.kind.fits(typ) {
			return fmt.Errorf("has Go type %s, which cannot hold a %s column", t, typ)
		}
		f.typ = typ
	}
	return nil
}

// fits reports whether a field of kind k can be mapped to a column of type t.
func (k valueKind) fits(t Type) bool {
	switch k {
	case kindText:
		return t == TypeText || t == TypeJSON || t == TypeNumeric
	case kindDecimal:
		return t == TypeNumeric || t == TypeText
	case kindInt, kindUint:
		return t == TypeInt64
	case kindFloat:
		return t == TypeFloat64
	case kindBool:
		return t == TypeBool
	case kindTime:
		return t == TypeTimestamp || t == TypeDate
	case kindBytes:
		return t == TypeBytes || t == TypeJSON
	}
	return false
}

func (info *structInfo) fieldError(f *fieldInfo, row int64, err error) *FieldError {
	return &FieldError{Struct: info.typ.String(), Field: f.path, Column: f.column, Row: row, Err: err}
}

func fieldOf(v reflect.Value, index []int) reflect.Value {
	if len(index) == 1 {
		return v.Field(index[0])
	}
	return v.FieldByIndex(index)
}

// fill writes the fields of v (a T, or a *T when isPtr) into row. n is the struct's
// position, for errors.
func (info *structInfo) fill(row Row, v reflect.Value, isPtr bool, n int64) error {
	if isPtr {
		if v.IsNil() {
			return &FieldError{Struct: "*" + info.typ.String(), Row: n, Err: errors.New("is a nil pointer")}
		}
		v = v.Elem()
	}
	for i := range info.fields {
		f := &info.fields[i]
		val, err := f.load(fieldOf(v, f.index))
		if err != nil {
			return info.fieldError(f, n, err)
		}
		row[i] = val
	}
	return nil
}

// load returns the row value of field value fv.
func (f *fieldInfo) load(fv reflect.Value) (any, error) {
	switch f.wrap {
	case wrapPtr:
		if fv.IsNil() {
			return nil, nil
		}
		fv = fv.Elem()
	case wrapNull:
		if !fv.Field(1).Bool() {
			return nil, nil
		}
		fv = fv.Field(0)
	}
	switch f.kind {
	case kindText:
		switch f.typ {
		case TypeNumeric:
			return Decimal(fv.String()), nil
		}
		return fv.String(), nil
	case kindDecimal:
		if f.typ == TypeText {
			return fv.String(), nil
		}
		return Decimal(fv.String()), nil
	case kindInt:
		return fv.Int(), nil
	case kindUint:
		u := fv.Uint()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("value %d overflows int64", u)
		}
		return int64(u), nil
	case kindFloat:
		return fv.Float(), nil
	case kindBool:
		return fv.Bool(), nil
	case kindTime:
		var t time.Time
		if fv.CanAddr() {
			t = *fv.Addr().Interface().(*time.Time) // no copy to the heap before the Row's own
		} else {
			t = fv.Interface().(time.Time)
		}
		if f.typ == TypeDate {
			y, m, d := t.Date()
			t = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		}
		return t, nil
	case kindBytes:
		if fv.IsNil() {
			return nil, nil
		}
		if f.typ == TypeJSON {
			return string(fv.Bytes()), nil
		}
		return fv.Bytes(), nil
	}
	panic("etl: unreachable field kind")
}

// store writes row value val into field value fv, which is settable.
func (f *fieldInfo) store(fv reflect.Value, val any) error {
	if val == nil {
		switch {
		case f.wrap != wrapNone, f.kind == kindBytes:
			fv.SetZero()
			return nil
		}
		return fmt.Errorf("is NULL, which Go type %s cannot hold; make the field a pointer", f.goType)
	}
	switch f.wrap {
	case wrapPtr:
		p := reflect.New(fv.Type().Elem())
		if err := f.storeValue(p.Elem(), val); err != nil {
			return err
		}
		fv.Set(p)
		return nil
	case wrapNull:
		if err := f.storeValue(fv.Field(0), val); err != nil {
			return err
		}
		fv.Field(1).SetBool(true)
		return nil
	}
	return f.storeValue(fv, val)
}

func (f *fieldInfo) storeValue(fv reflect.Value, val any) error {
	switch f.kind {
	case kindText, kindDecimal:
		switch x := val.(type) {
		case string:
			fv.SetString(x)
			return nil
		case Decimal:
			fv.SetString(string(x))
			return nil
		case []byte:
			fv.SetString(string(x))
			return nil
		case int64:
			if f.kind == kindDecimal {
				fv.SetString(strconv.FormatInt(x, 10))
				return nil
			}
		}
	case kindInt:
		n, err := toInt64(val, fv.Type())
		if err != nil {
			return err
		}
		if fv.OverflowInt(n) {
			return fmt.Errorf("value %d overflows Go type %s", n, fv.Type())
		}
		fv.SetInt(n)
		return nil
	case kindUint:
		n, err := toInt64(val, fv.Type())
		if err != nil {
			return err
		}
		if n < 0 || fv.OverflowUint(uint64(n)) {
			return fmt.Errorf("value %d overflows Go type %s", n, fv.Type())
		}
		fv.SetUint(uint64(n))
		return nil
	case kindFloat:
		var x float64
		switch v := val.(type) {
		case float64:
			x = v
		case float32:
			x = float64(v)
		case Decimal:
			p, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return fmt.Errorf("value %q is not a number", string(v))
			}
			x = p
		default:
			n, err := toInt64(val, fv.Type())
			if err != nil {
				return err
			}
			x = float64(n)
		}
		if fv.OverflowFloat(x) {
			return fmt.Errorf("value %g overflows Go type %s", x, fv.Type())
		}
		fv.SetFloat(x)
		return nil
	case kindBool:
		if b, ok := val.(bool); ok {
			fv.SetBool(b)
			return nil
		}
	case kindTime:
		if t, ok := val.(time.Time); ok {
			*fv.Addr().Interface().(*time.Time) = t
			return nil
		}
	case kindBytes:
		switch x := val.(type) {
		case []byte:
			fv.SetBytes(append([]byte(nil), x...))
			return nil
		case string:
			fv.SetBytes([]byte(x))
			return nil
		}
	}
	return mismatch(val, fv.Type())
}

func toInt64(val any, t reflect.Type) (int64, error) {
	switch x := val.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	}
	rv := reflect.ValueOf(val)
	switch {
	case rv.Kind() >= reflect.Int && rv.Kind() <= reflect.Int64:
		return rv.Int(), nil
	case rv.Kind() >= reflect.Uint && rv.Kind() <= reflect.Uintptr:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u), nil
		}
		return 0, fmt.Errorf("value %d overflows int64", rv.Uint())
	}
	return 0, mismatch(val, t)
}

func mismatch(val any, t reflect.Type) error {
	s := fmt.Sprintf("%v", val)
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return fmt.Errorf("holds a %T value (%s), which Go type %s cannot hold", val, s, t)
}

func quoteNames(names []string) string {
	if len(names) == 0 {
		return "no columns"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
