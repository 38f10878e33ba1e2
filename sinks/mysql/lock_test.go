package mysql

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestLockNamesFitAndDiffer(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("pipeline-ü-", 20)
	seen := map[string]bool{}
	for _, c := range [][2]string{
		{"db", "orders"}, {"db", "Orders"}, {"db2", "orders"}, {"db", "orders2"}, {"", "orders"},
		{"d", "b.orders"}, {"d.b", "orders"}, {long, long}, {long, long + "x"}, {"db", "weird \"pipe\"; `x`"},
	} {
		name := LockName(c[0], c[1])
		require.LessOrEqual(t, utf8.RuneCountInString(name), maxLockName, name)
		require.True(t, strings.HasPrefix(name, "sluice:"))
		require.False(t, seen[name], "%q repeats for %q", name, c)
		seen[name] = true
		require.Equal(t, name, LockName(c[0], c[1]), "stable")
	}
	require.Equal(t, "sluice:", LockName("db", "orders")[:7])
	require.Contains(t, LockName("db", "orders"), ":db.orders")
	require.NotEqual(t, LockName("db", "orders"), swapLockName("db", "orders"))
}

func TestSwapTableNamesFit(t *testing.T) {
	t.Parallel()
	require.Equal(t, "items__sluice_new", swapTable("items", "new"))
	long := strings.Repeat("é", 64)
	a, b := swapTable(long, "new"), swapTable(long[:len(long)-2]+"x", "new")
	for _, n := range []string{a, b, swapTable(long, "old")} {
		require.Equal(t, 64, utf8.RuneCountInString(n), n)
		require.True(t, utf8.ValidString(n))
	}
	require.NotEqual(t, a, b)
}
