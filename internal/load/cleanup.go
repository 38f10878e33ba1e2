package load

import (
	"context"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// CleanupContext returns a context for a rollback or a lock release after work under ctx
// that belongs to no run (a sink's State calls): like etl.Run.CleanupContext, it is not
// cancelled with ctx but ends etl.DefaultCleanupTimeout after ctx is done, so that a
// database that stopped answering cannot hold the caller forever. Under a run's cleanup
// context it shares that context's bound. Call cancel when the cleanup is over.
func CleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return (&etl.Run{}).CleanupContext(ctx)
}

// Release calls a lock's release function under a bounded cleanup context.
func Release(ctx context.Context, release func(context.Context)) {
	c, cancel := CleanupContext(ctx)
	defer cancel()
	release(c)
}

// Rollback ends tx under a bounded cleanup context, ignoring its error: for a deferred
// rollback after a commit, or after a failure already reported.
func Rollback(ctx context.Context, tx Tx) {
	c, cancel := CleanupContext(ctx)
	defer cancel()
	_ = tx.Rollback(c)
}

// CloseSession closes sess under a bounded cleanup context.
func CloseSession(ctx context.Context, sess Session) {
	c, cancel := CleanupContext(ctx)
	defer cancel()
	sess.Close(c)
}

// WaitGone calls alive every 10 ms until it reports false or ctx ends: for a sink that
// ended the server process of a connection it lost, which holds the pipeline's lock
// until it is gone.
func WaitGone(ctx context.Context, alive func() bool) {
	for alive() {
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
