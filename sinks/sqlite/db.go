package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DriverName is the database/sql driver name of modernc.org/sqlite.
const DriverName = "sqlite"

// Config tunes [OpenWith].
type Config struct {
	// BusyTimeout is how long a statement waits for another connection's write lock
	// (SQLite's busy_timeout). Loads into one file take the write lock for their whole
	// transaction, so a second load waits up to this long, and the load protocol retries
	// a BEGIN that ran out of it. Defaults to 5s.
	BusyTimeout time.Duration
	// Logger receives the package's own warnings (a lock file that could not be
	// released, say). Defaults to discarding them; a load logs through its Run.
	Logger *slog.Logger
}

// DB is one SQLite database file opened for loading. It is safe for concurrent use; every
// load takes its own connection from the pool.
type DB struct {
	db   *sql.DB
	path string
	cfg  Config
}

// Open opens (creating if needed) the SQLite database file at path, in WAL mode with a
// 5s busy timeout. See [OpenWith].
func Open(path string) (*DB, error) { return OpenWith(path, Config{}) }

// OpenWith opens (creating if needed) the SQLite database file at path with cfg. The file
// is put in WAL mode, so readers never block the load and the load never blocks readers.
// In-memory databases are not supported: a load holds its connection while a failed
// run's record is written through a second one, and each connection to ":memory:" sees
// its own empty database.
func OpenWith(path string, cfg Config) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: %q: give a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := sql.Open(DriverName, dsn(abs, cfg.BusyTimeout))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	// Connections are cheap but each holds its own page cache; a handful covers a load,
	// its failure record and the readers of a small program.
	db.SetMaxIdleConns(4)
	if err := db.PingContext(context.Background()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	return &DB{db: db, path: abs, cfg: cfg}, nil
}

// dsn builds the modernc.org/sqlite data source name for the file at abs. The path is a
// file: URI, escaped, so a '?' or '#' in a file name stays part of the name.
func dsn(abs string, busy time.Duration) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive path: file:/C:/dir/x.db
	}
	u := url.URL{Path: p}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// Path returns the database file's absolute path.
func (d *DB) Path() string { return d.path }

// SQL returns the underlying pool, for reading the loaded tables.
func (d *DB) SQL() *sql.DB { return d.db }

// Close closes the pool.
func (d *DB) Close() error { return d.db.Close() }

// Namespace returns the OpenLineage namespace of the file: file:// and its absolute path.
func (d *DB) Namespace() string {
	p := filepath.ToSlash(d.path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return "file://" + p
}

var errNilDB = errors.New("sqlite: no DB given")
