package client

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
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
	first time.Time
	wait  time.Duration
}

// again waits before the next attempt and reports whether to make it: not
// once the budget is spent or the caller's context has ended.
func (r *retrier) again(ctx context.Context) bool {
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
