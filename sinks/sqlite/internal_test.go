package sqlite

import (
	"bufio"
	"context"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

const helperEnv = "SLUICE_SQLITE_LOCK_HELPER"

// TestLockHelperProcess is not a test: run by TestLockWorksAcrossProcesses as a child
// process, it takes a pipeline lock, says so, and holds it until stdin closes or it is
// killed.
func TestLockHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	l, err := acquire(context.Background(), path, "shared pipeline", 0)
	if err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("locked\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = l.release()
	os.Exit(0)
}

func TestLockWorksAcrossProcesses(t *testing.T) {
	t.Parallel()
	if !crossProcess {
		t.Skip("no file locks on this platform")
	}
	path := filepath.Join(t.TempDir(), "x.db")
	start := func() (*exec.Cmd, io.WriteCloser) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		line, err := bufio.NewReader(stdout).ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "locked\n", line)
		return cmd, stdin
	}
	ctx := context.Background()

	// Released when the holder lets go...
	cmd, stdin := start()
	_, err := acquire(ctx, path, "shared pipeline", 0)
	require.ErrorIs(t, err, etl.ErrLocked)
	_, err = acquire(ctx, path, "shared pipeline", 30*time.Millisecond)
	require.ErrorIs(t, err, etl.ErrLocked, "the poll gives up at the bound")
	other, err := acquire(ctx, path, "another pipeline", 0)
	require.NoError(t, err, "pipelines lock separately")
	require.NoError(t, other.release())
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	l, err := acquire(ctx, path, "shared pipeline", time.Minute)
	require.NoError(t, err)
	require.NoError(t, l.release())

	// ...and when it is killed.
	cmd, _ = start()
	_, err = acquire(ctx, path, "shared pipeline", 0)
	require.ErrorIs(t, err, etl.ErrLocked)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	l, err = acquire(ctx, path, "shared pipeline", time.Minute)
	require.NoError(t, err)
	require.NoError(t, l.release())
}

func TestBusyIsRetryableWhileTheStreamIsUnread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "busy.db")
	holder, err := Open(path)
	require.NoError(t, err)
	defer holder.Close()
	waiter, err := OpenWith(path, Config{BusyTimeout: time.Millisecond})
	require.NoError(t, err)
	defer waiter.Close()

	hs, err := dialect{holder}.Session(ctx)
	require.NoError(t, err)
	defer hs.Close(ctx)
	htx, err := hs.Begin(ctx)
	require.NoError(t, err)

	ws, err := dialect{waiter}.Session(ctx)
	require.NoError(t, err)
	defer ws.Close(ctx)
	_, err = ws.Begin(ctx)
	require.Error(t, err)
	require.True(t, dialect{}.Retryable(etl.WithStep("begin", err)), "%v", err)
	require.False(t, dialect{}.Retryable(context.Canceled))

	require.NoError(t, htx.Rollback(ctx))
	wtx, err := ws.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, wtx.Commit(ctx))

	m := &fullRefresh{stream: stream{table: "t", create: true, schema: etl.Schema{{Name: "a"}}}}
	require.True(t, m.CanReplay())
	wtx, err = ws.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, m.Prepare(ctx, wtx, etl.NewRun("p", etl.Window{})))
	_, err = m.Stage(ctx, wtx, etl.NewRun("p", etl.Window{}), etl.SliceStream(m.schema, []etl.Row{{"x"}}))
	require.NoError(t, err)
	require.False(t, m.CanReplay(), "a consumed stream cannot be replayed")
	require.NoError(t, wtx.Rollback(ctx))
}

func TestSessionCloseRollsBackAnOpenTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "x.db"))
	require.NoError(t, err)
	defer db.Close()
	db.SQL().SetMaxOpenConns(1) // the next session gets the same connection
	s, err := dialect{db}.Session(ctx)
	require.NoError(t, err)
	tx, err := s.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "CREATE TABLE t (a)")
	require.NoError(t, err)
	s.Close(ctx)

	s, err = dialect{db}.Session(ctx)
	require.NoError(t, err)
	defer s.Close(ctx)
	tx, err = s.Begin(ctx)
	require.NoError(t, err, "no transaction is left open on the pooled connection")
	rows, err := tx.QueryRows(ctx, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 't'")
	require.NoError(t, err)
	require.Equal(t, [][]any{{int64(0)}}, rows)
	require.NoError(t, tx.Commit(ctx))
}

func TestTimestampsSortAsText(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	times := []time.Time{
		base, base.Add(time.Nanosecond), base.Add(100 * time.Millisecond), base.Add(time.Second),
		base.Add(time.Second + time.Nanosecond), base.Add(time.Hour).In(time.FixedZone("X", -7*3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	for i := 1; i < len(times); i++ {
		a, b := formatTimestamp(times[i-1]), formatTimestamp(times[i])
		require.Less(t, a, b)
		back, err := time.Parse(time.RFC3339Nano, b)
		require.NoError(t, err)
		require.True(t, back.Equal(times[i]))
	}
}

func TestCeilDate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "2026-01-02"},
		{time.Date(2026, 1, 2, 0, 0, 0, 1, time.UTC), "2026-01-03"},
		{time.Date(2026, 1, 2, 23, 0, 0, 0, time.UTC), "2026-01-03"},
		{time.Date(2026, 1, 2, 1, 0, 0, 0, time.FixedZone("X", 3600)), "2026-01-02"},
	} {
		require.Equal(t, c.want, ceilDate(c.in), "%v", c.in)
	}
}

func TestLockFileName(t *testing.T) {
	t.Parallel()
	a := lockFileName("/d/x.db", "name_gender")
	require.Equal(t, "/d/x.db.sluice-lock-name_gender-", a[:len(a)-8])
	require.NotEqual(t, lockFileName("/d/x.db", "a/b"), lockFileName("/d/x.db", "a_b"))
	require.NotContains(t, filepath.Base(lockFileName("/d/x.db", "../../etc/passwd")), "/")
}

var decimalRE = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

func FuzzValidDecimal(f *testing.F) {
	for _, s := range []string{"0", "-12.50", "1e10", ".5", "5.", "+1.2E-3", "", "-", ".", "1e", "NaN", "1,5", "0x10", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := decimalRE.MatchString(s) || s == "NaN" || s == "Infinity" || s == "-Infinity" || s == "+Infinity"
		if got := validDecimal(s); got != want {
			t.Fatalf("validDecimal(%q) = %v, want %v", s, got, want)
		}
	})
}

// FuzzQuoteIdent checks against SQLite itself that a quoted name is read back as exactly
// that name.
func FuzzQuoteIdent(f *testing.F) {
	for _, s := range []string{"id", `a"b`, `""`, "x; DROP TABLE t; --", "Upper Case", "ünï", `"`, "[x]", "`x`"} {
		f.Add(s)
	}
	db, err := Open(filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" || strings.ContainsRune(name, 0) || !utf8.ValidString(name) {
			t.Skip("SQLite names are non-empty UTF-8 without NUL")
		}
		rows, err := db.SQL().Query("SELECT 1 AS " + quoteIdent(name))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil || len(cols) != 1 || cols[0] != name {
			t.Fatalf("%q came back as %q (%v)", name, cols, err)
		}
	})
}

func FuzzTimestampFormat(f *testing.F) {
	f.Add(int64(0), int64(1))
	f.Add(int64(1767225600123456789), int64(1767225600))
	f.Add(int64(-1), int64(1))
	f.Fuzz(func(t *testing.T, a, b int64) {
		ta, tb := time.Unix(0, a), time.Unix(0, b)
		fa, fb := formatTimestamp(ta), formatTimestamp(tb)
		if ta.Before(tb) != (fa < fb) {
			t.Fatalf("%v < %v but %q vs %q", ta, tb, fa, fb)
		}
		back, err := Decode(etl.TypeTimestamp, fa)
		if err != nil || !back.(time.Time).Equal(ta) {
			t.Fatalf("%q read back as %v (%v), want %v", fa, back, err, ta)
		}
	})
}

func TestEncodeValue(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	for _, c := range []struct {
		typ  etl.Type
		in   any
		want any
		bad  bool
	}{
		{etl.TypeInt64, int64(-5), int64(-5), false},
		{etl.TypeInt64, int32(7), int64(7), false},
		{etl.TypeInt64, uint64(1 << 63), nil, true},
		{etl.TypeInt64, "5", nil, true},
		{etl.TypeFloat64, float32(0.5), 0.5, false},
		{etl.TypeFloat64, math.NaN(), nil, true},
		{etl.TypeNumeric, etl.Decimal("-1.50"), "-1.50", false},
		{etl.TypeNumeric, "2e3", "2e3", false},
		{etl.TypeNumeric, int64(3), "3", false},
		{etl.TypeNumeric, etl.Decimal("1.5.0"), nil, true},
		{etl.TypeNumeric, 1.5, nil, true},
		{etl.TypeBool, true, int64(1), false},
		{etl.TypeBool, int64(1), nil, true},
		{etl.TypeTimestamp, ts, "2026-01-02T02:04:05.000000006Z", false},
		{etl.TypeTimestamp, "2026-01-02T03:04:05+01:00", "2026-01-02T02:04:05.000000000Z", false},
		{etl.TypeTimestamp, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil, true},
		{etl.TypeTimestamp, "yesterday", nil, true},
		{etl.TypeDate, ts, "2026-01-02", false},
		{etl.TypeDate, "2026-02-30", nil, true},
		{etl.TypeBytes, "ab", []byte("ab"), false},
		{etl.TypeText, []byte("ok"), "ok", false},
		{etl.TypeText, []byte{0xff}, nil, true},
		{etl.TypeJSON, `{"a":1}`, `{"a":1}`, false},
		{etl.TypeText, 5, nil, true},
		{etl.TypeText, nil, nil, false},
	} {
		got, err := encodeValue(c.typ, c.in)
		if c.bad {
			require.ErrorIs(t, err, ErrValue, "%s %#v", c.typ, c.in)
			continue
		}
		require.NoError(t, err, "%s %#v", c.typ, c.in)
		require.Equal(t, c.want, got, "%s %#v", c.typ, c.in)
	}
}
