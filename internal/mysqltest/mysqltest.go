// Package mysqltest gives each test its own MySQL or MariaDB database, the way
// internal/pgtest gives each test its own PostgreSQL schema, so that database tests run in
// parallel without colliding.
package mysqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

// EnvVar names the environment variable that holds the test server's DSN, in the form
// the go-sql-driver/mysql driver reads, such as root@tcp(127.0.0.1:3306)/test.
const EnvVar = "SLUICE_TEST_MYSQL_URL"

// DSN returns the test server's DSN, or skips the test when it is unset, counting the
// skip for the notice a package's TestMain prints through pgtest.Main.
func DSN(tb testing.TB) string {
	tb.Helper()
	return pgtest.Require(tb, EnvVar, "root@tcp(127.0.0.1:3306)/test")
}

// DB is a database of the test server that belongs to one test.
type DB struct {
	// Name is the test's own database, dropped with everything in it when the test ends.
	Name string
	// DSN connects with Name as the default database.
	DSN string
	// DB is a pool on DSN, closed when the test ends.
	DB *sql.DB
}

// New creates a fresh database for tb and returns a pool whose default database it is. It
// skips tb when SLUICE_TEST_MYSQL_URL is unset and fails it when the server is down.
func New(tb testing.TB) *DB {
	tb.Helper()
	base := DSN(tb)
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		tb.Fatalf("mysqltest: %s: %v", EnvVar, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "sluice_test_" + hex.EncodeToString(b[:])

	admin, err := sql.Open("mysql", base)
	if err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		tb.Fatalf("mysqltest: cannot create a database through %s (is MySQL or MariaDB up?): %v", EnvVar, err)
	}
	cfg.DBName = name
	dsn := cfg.FormatDSN()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	tb.Cleanup(func() {
		_ = db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		admin, err := sql.Open("mysql", base)
		if err != nil {
			tb.Errorf("mysqltest: drop database %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE `"+name+"`"); err != nil {
			tb.Errorf("mysqltest: drop database %s: %v", name, err)
		}
	})
	return &DB{Name: name, DSN: dsn, DB: db}
}
