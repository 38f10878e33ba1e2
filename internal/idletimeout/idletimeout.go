// Package idletimeout fails a streamed body that stops delivering data: an HTTP response
// or an S3 object that a source reads for as long as it takes, but that must not hang
// forever on a peer that went silent.
//
// A timeout on the whole request would cap the size of what can be read; [Body] only
// catches a stalled peer. Its clock runs only while a Read waits on the peer: a consumer
// that holds the stream for longer (a sink waiting on a lock or an upload) has not
// stalled the peer, and must not fail a healthy read.
package idletimeout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrStalled is the cause given to a request cancelled because its body stopped
// flowing; a Read it cuts short fails with an error that matches it.
var ErrStalled = errors.New("no data received within the timeout")

// Body wraps a response body whose request runs under ctx, which cancel cancels: a Read
// that waits longer than timeout cancels the request with [ErrStalled]. Close closes the
// body and then cancels the request.
type Body struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	body    io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
}

// NewBody returns body with its stall clock stopped until the first Read.
func NewBody(ctx context.Context, cancel context.CancelCauseFunc, body io.ReadCloser, timeout time.Duration) *Body {
	b := &Body{ctx: ctx, cancel: cancel, body: body, timeout: timeout}
	b.timer = time.AfterFunc(timeout, func() { cancel(ErrStalled) })
	b.timer.Stop()
	return b
}

// Read reads from the body, failing with an error that matches [ErrStalled] when the
// peer sent nothing for the timeout.
func (b *Body) Read(p []byte) (int, error) {
	b.timer.Reset(b.timeout)
	n, err := b.body.Read(p)
	b.timer.Stop()
	if err != nil && err != io.EOF && errors.Is(context.Cause(b.ctx), ErrStalled) {
		err = fmt.Errorf("%w (%s)", ErrStalled, b.timeout)
	}
	return n, err
}

// Close closes the body and ends its request.
func (b *Body) Close() error {
	b.timer.Stop()
	err := b.body.Close()
	b.cancel(nil)
	return err
}
