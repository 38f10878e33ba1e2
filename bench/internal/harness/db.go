package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the connection string used when neither -dsn nor SLUICE_TEST_DATABASE_URL
// is set.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test"

// DSNFromEnv returns SLUICE_TEST_DATABASE_URL, or [DefaultDSN] when it is unset.
func DSNFromEnv() string {
	if s := os.Getenv("SLUICE_TEST_DATABASE_URL"); s != "" {
		return s
	}
	return DefaultDSN
}

// Connect opens the driver's own connection, with the session in UTC so that fingerprints
// of timestamptz columns do not depend on the server's time zone.
func Connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", RedactDSN(dsn), err)
	}
	if _, err := conn.Exec(ctx, "SET TimeZone = 'UTC'; SET application_name = 'sluice-bench-driver'"); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

// Fingerprint is an order-independent digest of a table's contents: its row count and the
// sum of a hash of every row's text form. Two loads of the same data give the same
// fingerprint whatever the loader.
type Fingerprint struct {
	Rows int64
	Sum  string
}

// String implements fmt.Stringer.
func (f Fingerprint) String() string { return fmt.Sprintf("%d rows, sum %s", f.Rows, f.Sum) }

// TableFingerprint computes the fingerprint of the rows of qualified (a quoted name) that
// match where ("" for all).
func TableFingerprint(ctx context.Context, conn *pgx.Conn, qualified, where string) (Fingerprint, error) {
	q := "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM " + qualified + " AS t"
	if where != "" {
		q += " WHERE " + where
	}
	var f Fingerprint
	if err := conn.QueryRow(ctx, q).Scan(&f.Rows, &f.Sum); err != nil {
		return f, fmt.Errorf("fingerprint %s: %w", qualified, err)
	}
	return f, nil
}

// Environment describes the machine and server for the report header.
func Environment(ctx context.Context, conn *pgx.Conn) []string {
	lines := []string{fmt.Sprintf("client: %s %s/%s, %d CPUs, GOMAXPROCS %d, load average %s", runtime.Version(), runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), runtime.GOMAXPROCS(0), LoadAverage())}
	var version string
	if err := conn.QueryRow(ctx, "SELECT split_part(version(), ' on ', 1)").Scan(&version); err != nil {
		return append(lines, "server: unknown ("+err.Error()+")")
	}
	var settings []string
	for _, name := range []string{"wal_level", "shared_buffers", "max_wal_size", "fsync", "synchronous_commit"} {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err == nil {
			settings = append(settings, name+"="+v)
		}
	}
	return append(lines, "server: "+version+", "+strings.Join(settings, " "), "sluice: "+Revision())
}

// Revision names the source the benchmark was built from: the VCS revision stamped into
// the binary, else what git says about the working directory, else "unknown".
func Revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = " (modified)"
				}
			}
		}
		if rev != "" {
			return rev[:min(12, len(rev))] + dirty
		}
	}
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return "commit " + strings.TrimSpace(string(out))
}

// LoadAverage returns the 1, 5 and 15 minute load averages from /proc/loadavg, or
// "unknown". A load well above the CPU count means the figures are noisy.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// ErrBusy is returned by [Claim] when another benchmark holds the schema.
var ErrBusy = errors.New("another benchmark run is using this schema (choose another with -schema, or wait)")

// Claim takes a session advisory lock named after schema on conn, so that two benchmark
// runs never drop and rebuild each other's tables. It fails at once with [ErrBusy] when
// another run holds it; the lock lasts as long as conn.
func Claim(ctx context.Context, conn *pgx.Conn, schema string) error {
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended('sluice-bench:' || $1, 0))", schema).Scan(&ok); err != nil {
		return fmt.Errorf("claim schema %s: %w", schema, err)
	}
	if !ok {
		return fmt.Errorf("schema %s: %w", schema, ErrBusy)
	}
	return nil
}
