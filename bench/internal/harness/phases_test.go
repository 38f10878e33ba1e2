package harness

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

func TestPSQLPhasesNamesEachTiming(t *testing.T) {
	t.Parallel()
	out := []byte("Time: 0.250 ms\nTime: 1500.000 ms (00:01.500)\nnoise\nTime: 2.5 ms\nTime: 10 ms\n")
	got, err := PSQLPhases(out, []string{"other", "copy", "other", "commit"})
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, "other", got[0].Name)
	require.InDelta(t, 0.00275, got[0].Seconds, 1e-9, "statements with one label add up")
	require.Equal(t, Phase{Name: "copy", Seconds: 1.5}, got[1])
	require.Equal(t, Phase{Name: "commit", Seconds: 0.01}, got[2])

	_, err = PSQLPhases(out, []string{"copy"})
	require.ErrorContains(t, err, "4 timings for 1 statements")
}

func TestPhaseTableGivesMediansInOrder(t *testing.T) {
	t.Parallel()
	pt := PhaseTable{Order: []string{"copy", "commit"}}
	require.True(t, pt.Empty())
	pt.Add("a", []Phase{{"other", 1}, {"commit", 0.1}, {"copy", 3}})
	pt.Add("a", []Phase{{"other", 2}, {"commit", 0.3}, {"copy", 1}})
	pt.Add("a", []Phase{{"other", 3}, {"commit", 0.2}, {"copy", 2}})
	pt.Add("b", []Phase{{"copy", 5}, {"analyze", 0.5}})
	var buf bytes.Buffer
	pt.Write(&buf)
	require.Equal(t, "| case | copy | commit | other | analyze |\n|---|---:|---:|---:|---:|\n"+
		"| a | 2.000 | 0.200 | 2.000 | - |\n| b | 5.000 | - | - | 0.500 |\n", buf.String())
}

func TestCPUPerRow(t *testing.T) {
	t.Parallel()
	res := Results{{Name: "x", Samples: []Sample{{Wall: time.Second, CPU: 300 * time.Millisecond}, {Wall: time.Second, CPU: 100 * time.Millisecond}, {Wall: time.Second, CPU: 200 * time.Millisecond}}}}
	require.Equal(t, 2*time.Second, res.Get("x").CPUPer2M(200_000))
	tg := res.CPUTarget("x", 200_000, time.Second)
	require.Equal(t, "FAIL  client CPU of x per 2M rows: 2.00 s <= 1.00 s", tg.String())
	require.True(t, res.CPUTarget("x", 2_000_000, time.Second).Pass())
	require.Contains(t, res.CPUTarget("y", 1, time.Second).String(), "n/a")
	var buf bytes.Buffer
	res.WriteTablePerRow(&buf, 200_000)
	require.Contains(t, buf.String(), "| cpu µs/row | cpu s per 2M |")
	require.Contains(t, buf.String(), "| x | 1.00 | 1.00 1.00 1.00 | - | 0.0 | 0.20 | 1.00 | 2.00 |  |")
}

// The timer adds up each phase's statements and counts the longest gap between two
// statements as the COPY that pgx does not trace.
func TestPhaseTimerTimesStatementsAndTheCopy(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	ctx := context.Background()
	timer := &PhaseTimer{Classify: func(sql string) string {
		if sql == "SELECT pg_sleep(0.2)" {
			return "sleep"
		}
		return "other"
	}}
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.Tracer = timer
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT 1")
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // the untraced "COPY"
	_, err = conn.Exec(ctx, "SELECT pg_sleep(0.2)")
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	_, err = conn.Exec(ctx, "SELECT 2")
	require.NoError(t, err)

	ph := timer.Phases()
	require.Len(t, ph, 4)
	require.Equal(t, "copy", ph[0].Name)
	require.InDelta(t, 0.3, ph[0].Seconds, 0.15)
	require.Equal(t, "other", ph[1].Name)
	require.Equal(t, "sleep", ph[2].Name)
	require.InDelta(t, 0.2, ph[2].Seconds, 0.15)
	require.Equal(t, "client between statements", ph[3].Name)
	require.InDelta(t, 0.05, ph[3].Seconds, 0.04)
}

func TestParseBackendCPU(t *testing.T) {
	t.Parallel()
	stat := "4242 (postgres: x) R 1 2 3 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 1 0 5 1000 10\nTime: 0.5 ms\n"
	cpu, err := ParseBackendCPU(stat)
	require.NoError(t, err)
	require.Equal(t, 2810*time.Millisecond, cpu)
	_, err = ParseBackendCPU("no stat")
	require.Error(t, err)
}
