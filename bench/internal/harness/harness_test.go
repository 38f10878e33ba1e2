package harness

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

func TestMedian(t *testing.T) {
	t.Parallel()
	s := time.Second
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3 * s}, 3 * s},
		{[]time.Duration{5 * s, 1 * s, 3 * s}, 3 * s},
		{[]time.Duration{4 * s, 1 * s, 2 * s, 3 * s}, 2500 * time.Millisecond},
	} {
		in := append([]time.Duration(nil), tc.in...)
		require.Equal(t, tc.want, Median(tc.in))
		require.Equal(t, in, tc.in, "Median must not reorder its input")
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	res := Results{
		{Name: "base", Samples: []Sample{{Wall: 10 * time.Second, MaxRSS: 13 << 20}}},
		{Name: "fast", Baseline: "base", Samples: []Sample{{Wall: 7 * time.Second, MaxRSS: 70 << 20}, {Wall: 9 * time.Second, MaxRSS: 20 << 20}}},
		{Name: "broken", Baseline: "base", Err: errors.New("boom\nmore")},
	}
	q, ok := res.Ratio("fast", "base")
	require.True(t, ok)
	require.InDelta(t, 0.8, q, 1e-9)

	pass := res.RatioTarget("fast", "base", 0.8)
	require.True(t, pass.Pass(), pass.String())
	require.Equal(t, "PASS  fast vs base: 0.80x <= 0.80x", pass.String())

	fail := res.RatioTarget("fast", "base", 0.79)
	require.False(t, fail.Pass())
	require.True(t, strings.HasPrefix(fail.String(), "FAIL"))

	rss := res.RSSTarget("fast", 64)
	require.False(t, rss.Pass(), "the peak over the runs counts, not the median")
	require.Equal(t, "FAIL  peak RSS of fast: 70.0 MiB <= 64.0 MiB", rss.String())

	missing := res.RatioTarget("broken", "base", 1)
	require.False(t, missing.Pass())
	require.Equal(t, "n/a   broken vs base: not measured (broken failed: boom ...)", missing.String())
	require.Equal(t, "fast", res.Fastest("base", "fast", "broken", "absent").Name)

	var buf bytes.Buffer
	require.Equal(t, 3, WriteTargets(&buf, []Target{pass, fail, rss, missing}))
	res.WriteTable(&buf)
	require.Contains(t, buf.String(), "| fast | 8.00 | 7.00 9.00 | 0.80x base | 70.0 |")
	require.Contains(t, buf.String(), "FAILED: boom ...")
}

func TestPlanInterleavesAndDropsFailedCases(t *testing.T) {
	t.Parallel()
	var order []string
	mk := func(name string, failOn int) Case {
		n := 0
		return Case{
			Name:    name,
			Prepare: func(context.Context) error { order = append(order, "prep-"+name); return nil },
			Run: func(context.Context) (Sample, error) {
				n++
				order = append(order, name)
				if n == failOn {
					return Sample{}, errors.New("failed")
				}
				return Sample{Wall: time.Duration(n)}, nil
			},
			Verify: func(context.Context, Sample) (string, error) { return "ok " + name, nil },
		}
	}
	var log bytes.Buffer
	res := Plan{Runs: 3, Log: &log, Cases: []Case{mk("a", 0), mk("b", 2)}}.Run(context.Background())
	require.Equal(t, []string{"prep-a", "a", "prep-b", "b", "prep-a", "a", "prep-b", "b", "prep-a", "a"}, order)
	require.Len(t, res.Get("a").Samples, 3)
	require.Equal(t, "ok a", res.Get("a").Note)
	require.Len(t, res.Get("b").Samples, 1)
	require.EqualError(t, res.Get("b").Err, "failed")
	require.Contains(t, log.String(), "run 2/3 b")
}

// TestMeasureReadsTheChildsOwnRSS runs a child that allocates and touches 80 MiB and
// checks that its peak RSS, not the test process's, is reported.
func TestMeasureReadsTheChildsOwnRSS(t *testing.T) {
	t.Parallel()
	small, err := Measure(exec.Command("/bin/sleep", "0.2"))
	require.NoError(t, err)
	require.Positive(t, small.MaxRSS)
	require.Less(t, small.MiB(), 8.0, "sleep's own peak, whatever the test binary's")
	require.GreaterOrEqual(t, small.RusageMaxRSS, small.MaxRSS)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAllocate$")
	cmd.Env = append(os.Environ(), "HARNESS_TEST_ALLOCATE=1")
	big, err := Measure(cmd)
	require.NoError(t, err)
	require.Contains(t, string(big.Stdout), "allocated")
	require.Greater(t, big.MiB(), 80.0)
	require.Positive(t, big.CPU)

	// The child reports its own peak, which MeasureChild prefers to the polled one.
	cmd = exec.Command(os.Args[0], "-test.run=^TestHelperAllocate$")
	cmd.Env = append(os.Environ(), "HARNESS_TEST_ALLOCATE=report")
	exact, err := MeasureChild(cmd)
	require.NoError(t, err)
	cr, err := ReadChildResult(exact.Stdout)
	require.NoError(t, err)
	require.Equal(t, cr.PeakRSS, exact.MaxRSS)
	require.Greater(t, exact.MiB(), 80.0)

	_, err = Measure(exec.Command("/bin/sh", "-c", "echo to stderr >&2; exit 3"))
	require.ErrorContains(t, err, "sh: exit status 3: to stderr")
}

// TestHelperAllocate is the child of TestMeasureReadsTheChildsOwnRSS.
func TestHelperAllocate(t *testing.T) {
	if os.Getenv("HARNESS_TEST_ALLOCATE") == "" {
		t.Skip("run as a child by TestMeasureReadsTheChildsOwnRSS")
	}
	b := make([]byte, 80<<20)
	for i := range b {
		b[i] = byte(i)
	}
	if os.Getenv("HARNESS_TEST_ALLOCATE") == "report" {
		require.NoError(t, WriteChildResult(os.Stdout, etl.Result{Stats: etl.Stats{RowsRead: int64(len(b))}}, 0))
		return
	}
	os.Stdout.WriteString("allocated " + strconv.Itoa(len(b)) + "\n")
	time.Sleep(3 * pollEvery) // long enough to be polled at its peak
}

func TestChildResultRoundTrip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, WriteChildResult(&buf, etl.Result{
		Stats:  etl.Stats{RowsRead: 5, RowsWritten: 5},
		Checks: []etl.CheckResult{{Name: "unique_key(id)", Passed: true, Note: "by index"}, {Name: "row_count"}},
	}, 7))
	cr, err := ReadChildResult(buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, int64(5), cr.Stats.RowsWritten)
	require.Equal(t, int64(7), cr.Events)
	require.Equal(t, "checks: unique_key(id) passed (by index), row_count FAILED", cr.CheckSummary())
	require.Equal(t, "no checks reported", ChildResult{}.CheckSummary())
	_, err = ReadChildResult([]byte("not json"))
	require.Error(t, err)
}

func TestRedactAndQuote(t *testing.T) {
	t.Parallel()
	require.Equal(t, "postgres://u:xxxxx@h:5432/db", RedactDSN("postgres://u:secret@h:5432/db"))
	require.Equal(t, "postgres://u@h/db", RedactDSN("postgres://u@h/db"))
	require.Equal(t, "host=h password=xxxxx", RedactDSN("host=h password=s3cret"), "keyword/value strings hide their password too")
	require.Equal(t, `'it''s'`, QuoteLiteral("it's"))
	require.Equal(t, `"a""b"`, QuoteIdent(`a"b`))
	require.Equal(t, []string{"a", "b"}, SplitList(" a, ,b,"))
	err := PSQL{DSN: "postgres://u:secret@h/db"}.RedactErr(errors.New("psql -d postgres://u:secret@h/db failed"))
	require.EqualError(t, err, "psql -d postgres://u:xxxxx@h/db failed")
}

func TestPSQLScriptAndFingerprint(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "it's.csv")
	require.NoError(t, os.WriteFile(file, []byte("id,v\n1,a\n2,b\n"), 0o644))
	// psql rejects pgx's search_path URL parameter, so names are qualified instead.
	q := func(name string) string { return QuoteIdent(db.Schema) + "." + QuoteIdent(name) }
	p := PSQL{DSN: pgtest.URL(t)}
	s, err := p.Script(ctx, "CREATE TABLE "+q("x")+" (id int, v text);\n\\copy "+q("x")+" FROM "+QuoteLiteral(file)+
		" WITH (FORMAT csv, HEADER true)\nCREATE TABLE "+q("y")+" AS SELECT * FROM "+q("x")+" ORDER BY id DESC;\n")
	require.NoError(t, err)
	require.Positive(t, s.MaxRSS)
	out, err := p.Exec(ctx, "SELECT count(*) FROM "+q("x"))
	require.NoError(t, err)
	require.Contains(t, out, "2")
	_, err = p.Script(ctx, "SELECT 1/0;\nCREATE TABLE "+q("z")+" ();\n")
	require.ErrorContains(t, err, "division by zero")
	_, err = p.Exec(ctx, "SELECT * FROM "+q("z"))
	require.Error(t, err, "ON_ERROR_STOP must stop the script at its first error")

	conn, err := Connect(ctx, db.URL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	fx, err := TableFingerprint(ctx, conn, q("x"), "")
	require.NoError(t, err)
	fy, err := TableFingerprint(ctx, conn, q("y"), "")
	require.NoError(t, err)
	require.Equal(t, int64(2), fx.Rows)
	require.Equal(t, fx, fy, "row order does not matter")
	fa, err := TableFingerprint(ctx, conn, q("x"), "v = 'a'")
	require.NoError(t, err)
	require.Equal(t, int64(1), fa.Rows)
	require.NotEqual(t, fx.Sum, fa.Sum)
	require.NotEmpty(t, Environment(ctx, conn))

	other, err := Connect(ctx, db.URL)
	require.NoError(t, err)
	defer other.Close(ctx)
	require.NoError(t, Claim(ctx, conn, db.Schema))
	require.ErrorIs(t, Claim(ctx, other, db.Schema), ErrBusy)
	require.NoError(t, Claim(ctx, other, db.Schema+"_other"))
}
