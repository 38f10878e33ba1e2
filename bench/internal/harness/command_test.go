package harness

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

func TestSelectCases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		want  []string
		err   string
	}{
		{value: "a,c", want: []string{"a", "c"}},
		{value: " c , a,,", want: []string{"c", "a"}},
		{value: "", want: nil},
		{value: "a,d", err: `unknown case "d" (known: a,b,c)`},
	} {
		got, err := SelectCases(tc.value, "a,b,c")
		if tc.err != "" {
			require.EqualError(t, err, tc.err, tc.value)
			continue
		}
		require.NoError(t, err, tc.value)
		require.Equal(t, tc.want, got, tc.value)
	}
}

func TestWriteFooter(t *testing.T) {
	t.Parallel()
	pass := Target{Goal: "g1", Got: 1, Limit: 2, Unit: "x"}
	fail := Target{Goal: "g2", Got: 3, Limit: 2, Unit: "x"}
	var buf bytes.Buffer
	WriteFooter(&buf, []Target{pass})
	require.Regexp(t, regexp.MustCompile("(?s)^\nLoad average at the end: .+\n\nTargets:\n```\nPASS  g1: 1.00x <= 2.00x\n```\n$"), buf.String())
	buf.Reset()
	WriteFooter(&buf, []Target{pass, fail})
	require.Contains(t, buf.String(), "FAIL  g2: 3.00x <= 2.00x\n```\n\n1 of 2 targets not met or not measured.\n")
}

func TestConnectAndClaimAndTestSchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	ctx := context.Background()
	schema := TestSchema(t, dsn)
	conn, err := ConnectAndClaim(ctx, dsn, schema)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = ConnectAndClaim(ctx, dsn, schema)
	require.ErrorIs(t, err, ErrBusy)

	var buf bytes.Buffer
	WriteHeader(ctx, &buf, conn, "title")
	require.Regexp(t, "^# title\n\n- client: .+\n- server: PostgreSQL ", buf.String())
}
