package riverexec

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

// TestNewClosesItsPoolOnError: New opens a pool of its own when the store's is too small,
// and a config that river then refuses must not leave that pool (and its health-check
// goroutine) behind. Not parallel, so that no other test's goroutines come and go.
func TestNewClosesItsPoolOnError(t *testing.T) {
	db := pgtest.New(t)
	store := pgstore.New(db.Pool, pgstore.Config{Schema: db.Schema})
	require.Less(t, db.Pool.Config().MaxConns, int32(20), "the test needs a store pool that New finds too small")
	before := runtime.NumGoroutine()
	for range 5 {
		_, err := New(store, Config{FetchCooldown: 500 * time.Microsecond})
		require.ErrorContains(t, err, "FetchCooldown")
	}
	// Polled here rather than with require.Eventually, whose own goroutine would count.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before, "New left goroutines behind")
}
