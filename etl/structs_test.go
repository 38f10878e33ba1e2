package etl

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type Base struct {
	ID      int64     `db:"id"`
	Created time.Time `db:"created_at"`
}

type person struct {
	Base
	Name     string
	Email    *string `db:"email"`
	Age      int8    `db:"age"`
	Score    float64 `db:"score"`
	Active   bool    `db:"active"`
	Balance  Decimal `db:"balance"`
	Photo    []byte  `db:"photo"`
	Nick     sql.NullString
	Visits   sql.Null[int32] `db:"visits"`
	Ignored  string          `db:"-"`
	internal int
}

type kitchen struct {
	I   int
	I8  int8
	I16 int16
	I32 int32
	U   uint
	U8  uint8
	U16 uint16
	U32 uint32
	U64 uint64
	F32 float32
	F64 float64
	B   bool
	S   string
	N   json.Number // a named string type
	D   Decimal
	T   time.Time
	BS  []byte
	PI  *int
	PT  *time.Time
	NF  sql.NullFloat64
	NT  sql.NullTime
	NB  sql.NullBool
	J   string          `db:"j,type=json"`
	JB  json.RawMessage `db:"jb,type=json"`
	Day time.Time       `db:"day,type=date"`
	Amt string          `db:"amt,type=numeric"`
	DT  Decimal         `db:"dt,type=text"`
}

func TestSchemaOf(t *testing.T) {
	t.Parallel()
	got, err := SchemaOf[person]()
	require.NoError(t, err)
	require.Equal(t, Schema{
		{Name: "id", Type: TypeInt64, NotNull: true},
		{Name: "created_at", Type: TypeTimestamp, NotNull: true},
		{Name: "name", Type: TypeText, NotNull: true},
		{Name: "email", Type: TypeText},
		{Name: "age", Type: TypeInt64, NotNull: true},
		{Name: "score", Type: TypeFloat64, NotNull: true},
		{Name: "active", Type: TypeBool, NotNull: true},
		{Name: "balance", Type: TypeNumeric, NotNull: true},
		{Name: "photo", Type: TypeBytes},
		{Name: "nick", Type: TypeText},
		{Name: "visits", Type: TypeInt64},
	}, got)

	ptr, err := SchemaOf[*person]()
	require.NoError(t, err)
	require.Equal(t, got, ptr, "a pointer to a struct maps like the struct")

	got[0].Name = "changed"
	again, err := SchemaOf[person]()
	require.NoError(t, err)
	require.Equal(t, "id", again[0].Name, "SchemaOf must return a copy of the cached schema")
}

func TestSchemaOfEveryGoType(t *testing.T) {
	t.Parallel()
	s, err := SchemaOf[kitchen]()
	require.NoError(t, err)
	want := map[string]Type{
		"i": TypeInt64, "i8": TypeInt64, "i16": TypeInt64, "i32": TypeInt64,
		"u": TypeInt64, "u8": TypeInt64, "u16": TypeInt64, "u32": TypeInt64, "u64": TypeInt64,
		"f32": TypeFloat64, "f64": TypeFloat64, "b": TypeBool, "s": TypeText, "n": TypeText,
		"d": TypeNumeric, "t": TypeTimestamp, "bs": TypeBytes, "pi": TypeInt64,
		"pt": TypeTimestamp, "nf": TypeFloat64, "nt": TypeTimestamp, "nb": TypeBool,
		"j": TypeJSON, "jb": TypeJSON, "day": TypeDate, "amt": TypeNumeric, "dt": TypeText,
	}
	require.Len(t, s, len(want))
	nullable := []string{"bs", "pi", "pt", "nf", "nt", "nb", "jb"}
	for _, c := range s {
		require.Equal(t, want[c.Name], c.Type, "column %q", c.Name)
		require.Equal(t, !slices.Contains(nullable, c.Name), c.NotNull, "NotNull of column %q", c.Name)
	}
}

type (
	withMap      struct{ M map[string]int }
	withSlice    struct{ L []string }
	withStruct   struct{ S struct{ A int } }
	withPtrPtr   struct{ P **int }
	withIface    struct{ X any }
	withChan     struct{ C chan int }
	taggedHidden struct {
		A int
		b int `db:"b"`
	}
	dupColumn struct {
		Name  string
		Other string `db:"name"`
	}
	dupEmbedded struct {
		Base
		ID int `db:"id"`
	}
	embedsPtr struct {
		*Base
		A int
	}
	badOption struct {
		A int `db:"a,omitempty"`
	}
	badType struct {
		A int `db:"a,type=jsonb"`
	}
	misfit struct {
		A int `db:"a,type=text"`
	}
	noFields struct{ a, b int }
)

// Unexported fields exist only to be ignored or refused by the mapping.
var _ = []any{taggedHidden{b: 1}, noFields{a: 1, b: 2}}

func TestSchemaOfErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   func() (Schema, error)
		want string
	}{
		{"not a struct", SchemaOf[int], "etl: int is not a struct"},
		{"pointer to a non-struct", SchemaOf[*string], "etl: *string is not a struct"},
		{"map field", SchemaOf[withMap], `etl: etl.withMap.M (column "m"): has Go type map[string]int, which maps to no column type`},
		{"slice field", SchemaOf[withSlice], `etl.withSlice.L (column "l"): has Go type []string`},
		{"struct field", SchemaOf[withStruct], `etl.withStruct.S (column "s"): has Go type struct { A int }`},
		{"pointer to pointer", SchemaOf[withPtrPtr], `etl.withPtrPtr.P (column "p"): has Go type **int`},
		{"interface field", SchemaOf[withIface], `etl.withIface.X (column "x"): has Go type interface {}`},
		{"chan field", SchemaOf[withChan], `has Go type chan int`},
		{"tag on unexported field", SchemaOf[taggedHidden], `etl: etl.taggedHidden.b: has a db tag but is unexported`},
		{"duplicate column", SchemaOf[dupColumn], `etl: etl.dupColumn.Other (column "name"): maps to the same column as field Name`},
		{"duplicate through embedding", SchemaOf[dupEmbedded], `etl.dupEmbedded.ID (column "id"): maps to the same column as field Base.ID`},
		{"embedded pointer", SchemaOf[embedsPtr], `etl.embedsPtr.Base: is an embedded pointer`},
		{"unknown tag option", SchemaOf[badOption], `etl.badOption.A (column "a"): has unknown db tag option "omitempty"`},
		{"unknown type option", SchemaOf[badType], `etl: unknown column type "jsonb"`},
		{"type option that does not fit", SchemaOf[misfit], `etl.misfit.A (column "a"): has Go type int, which cannot hold a text column`},
		{"no mapped fields", SchemaOf[noFields], `etl: etl.noFields has no exported fields`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.fn()
			require.ErrorContains(t, err, tt.want)
			// The failure is cached too, and stays the same.
			_, again := tt.fn()
			require.Equal(t, err, again)
		})
	}
	_, err := SchemaOf[withMap]()
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, FieldError{Struct: "etl.withMap", Field: "M", Column: "m", Err: fe.Err}, *fe)
}

func TestStructInfoIsCached(t *testing.T) {
	t.Parallel()
	a, _, err := structInfoOf[person]()
	require.NoError(t, err)
	b, isPtr, err := structInfoOf[*person]()
	require.NoError(t, err)
	require.True(t, isPtr)
	require.Same(t, a, b, "T and *T must share one cached mapping")
}

func sample() []person {
	email := "ann@example.com"
	return []person{
		{
			Base: Base{ID: 1, Created: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
			Name: "Ann", Email: &email, Age: 31, Score: 9.5, Active: true, Balance: "12.50",
			Photo: []byte{1, 2}, Nick: sql.NullString{String: "annie", Valid: true},
			Visits: sql.Null[int32]{V: 7, Valid: true}, Ignored: "not mapped", internal: 3,
		},
		{Base: Base{ID: 2}, Name: "Bob", Age: -4, Balance: "-0.001"},
	}
}

func TestFromStructsRows(t *testing.T) {
	t.Parallel()
	s, err := FromStructs(sample())
	require.NoError(t, err)
	rows, err := Collect(s)
	require.NoError(t, err)
	require.Equal(t, []Row{
		{int64(1), time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), "Ann", "ann@example.com", int64(31), 9.5, true, Decimal("12.50"), []byte{1, 2}, "annie", int64(7)},
		{int64(2), time.Time{}, "Bob", nil, int64(-4), 0.0, false, Decimal("-0.001"), nil, nil, nil},
	}, rows)

	again, err := Collect(s)
	require.NoError(t, err)
	require.Equal(t, rows, again, "a FromStructs stream may be ranged over twice")
}

func TestKitchenRoundTrip(t *testing.T) {
	t.Parallel()
	seven := 7
	when := time.Date(2024, 2, 3, 4, 5, 6, 7, time.UTC)
	in := []kitchen{
		{
			I: -1, I8: math.MinInt8, I16: math.MaxInt16, I32: math.MinInt32, U: 1, U8: math.MaxUint8,
			U16: math.MaxUint16, U32: math.MaxUint32, U64: math.MaxInt64, F32: 1.5, F64: -2.25, B: true,
			S: "s", N: "42", D: "1.10", T: when, BS: []byte("x"), PI: &seven, PT: &when,
			NF: sql.NullFloat64{Float64: 3, Valid: true}, NT: sql.NullTime{Time: when, Valid: true},
			NB: sql.NullBool{Bool: false, Valid: true}, J: `{"a":1}`, JB: json.RawMessage(`[1]`),
			Day: time.Date(2024, 2, 3, 0, 0, 0, 0, time.UTC), Amt: "9.99", DT: "3.14",
		},
		{},
	}
	s, err := FromStructs(in)
	require.NoError(t, err)
	rows, err := Collect(s)
	require.NoError(t, err)
	r := rows[0]
	byName := func(name string) any { return r[s.Schema.Index(name)] }
	require.Equal(t, `{"a":1}`, byName("j"), "a json column holds a string")
	require.Equal(t, `[1]`, byName("jb"), "a json column holds a string, even from []byte")
	require.Equal(t, Decimal("9.99"), byName("amt"))
	require.Equal(t, "3.14", byName("dt"))
	require.Equal(t, "42", byName("n"), "named string types become plain strings")
	require.Equal(t, int64(math.MaxUint32), byName("u32"))
	require.Nil(t, rows[1][s.Schema.Index("pi")])
	require.Nil(t, rows[1][s.Schema.Index("jb")], "a nil []byte is NULL")

	out, err := CollectStructs[kitchen](SliceStream(s.Schema, rows))
	require.NoError(t, err)
	require.Equal(t, in, out)
	require.NotSame(t, in[0].PI, out[0].PI, "pointers are fresh, not aliased")
}

func TestDateTruncatesToMidnightUTC(t *testing.T) {
	t.Parallel()
	type day struct {
		D time.Time `db:"d,type=date"`
	}
	local := time.FixedZone("UTC+9", 9*3600)
	s, err := FromStructs([]day{{D: time.Date(2024, 3, 1, 23, 30, 0, 0, local)}})
	require.NoError(t, err)
	rows, err := Collect(s)
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), rows[0][0], "the calendar date in the value's own zone")
}

func TestStructStreamReusesOneRow(t *testing.T) {
	t.Parallel()
	s, err := StructStream(slices.Values(sample()))
	require.NoError(t, err)
	var seen []Row
	for row, err := range s.Rows {
		require.NoError(t, err)
		seen = append(seen, row)
	}
	require.Len(t, seen, 2)
	require.Same(t, &seen[0][0], &seen[1][0], "the stream must reuse its Row")
}

func TestStructStreamStopsEarly(t *testing.T) {
	t.Parallel()
	s, err := StructStream(slices.Values(sample()))
	require.NoError(t, err)
	n := 0
	for range s.Rows {
		n++
		break
	}
	require.Equal(t, 1, n)
}

func TestStructStreamValueErrors(t *testing.T) {
	t.Parallel()
	type big struct{ U uint64 }
	s, err := StructStream(slices.Values([]big{{1}, {math.MaxUint64}}))
	require.NoError(t, err)
	rows, err := Collect(s)
	require.Len(t, rows, 1)
	require.EqualError(t, err, `etl: row 2: etl.big.U (column "u"): value 18446744073709551615 overflows int64`)

	ps := sample()
	s, err = FromStructs([]*person{&ps[0], nil})
	require.NoError(t, err)
	_, err = Collect(s)
	require.EqualError(t, err, `etl: row 2: *etl.person: is a nil pointer`)

	_, err = StructStream(slices.Values([]int{1}))
	require.EqualError(t, err, "etl: int is not a struct; struct mapping needs a struct or a pointer to one")
	_, err = FromStructs([]withMap{})
	require.ErrorContains(t, err, "map[string]int")
}

func TestScanRowConversions(t *testing.T) {
	t.Parallel()
	type target struct {
		I8  int8
		U16 uint16
		F32 float32
		F64 float64
		S   string
		D   Decimal
		BS  []byte
		PS  *string
		NI  sql.NullInt64
		T   time.Time
	}
	schema := Schema{{Name: "i8"}, {Name: "u16"}, {Name: "f32"}, {Name: "f64"}, {Name: "s"}, {Name: "d"}, {Name: "bs"}, {Name: "ps"}, {Name: "ni"}, {Name: "t"}, {Name: "extra"}}
	when := time.Unix(0, 0).UTC()
	ok := Row{int64(-128), int64(65535), float64(1.5), Decimal("2.5"), Decimal("7.00"), int64(12), "text", "p", int32(5), when, "ignored"}
	var got target
	require.NoError(t, ScanRow(schema, ok, &got))
	p := "p"
	require.Equal(t, target{I8: -128, U16: 65535, F32: 1.5, F64: 2.5, S: "7.00", D: "12", BS: []byte("text"), PS: &p, NI: sql.NullInt64{Int64: 5, Valid: true}, T: when}, got)

	nulls := Row{int64(0), int64(0), float64(0), int64(3), "", Decimal("1"), nil, nil, nil, when, nil}
	got = target{PS: &p, NI: sql.NullInt64{Int64: 1, Valid: true}, BS: []byte("old")}
	require.NoError(t, ScanRow(schema, nulls, &got))
	require.Nil(t, got.PS)
	require.Nil(t, got.BS)
	require.Equal(t, sql.NullInt64{}, got.NI)
	require.Equal(t, 3.0, got.F64, "an integer fits a float field")

	tests := []struct {
		name string
		col  int
		val  any
		want string
	}{
		{"overflow int8", 0, int64(128), `etl: etl.target.I8 (column "i8"): value 128 overflows Go type int8`},
		{"negative into uint", 1, int64(-1), `etl.target.U16 (column "u16"): value -1 overflows Go type uint16`},
		{"overflow uint16", 1, int64(65536), `value 65536 overflows Go type uint16`},
		{"text into int", 0, "12", `etl.target.I8 (column "i8"): holds a string value (12), which Go type int8 cannot hold`},
		{"uint64 above int64", 0, uint64(math.MaxUint64), `value 18446744073709551615 overflows int64`},
		{"overflow float32", 2, math.MaxFloat64, `overflows Go type float32`},
		{"bad decimal into float", 3, Decimal("abc"), `etl.target.F64 (column "f64"): value "abc" is not a number`},
		{"NULL into string", 4, nil, `etl.target.S (column "s"): is NULL, which Go type string cannot hold; make the field a pointer`},
		{"bool into text", 4, true, `holds a bool value (true), which Go type string cannot hold`},
		{"float into decimal", 5, 1.5, `holds a float64 value (1.5), which Go type etl.Decimal cannot hold`},
		{"int into bytes", 6, int64(1), `Go type []uint8 cannot hold`},
		{"int into *string", 7, int64(1), `etl.target.PS (column "ps"): holds a int64 value (1), which Go type string cannot hold`},
		{"text into NullInt64", 8, "x", `etl.target.NI (column "ni"): holds a string value (x)`},
		{"text into time", 9, "2024-01-01", `etl.target.T (column "t"): holds a string value (2024-01-01), which Go type time.Time cannot hold`},
		{"long value is cut", 4, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, `holds a []int value ([1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 ...)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			row := slices.Clone(ok)
			row[tt.col] = tt.val
			var dst target
			err := ScanRow(schema, row, &dst)
			require.ErrorContains(t, err, tt.want)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, schema[tt.col].Name, fe.Column)
		})
	}
}

func TestNewScannerErrors(t *testing.T) {
	t.Parallel()
	_, err := NewScanner[person](Schema{{Name: "id"}, {Name: "nme"}})
	require.ErrorContains(t, err, `etl: etl.person.Name (column "name"): the schema has no such column (it has "id", "nme")`)
	require.ErrorContains(t, err, `etl.person.Base.Created (column "created_at")`, "every missing column is named")

	_, err = NewScanner[int](Schema{{Name: "id"}})
	require.EqualError(t, err, "etl: int is not a struct; struct mapping needs a struct or a pointer to one")

	sc, err := NewScanner[Base](Schema{{Name: "id"}, {Name: "created_at"}})
	require.NoError(t, err)
	var b Base
	require.EqualError(t, sc.Scan(Row{int64(1)}, &b), "etl: scan into etl.Base: row has 1 values, schema has 2 columns")
}

func TestScanIntoPointerType(t *testing.T) {
	t.Parallel()
	sc, err := NewScanner[*Base](Schema{{Name: "created_at"}, {Name: "id"}})
	require.NoError(t, err)
	var dst *Base
	require.NoError(t, sc.Scan(Row{time.Time{}, int64(9)}, &dst))
	require.Equal(t, &Base{ID: 9}, dst)

	s := SliceStream(Schema{{Name: "id"}, {Name: "created_at"}}, []Row{{int64(1), time.Time{}}, {int64(2), time.Time{}}})
	got, err := CollectStructs[*Base](s)
	require.NoError(t, err)
	require.Equal(t, []*Base{{ID: 1}, {ID: 2}}, got)
	require.NotSame(t, got[0], got[1])
}

func TestStructsErrors(t *testing.T) {
	t.Parallel()
	schema := Schema{{Name: "id"}, {Name: "created_at"}}
	rows := []Row{{int64(1), time.Time{}}, {"two", time.Time{}}}
	var ids []int64
	var err error
	for b, e := range Structs[Base](SliceStream(schema, rows)) {
		if e != nil {
			err = e
			break
		}
		ids = append(ids, b.ID)
	}
	require.Equal(t, []int64{1}, ids)
	require.EqualError(t, err, `etl: row 2: etl.Base.ID (column "id"): holds a string value (two), which Go type int64 cannot hold`)

	boom := errors.New("boom")
	failing := Stream{Schema: schema, Rows: func(yield func(Row, error) bool) {
		if yield(Row{int64(1), time.Time{}}, nil) {
			yield(nil, boom)
		}
	}}
	got, err := CollectStructs[Base](failing)
	require.ErrorIs(t, err, boom)
	require.Equal(t, []Base{{ID: 1}}, got)

	_, err = CollectStructs[Base](SliceStream(Schema{{Name: "id"}}, nil))
	require.ErrorContains(t, err, `column "created_at"`)

	n := 0
	for range Structs[Base](SliceStream(schema, []Row{rows[0], rows[0], rows[0]})) {
		n++
		if n == 2 {
			break
		}
	}
	require.Equal(t, 2, n, "Structs stops when the consumer does")
}

func TestScanCopiesBytes(t *testing.T) {
	t.Parallel()
	type blob struct{ B []byte }
	buf := []byte("abc")
	var dst blob
	require.NoError(t, ScanRow(Schema{{Name: "b"}}, Row{buf}, &dst))
	buf[0] = 'X'
	require.Equal(t, []byte("abc"), dst.B, "a scanned []byte must survive the stream reusing its buffer")
}

// The mapping adds no allocation per row beyond boxing the values into the Row, which a
// hand-written conversion pays too: reflection happens once per type, not per row.
func TestStructStreamAllocatesLikeHandWrittenCode(t *testing.T) {
	items := benchItems(100)
	s, err := FromStructs(items)
	require.NoError(t, err)
	mapped := testing.AllocsPerRun(20, func() {
		for row := range s.Rows {
			_ = row
		}
	})
	byHand := testing.AllocsPerRun(20, func() {
		row := make(Row, 4)
		for i := range items {
			handRow(row, &items[i])
		}
	})
	// A few allocations per stream (the Row, the iterator) are allowed; none per row.
	require.LessOrEqual(t, mapped, byHand+8, "mapped %v allocations for %d rows, hand-written %v", mapped, len(items), byHand)
}

type benchItem struct {
	ID      int64     `db:"id"`
	Name    string    `db:"name"`
	Amount  Decimal   `db:"amount"`
	Created time.Time `db:"created"`
}

func benchItems(n int) []benchItem {
	items := make([]benchItem, n)
	for i := range items {
		items[i] = benchItem{ID: int64(i) + 1000, Name: fmt.Sprintf("name %d", i), Amount: "12.50", Created: time.Unix(int64(i), 0)}
	}
	return items
}

func handRow(row Row, it *benchItem) {
	row[0], row[1], row[2], row[3] = it.ID, it.Name, it.Amount, it.Created
}

// BenchmarkFromStructs and BenchmarkRowsByHand compare the mapping with hand-written
// conversion of the same structs; the difference is the per-row cost of the mapping.
func BenchmarkFromStructs(b *testing.B) {
	items := benchItems(1000)
	s, err := FromStructs(items)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		for row, err := range s.Rows {
			if err != nil {
				b.Fatal(err)
			}
			_ = row
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/row")
}

func BenchmarkRowsByHand(b *testing.B) {
	items := benchItems(1000)
	b.ReportAllocs()
	for b.Loop() {
		row := make(Row, 4)
		for i := range items {
			handRow(row, &items[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/row")
}

func BenchmarkStructs(b *testing.B) {
	items := benchItems(1000)
	s, err := FromStructs(items)
	require.NoError(b, err)
	rows, err := Collect(s)
	require.NoError(b, err)
	in := SliceStream(s.Schema, rows)
	b.ReportAllocs()
	for b.Loop() {
		for v, err := range Structs[benchItem](in) {
			if err != nil {
				b.Fatal(err)
			}
			_ = v
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/row")
}

func BenchmarkScanByHand(b *testing.B) {
	items := benchItems(1000)
	s, err := FromStructs(items)
	require.NoError(b, err)
	rows, err := Collect(s)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range rows {
			v := benchItem{ID: r[0].(int64), Name: r[1].(string), Amount: r[2].(Decimal), Created: r[3].(time.Time)}
			_ = v
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/row")
}

func BenchmarkSchemaOfCached(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SchemaOf[benchItem](); err != nil {
			b.Fatal(err)
		}
	}
}
