package etltest

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

func TestDiffLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		want, got string
		diff      []string
	}{
		{"equal", "a b", "a b", []string{"  ... 2 equal rows"}},
		{"both empty", "", "", nil},
		{"all added", "", "a b", []string{"+ a", "+ b"}},
		{"all removed", "a b", "", []string{"- a", "- b"}},
		{"changed middle", "a b c", "a x c", []string{"  a", "- b", "+ x", "  c"}},
		{"moved", "a b c", "b c a", []string{"- a", "  b", "  c", "+ a"}},
		{"elided", "1 2 3 4 5 6 7 8 9", "1 2 3 4 X 6 7 8 9", []string{"  ... 2 equal rows", "  3", "  4", "- 5", "+ X", "  6", "  7", "  ... 2 equal rows"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.diff, diffLines(strings.Fields(tt.want), strings.Fields(tt.got)))
		})
	}
}

// The "  " and "- " lines of diffOps give back want, the "  " and "+ " lines give back
// got, and the "  " lines are a longest common subsequence, checked against a brute-force
// count on small inputs.
func TestDiffOpsReconstructs(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	randomLines := func() []string {
		out := make([]string, r.IntN(9))
		for i := range out {
			out[i] = string(rune('a' + r.IntN(3)))
		}
		return out
	}
	for range 500 {
		want, got := randomLines(), randomLines()
		ops := diffOps(want, got)
		w, g := []string{}, []string{}
		kept := 0
		for _, op := range ops {
			switch op[:2] {
			case "  ":
				w, g = append(w, op[2:]), append(g, op[2:])
				kept++
			case "- ":
				w = append(w, op[2:])
			case "+ ":
				g = append(g, op[2:])
			}
		}
		require.Equal(t, want, w, "ops %q", ops)
		require.Equal(t, got, g, "ops %q", ops)
		require.Equal(t, lcsLen(want, got), kept, "want %q got %q ops %q", want, got, ops)
	}
}

func lcsLen(a, b []string) int {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	if a[0] == b[0] {
		return 1 + lcsLen(a[1:], b[1:])
	}
	return max(lcsLen(a[1:], b), lcsLen(a, b[1:]))
}

func TestDiffLinesTooLarge(t *testing.T) {
	t.Parallel()
	big := make([]string, 2001)
	for i := range big {
		big[i] = "x"
	}
	ops := diffLines(big, big[:2000])
	require.Len(t, ops, 4001, "past the table's bound every line is shown as changed")
}

func TestFormatValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    any
		want string
	}{
		{nil, "NULL"},
		{"it's \"x\"\n", `"it's \"x\"\n"`},
		{int64(-3), "-3"},
		{3, "int(3)"},
		{int32(3), "int32(3)"},
		{true, "true"},
		{0.1, "float64(0.1)"},
		{float32(0.5), "float32(0.5)"},
		{etl.Decimal("-0.10"), "decimal(-0.10)"},
		{time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), "time(2024-01-02T02:04:05.000000006Z)"},
		{[]byte("a\x00"), `bytes("a\x00")`},
		{[]byte{}, `bytes("")`},
		{[]byte(nil), "bytes(nil)"},
		{[]int{1}, "[]int([]int{1})"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, formatValue(tt.v))
	}
}
