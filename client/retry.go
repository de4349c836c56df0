package client

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Calls that use stream offsets (Send and Recv on TCP, and the Attach
// stream) are retried when the answer was lost on the way rather than given
// by sockd: the offsets make the retry deliver and write every byte exactly
// once. A lost answer is
//   - UNAVAILABLE without sockd's ErrorInfo: the connection dropped, or
//     could not be made (sockd's own UNAVAILABLE, ECONNREFUSED or
//     SHUTTING_DOWN, is an answer);
//   - a stream reset on the way (INTERNAL without ErrorInfo, from the
//     HTTP/2 layer);
//   - this client's own per-attempt deadline (attemptContext), when the
//     caller's context is still live.
//
// Retries go on for retryBudget after the first failure, backing off.
var (
	retryBudget   = 20 * time.Second
	retryBackoff0 = 20 * time.Millisecond
	retryBackoffN = time.Second
	// attemptSlack is how much longer than its own timeout a call waits
	// for its answer before it counts the answer as lost.
	attemptSlack = 10 * time.Second
)

// lostAnswer reports whether err, from an attempt made with actx under the
// caller's ctx, means the answer was lost rather than given.
func lostAnswer(ctx, actx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var e *Error
	if !errors.As(FromError(err), &e) || e.fromSockd {
		return false
	}
	switch e.Code {
	case codes.Unavailable:
		return true
	case codes.Internal:
		return strings.Contains(e.Message, "RST_STREAM")
	case codes.DeadlineExceeded, codes.Canceled:
		return actx.Err() != nil // our attempt's deadline, not the caller's
	}
	return false
}

// finalError is the error a call that is given up reports: the caller's
// own cancellation or deadline if that is why (a transport error that came
// with it is a consequence), else err as an *Error.
func finalError(ctx context.Context, err error) error {
	err = FromError(err)
	var e *Error
	if ctx.Err() != nil && (!errors.As(err, &e) || !e.fromSockd) {
		return FromError(status.FromContextError(ctx.Err()).Err())
	}
	return err
}

// idempotent makes a call that may be made twice with the same effect
// (a read; setting an option, a timeout, a shutdown), again as long as its
// answer was lost on the way; retried tells call whether an attempt before
// this one may have been made.
func idempotent[T any](c *Client, ctx context.Context, call func(ctx context.Context, retried bool) (T, error)) (T, error) {
	r := c.retrier()
	for retried := false; ; retried = true {
		actx, cancel := context.WithCancel(ctx)
		v, err := call(actx, retried)
		lost := lostAnswer(ctx, actx, err)
		cancel()
		if !lost || !r.again(ctx) {
			return v, finalError(ctx, err)
		}
	}
}

// attemptContext bounds one attempt of a call whose own timeout is
// timeout (nil: none, the call may block as long as the caller lets it).
func attemptContext(ctx context.Context, timeout *time.Duration) (context.Context, context.CancelFunc) {
	if timeout == nil {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, *timeout+attemptSlack)
}

// retrier paces the retries of one call.
type retrier struct {
	reached *atomic.Bool // the client's: sockd has answered it at least once
	first   time.Time
	wait    time.Duration
}

func (c *Client) retrier() retrier { return retrier{reached: &c.reached} }

// again waits before the next attempt and reports whether to make it: not
// if sockd never answered this client (it is not there: say so at once),
// nor once the budget is spent or the caller's context has ended.
func (r *retrier) again(ctx context.Context) bool {
	if !r.reached.Load() {
		return false
	}
	if r.first.IsZero() {
		r.first, r.wait = time.Now(), retryBackoff0
	}
	if time.Since(r.first) > retryBudget {
		return false
	}
	t := time.NewTimer(r.wait)
	defer t.Stop()
	r.wait = min(2*r.wait, retryBackoffN)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
