package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/bench/internal/harness"
	"github.com/sluice-etl/sluice/internal/mysqltest"
)

// TestMain lets the test binary stand in for the benchmark binary when the driver
// re-executes itself as a sluice child.
func TestMain(m *testing.M) { harness.RunTestsOrChild(m, main) }

// TestSmoke runs every case once on a small file and checks that each load left the
// CSV's exact contents, with the checks on. It asserts no timing.
func TestSmoke(t *testing.T) {
	t.Parallel()
	dsn := mysqltest.DSN(t)
	client := defaultClient()
	if _, err := exec.LookPath(client); err != nil {
		t.Skip("no mariadb or mysql client on PATH")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	var out bytes.Buffer
	err := run(context.Background(), config{
		rows: 3000, runs: 1, dsn: dsn, database: "sluice_bench_test_" + hex.EncodeToString(b[:]), cases: allCases,
		client: client, verify: true, tmpdir: t.TempDir(),
	}, &out)
	require.NoError(t, err)
	report := out.String()
	require.NotContains(t, report, "FAILED", report)
	require.NotContains(t, report, "n/a ", report)
	for _, name := range []string{"client-delete", "client-swap", "sluice-delete", "sluice-swap"} {
		require.Regexp(t, `\| `+name+` \|[^\n]*contents verified`, report)
	}
	require.Contains(t, report, "unique_key(id) passed")
	require.Contains(t, report, "row_count passed")
}

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	require.Equal(t, "root:xxxxx@tcp(127.0.0.1:3306)/db", redactDSN("root:s3cret@tcp(127.0.0.1:3306)/db"))
	require.NotContains(t, redactErr("root:s3cret@tcp(h:1)/db", errTest("dial root:s3cret@tcp(h:1)")).Error(), "s3cret")
}

type errTest string

func (e errTest) Error() string { return string(e) }
