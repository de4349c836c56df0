package service

import (
	"strconv"
	"sync"

	"google.golang.org/grpc/codes"
)

// DefaultMaxStreamsPerPrincipal bounds the streams (Attach, WatchEvents,
// ReadCapture, KeepAliveLease) one principal holds open at once, over every
// connection, REST's included: each holds buffers (an Attach into a stalled
// peer up to its flow-control window), so their number is what bounds the
// memory one principal can pin.
const DefaultMaxStreamsPerPrincipal = 64

// streamLimiter counts open streams per principal.
type streamLimiter struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func newStreamLimiter(max int) *streamLimiter {
	if max <= 0 {
		return nil
	}
	return &streamLimiter{max: max, open: map[string]int{}}
}

// acquire takes a stream for the principal, or says LIMIT_EXCEEDED; the
// returned release must be called when the stream ends.
func (l *streamLimiter) acquire(principal string) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[principal] >= l.max {
		return nil, withInfo(codes.ResourceExhausted,
			sprintf("%q has %d streams open, the most allowed (--max-streams-per-principal); close one first", principal, l.max),
			ReasonLimitExceeded, map[string]string{"limit": "streams per principal", "max": strconv.Itoa(l.max), "principal": principal})
	}
	l.open[principal]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.open[principal]--; l.open[principal] == 0 {
				delete(l.open, principal)
			}
		})
	}, nil
}
