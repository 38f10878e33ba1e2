package idletimeout

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// blockingBody serves data once, then blocks until its request is cancelled.
type blockingBody struct {
	ctx  context.Context
	data io.Reader
}

func (b *blockingBody) Read(p []byte) (int, error) {
	if n, err := b.data.Read(p); err == nil {
		return n, nil
	}
	<-b.ctx.Done()
	return 0, context.Cause(b.ctx)
}

func (b *blockingBody) Close() error { return nil }

// The stall clock runs only inside Read: after a Read returns, the consumer may hold the
// data as long as it likes.
func TestClockStopsBetweenReads(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(context.Background())
	// A timeout no healthy Read comes near, so the machine's load cannot fire it.
	b := NewBody(ctx, cancel, &blockingBody{ctx: ctx, data: strings.NewReader("a,b\n")}, time.Hour)
	defer b.Close()
	require.False(t, b.timer.Stop(), "no clock before the first Read")
	buf := make([]byte, 16)
	n, err := b.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "a,b\n", string(buf[:n]))
	require.False(t, b.timer.Stop(), "no clock while the consumer holds the data")
	require.NoError(t, ctx.Err())
}

// A Read that waits on a silent peer past the timeout is cancelled, and says why.
func TestCancelsAStalledPeer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(context.Background())
	b := NewBody(ctx, cancel, &blockingBody{ctx: ctx, data: strings.NewReader("")}, time.Millisecond)
	defer b.Close()
	_, err := b.Read(make([]byte, 16)) // the peer says nothing
	require.ErrorIs(t, err, ErrStalled)
	require.ErrorContains(t, err, "no data received within the timeout (1ms)")
}

// Close ends the request, so its connection goes.
func TestCloseEndsTheRequest(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(context.Background())
	b := NewBody(ctx, cancel, io.NopCloser(strings.NewReader("")), time.Hour)
	require.NoError(t, b.Close())
	require.Error(t, ctx.Err())
}
