package postgres

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

func TestSelectSQL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		q    selectSQL
		want string
	}{
		{"all columns", selectSQL{from: relation("", "t")}, `SELECT * FROM "t"`},
		{"probes after star", selectSQL{from: relation("s", "t"), probes: []string{"modified"}}, `SELECT *, (modified) FROM "s"."t"`},
		{"quoted names", selectSQL{from: relation(`a"b`, "c d"), cols: []string{`x"y`, "select"}},
			`SELECT "x""y", "select" FROM "a""b"."c d"`},
		{"where and order", selectSQL{from: relation("", "t"), cols: []string{"id"}, probes: []string{"m"},
			where: []string{"tenant = 1", "m > $1"}, orderBy: 2},
			`SELECT "id", (m) FROM "t" WHERE (tenant = 1) AND (m > $1) ORDER BY 2 ASC NULLS FIRST`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.q.String())
		})
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                              string
		k                                 cursorKind
		op                                string
		hasLower, hasUpper, atNow, orNull bool
		want                              string
		wantNext                          int
	}{
		{"nothing, nulls wanted", cursorInt, ">", false, false, false, true, "", 1},
		{"nothing, no nulls", cursorInt, ">", false, false, false, false, "(c) IS NOT NULL", 1},
		{"lower only", cursorInt, ">", true, false, false, false, "(c) > $1::bigint", 2},
		{"all, with nulls", cursorTimestamptz, ">", true, true, true, true,
			"((c) > $1::timestamptz AND (c) < $2::timestamptz AND (c) <= now()) OR (c) IS NULL", 3},
		{"naive timestamp now is UTC", cursorTimestamp, ">", false, false, true, false, "(c) <= (now() AT TIME ZONE 'UTC')", 1},
		{"date", cursorDate, ">=", true, true, false, false, "(c) >= $1::date AND (c) < $2::date", 3},
		{"numeric binds text", cursorDecimal, ">", true, false, false, false, "(c) > $1::text::numeric", 2},
		{"text", cursorText, ">", true, false, false, false, "(c) > $1::text", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, next := bounds("c", tc.k, 1, tc.op, tc.hasLower, tc.hasUpper, tc.atNow, tc.orNull)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.wantNext, next)
		})
	}
}

func TestCoerceWatermark(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 5, 10, 12, 0, 0, 123456000, time.UTC)
	for _, tc := range []struct {
		in   any
		k    cursorKind
		want any
		err  bool
	}{
		{int64(5), cursorInt, int64(5), false},
		{5, cursorInt, int64(5), false},
		{float64(5), cursorInt, int64(5), false},
		{"5", cursorInt, int64(5), false},
		{5.5, cursorInt, nil, true},
		{"x", cursorInt, nil, true},
		{etl.Decimal("1.50"), cursorDecimal, "1.50", false},
		{"1.50", cursorDecimal, "1.50", false},
		{int64(3), cursorDecimal, "3", false},
		{ts.In(time.FixedZone("x", 3600)), cursorTimestamptz, ts, false},
		{ts.Format(time.RFC3339Nano), cursorTimestamp, ts, false},
		{"yesterday", cursorDate, nil, true},
		{"b", cursorText, "b", false},
		{true, cursorText, nil, true},
	} {
		got, err := coerceWatermark(tc.in, tc.k)
		if tc.err {
			require.Error(t, err, "%v", tc.in)
			continue
		}
		require.NoError(t, err, "%v", tc.in)
		require.Equal(t, tc.want, got, "%v", tc.in)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "set Table or Query"},
		{Config{Table: "t", Query: "SELECT 1"}, "only one of Table"},
		{Config{Table: "t", LookBack: -time.Second}, "negative"},
		{Config{Table: "t", LookBack: time.Second}, "LookBack needs a Cursor"},
		{Config{Table: "t", CursorAs: "c"}, "CursorAs needs a Cursor"},
		{Config{Table: "t", NullCursor: 9}, "unknown NullCursor"},
		{Config{Table: "a\x00b"}, "NUL"},
		{Config{Table: "t", Schema: "\x00"}, "NUL"},
		{Config{Table: "t", Columns: []string{"a", ""}}, "column 2 is empty"},
		{Config{Table: "t", Deleted: "x\x00"}, "NUL"},
		{Config{Table: "t"}, ""},
		{Config{Query: "SELECT 1", Cursor: "m", LookBack: time.Minute, NullCursor: NullCursorAlways}, ""},
	} {
		err := tc.cfg.validate()
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, tc.want)
	}
}

func TestFirstSearchPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                         "public",
		`"$user", public`:          "public",
		"$user,sales":              "sales",
		`"Odd ""One""", public`:    `Odd "One"`,
		" sluice_test_ab , public": "sluice_test_ab",
	} {
		require.Equal(t, want, firstSearchPath(in), in)
	}
}

func TestDecodeRejectsBadLengths(t *testing.T) {
	t.Parallel()
	for _, k := range []kind{kindInt2, kindInt4, kindInt8, kindOID, kindFloat4, kindFloat8, kindBool, kindTime, kindDate, kindUUID} {
		_, err := decode(k, []byte{1, 2, 3})
		require.ErrorContains(t, err, "binary value of 3 bytes", "kind %d", k)
	}
	_, err := decode(kindJSONB, []byte{2, '{', '}'})
	require.ErrorContains(t, err, "jsonb")
	v, err := decode(kindNumeric, nil)
	require.NoError(t, err)
	require.Nil(t, v, "NULL stays NULL")
}

// unquoteIdent reads one double-quoted identifier at the start of s.
func unquoteIdent(s string) (ident, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '"' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		return b.String(), s[i+1:], true
	}
	return "", s, false
}

// FuzzSelectSQLQuoting checks that any schema, table and column name reaches the SQL as
// exactly one identifier each, so no name can end its quoting early.
func FuzzSelectSQLQuoting(f *testing.F) {
	f.Add("public", "items", "id")
	f.Add(`a"b`, `"; DROP TABLE x; --`, `""`)
	f.Add("", "t", "select")
	f.Add("s", "t\x00u", "c")
	f.Fuzz(func(t *testing.T, schema, table, col string) {
		names := []string{table, col}
		if schema != "" {
			names = append(names, schema)
		}
		for _, n := range names {
			if validName("name", n) != nil {
				require.True(t, n == "" || strings.Contains(n, "\x00"), "only empty names and NUL bytes are refused: %q", n)
				return
			}
		}
		sql := selectSQL{from: relation(schema, table), cols: []string{col}}.String()
		rest, ok := strings.CutPrefix(sql, "SELECT ")
		require.True(t, ok)
		got, rest, ok := unquoteIdent(rest)
		require.True(t, ok, sql)
		require.Equal(t, col, got)
		rest, ok = strings.CutPrefix(rest, " FROM ")
		require.True(t, ok, sql)
		if schema != "" {
			got, rest, ok = unquoteIdent(rest)
			require.True(t, ok, sql)
			require.Equal(t, schema, got)
			rest, ok = strings.CutPrefix(rest, ".")
			require.True(t, ok, sql)
		}
		got, rest, ok = unquoteIdent(rest)
		require.True(t, ok, sql)
		require.Equal(t, table, got)
		require.Empty(t, rest, sql)
	})
}

// FuzzDecode checks the wire decoders against pgx's own codecs: any bytes either decode to
// the value pgx reads, or fail without a panic.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(kindInt8), binary.BigEndian.AppendUint64(nil, math.MaxUint64))
	f.Add(uint8(kindTime), binary.BigEndian.AppendUint64(nil, 1<<40))
	f.Add(uint8(kindTime), binary.BigEndian.AppendUint64(nil, 1<<63))
	f.Add(uint8(kindDate), []byte{0x80, 0, 0, 1})
	f.Add(uint8(kindUUID), []byte("0123456789abcdef"))
	f.Add(uint8(kindFloat4), []byte{0x7f, 0xc0, 0, 0})
	f.Add(uint8(kindBool), []byte{1})
	f.Add(uint8(kindNumeric), []byte("-Infinity"))
	f.Add(uint8(kindJSONB), []byte("\x01{}"))
	m := pgtype.NewMap()
	oids := map[kind]uint32{
		kindInt2: pgtype.Int2OID, kindInt4: pgtype.Int4OID, kindInt8: pgtype.Int8OID,
		kindFloat4: pgtype.Float4OID, kindFloat8: pgtype.Float8OID, kindBool: pgtype.BoolOID,
		kindTime: pgtype.TimestamptzOID, kindDate: pgtype.DateOID, kindUUID: pgtype.UUIDOID,
	}
	f.Fuzz(func(t *testing.T, k uint8, b []byte) {
		k = (k-1)%uint8(kindUUID) + 1 // 1 to kindUUID, each kind its own value
		got, err := decode(kind(k), b)
		if err != nil {
			require.Nil(t, got)
			return
		}
		oid, ok := oids[kind(k)]
		if !ok {
			return
		}
		switch kind(k) {
		case kindTime:
			var want pgtype.Timestamptz
			require.NoError(t, m.Scan(oid, pgx.BinaryFormatCode, b, &want))
			require.Equal(t, pgtype.Finite, want.InfinityModifier)
			require.True(t, want.Time.Equal(got.(time.Time)), "%v vs %v", want.Time, got)
		case kindDate:
			var want pgtype.Date
			require.NoError(t, m.Scan(oid, pgx.BinaryFormatCode, b, &want))
			require.Equal(t, pgtype.Finite, want.InfinityModifier)
			require.True(t, want.Time.Equal(got.(time.Time)), "%v vs %v", want.Time, got)
		case kindUUID:
			var want pgtype.UUID
			require.NoError(t, m.Scan(oid, pgx.BinaryFormatCode, b, &want))
			s, _ := want.Value()
			require.Equal(t, s, got)
		case kindFloat4, kindFloat8:
			var want float64
			require.NoError(t, m.Scan(oid, pgx.BinaryFormatCode, b, &want))
			if math.IsNaN(want) {
				require.True(t, math.IsNaN(got.(float64)))
				return
			}
			require.Equal(t, want, got)
		case kindBool:
			// The server sends only 0 and 1; pgx reads other bytes as false, PostgreSQL's
			// boolrecv (and decode) as true.
			var want bool
			require.NoError(t, m.Scan(oid, pgx.BinaryFormatCode, b, &want))
			if b[0] <= 1 {
				require.Equal(t, want, got)
			}
		default:
			var want int64
			require.NoError(t, m.Scan(oid, pgx.BinaryFormatCode, b, &want))
			require.Equal(t, want, got)
		}
	})
}
