package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvVar names the environment variable that holds the test server's connection string.
const EnvVar = "SLUICE_TEST_DATABASE_URL"

// URL returns the test server's connection string, or skips the test when it is unset.
func URL(tb testing.TB) string {
	tb.Helper()
	return Require(tb, EnvVar, "postgres://postgres@127.0.0.1:5432/test")
}

// DB is a schema of the test server that belongs to one test.
type DB struct {
	// Schema is the test's own schema, dropped with everything in it when the test ends.
	Schema string
	// URL connects with search_path set to Schema, so unqualified names land there.
	URL string
	// Pool is a pool on URL, closed when the test ends.
	Pool *pgxpool.Pool
}

// New creates a fresh schema for tb and returns a pool whose search_path points at it. It
// skips tb when SLUICE_TEST_DATABASE_URL is unset and fails it when the server is down.
func New(tb testing.TB) *DB {
	tb.Helper()
	base := URL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "sluice_test_" + hex.EncodeToString(b[:])

	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("pgtest: cannot reach %s (is PostgreSQL up?): %v", EnvVar, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create schema: %v", err)
	}

	u, err := WithSearchPath(base, schema)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		tb.Fatalf("pgtest: pool: %v", err)
	}
	tb.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return &DB{Schema: schema, URL: u, Pool: pool}
}

// WithSearchPath returns connURL with its search_path set to schema. It accepts URL and
// keyword/value connection strings.
func WithSearchPath(connURL, schema string) (string, error) {
	if _, err := pgx.ParseConfig(connURL); err != nil {
		return "", err
	}
	u, err := url.Parse(connURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// keyword/value form
		return connURL + " search_path=" + quoteKV(schema), nil
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func quoteKV(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
