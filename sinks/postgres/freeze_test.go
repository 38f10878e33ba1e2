package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
)

// freezer is a TCP proxy to PostgreSQL that can freeze: from then on it forwards
// nothing, in either direction, and answers no new connection, while keeping every socket
// open, as a database host that hangs or a network that drops packets does.
type freezer struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	frozen  chan struct{} // closed when frozen
	pattern []byte        // freeze when the client sends this
	conns   []net.Conn
	closed  chan struct{}
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{ln: ln, target: target, frozen: make(chan struct{}), closed: make(chan struct{})}
	go f.serve()
	return f
}

func (f *freezer) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		go func() {
			if f.isFrozen() {
				return // accepted, never answered
			}
			up, err := net.Dial("tcp", f.target)
			if err != nil {
				_ = c.Close()
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, up)
			f.mu.Unlock()
			go f.pipe(up, c, false)
			f.pipe(c, up, true)
		}()
	}
}

// pipe copies from src to dst until the proxy freezes or closes. Client bytes are
// searched for the freeze pattern, and the chunk that holds it is not forwarded.
func (f *freezer) pipe(src, dst net.Conn, fromClient bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient && f.matches(buf[:n]) {
				f.Freeze()
			}
			if f.isFrozen() {
				<-f.closed // hold the sockets open, forward nothing
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) matches(b []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pattern != nil && bytes.Contains(b, f.pattern)
}

// FreezeOn freezes the proxy when the client next sends pattern.
func (f *freezer) FreezeOn(pattern string) {
	f.mu.Lock()
	f.pattern = []byte(pattern)
	f.mu.Unlock()
}

func (f *freezer) Freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.frozen:
	default:
		close(f.frozen)
	}
}

func (f *freezer) isFrozen() bool {
	select {
	case <-f.frozen:
		return true
	default:
		return false
	}
}

// Close ends every connection, so the server's sessions end too.
func (f *freezer) Close() {
	_ = f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
	for _, c := range f.conns {
		_ = c.Close()
	}
}

// frozenPool returns a pool on db's schema that connects through a freezer.
func frozenPool(t *testing.T, db *pgtest.DB) (*pgxpool.Pool, *freezer) {
	t.Helper()
	u, err := url.Parse(db.URL)
	require.NoError(t, err, "the test URL must be a URL")
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	f := newFreezer(t, net.JoinHostPort(u.Hostname(), port))
	u.Host = f.ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", "disable") // the proxy reads what the client sends
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	require.NoError(t, err)
	cfg.ConnConfig.ConnectTimeout = 0 // as a pool's default; the test bounds the wait itself
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	// Cleanups run last first: the proxy closes before the pool, which would wait for a
	// connection stuck behind it, and before pgtest drops the schema, which would wait for
	// the frozen sessions' locks.
	t.Cleanup(f.Close)
	return pool, f
}

// endless streams rows until ctx ends, calling at after row n.
func endless(n int, at func()) etl.Extractor {
	return etl.ExtractFunc(func(ctx context.Context, _ *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: itemSchema, Rows: func(yield func(etl.Row, error) bool) {
			for i := int64(1); ; i++ {
				if ctx.Err() != nil {
					yield(nil, ctx.Err())
					return
				}
				if i == int64(n) {
					at()
				}
				if !yield(etl.Row{i, fmt.Sprintf("name %d", i), i, t0, false}, nil) {
					return
				}
			}
		}}, nil
	})
}

const cleanupBound = time.Second

// A load frozen in the middle of its COPY returns within the cleanup bound of its
// cancellation, with an error that matches context.Canceled and says that the failed-run
// record could not be written.
func TestCancelReturnsWithinTheBoundWhenTheDatabaseHangsMidCopy(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, fmt.Sprintf(itemTableSQL, "items"))
	require.NoError(t, err)
	pool, proxy := frozenPool(t, db)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mid := make(chan struct{})
	p := &etl.Pipeline{Name: "frozen", CleanupTimeout: cleanupBound,
		Source: endless(20000, func() { close(mid) }),
		Sink:   &postgres.FullRefresh{Target: postgres.Target{Pool: pool, Table: "items"}}}
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, etl.Window{})
		done <- err
	}()
	<-mid
	proxy.Freeze()
	time.Sleep(200 * time.Millisecond) // let the COPY fill the socket and block

	cancelled := time.Now()
	cancel()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the cancelled load did not return")
	}
	took := time.Since(cancelled)
	require.Less(t, took, cleanupBound+2*time.Second, "cleanup after the cancel is bounded")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, etl.ErrNotRecorded)
	require.Contains(t, err.Error(), "failed-run record could not be written")
	t.Logf("returned %s after the cancel: %v", took.Round(time.Millisecond), err)
}

// failing is a check that always fails.
type failing struct{}

func (failing) Name() string           { return "always_fails" }
func (failing) Severity() etl.Severity { return etl.SeverityError }
func (failing) Run(_ context.Context, t checks.Target) (etl.CheckResult, error) {
	return etl.CheckResult{Name: "always_fails", Table: t.Name, Severity: etl.SeverityError, Found: "a failure"}, nil
}

// A load whose database hangs while it writes its failed-run record returns within the
// cleanup bound of its cancellation, saying that the record could not be written.
func TestCancelReturnsWithinTheBoundWhenTheDatabaseHangsMidRecord(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, fmt.Sprintf(itemTableSQL, "items"))
	require.NoError(t, err)
	pool, proxy := frozenPool(t, db)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows := []etl.Row{{int64(1), "a", int64(1), t0, false}}
	p := &etl.Pipeline{Name: "frozen", CleanupTimeout: cleanupBound,
		Source: source(func() etl.Stream { return etl.SliceStream(itemSchema, rows) }),
		// Freeze as the check's failure is recorded: the record replaces the run's running
		// record, which only the failure path deletes.
		Observer: etl.ObserverFunc(func(_ context.Context, e etl.Event) {
			if e.Kind == etl.EventCheck {
				proxy.FreezeOn(`DELETE FROM "sluice_runs"`)
			}
		}),
		Sink: &postgres.FullRefresh{Target: postgres.Target{Pool: pool, Table: "items", Checks: []checks.Check{failing{}}}}}
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, etl.Window{})
		done <- err
	}()
	select {
	case <-proxy.frozen:
	case err := <-done:
		t.Fatalf("the load ended before its record froze: %v", err)
	}
	time.Sleep(100 * time.Millisecond)

	cancelled := time.Now()
	cancel()
	select {
	case err = <-done:
	case <-time.After(40 * time.Second):
		t.Fatal("the cancelled load did not return")
	}
	took := time.Since(cancelled)
	require.Less(t, took, cleanupBound+2*time.Second, "the failure record is bounded after the cancel")
	require.Equal(t, "check", etl.Step(err), "the load's own failure is what the error reports")
	var ce *checks.Error
	require.True(t, errors.As(err, &ce))
	require.ErrorIs(t, err, etl.ErrNotRecorded)
	t.Logf("returned %s after the cancel: %v", took.Round(time.Millisecond), err)
}

// A State call whose database hangs as it releases the pipeline's lock returns within
// etl.DefaultCleanupTimeout of its cancellation, instead of waiting on the release forever.
func TestStateReturnsWithinTheBoundWhenTheDatabaseHangsOnRelease(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	pool, proxy := frozenPool(t, db)
	proxy.FreezeOn("pg_advisory_unlock")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- (&postgres.State{Pool: pool}).Set(ctx, "frozen", int64(7)) }()
	select {
	case <-proxy.frozen:
	case err := <-done:
		t.Fatalf("Set ended before its release froze: %v", err)
	}
	time.Sleep(100 * time.Millisecond)

	cancelled := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the cancelled Set did not return")
	}
	took := time.Since(cancelled)
	require.Less(t, took, etl.DefaultCleanupTimeout+2*time.Second, "the release is bounded after the cancel")
	t.Logf("returned %s after the cancel", took.Round(time.Millisecond))

	// The watermark was committed before the release.
	wm, err := (&postgres.State{Pool: db.Pool}).Watermark(context.Background(), "frozen")
	require.NoError(t, err)
	require.Equal(t, int64(7), wm)
}
