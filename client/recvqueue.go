package client

import (
	"sync"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// recvQueue holds what a session's pump received until readers take it.
//
// It is bounded by what sockd sends, not by the pump: on TCP with offsets
// sockd delivers at most retain_bytes that the reader has not acknowledged,
// and the pump must never stop reading the stream, for behind the data come
// the written reports that let the reader's own writes go on (a reader that
// writes what it reads — an echo — would wait for them forever). Without
// offsets, and on UDP, the pump waits once limit messages are queued, which
// holds sockd back through gRPC's flow control.
type recvQueue struct {
	mu     sync.Mutex
	items  []*sockdv1.AttachResponse
	limit  int // 0: no limit (TCP with offsets)
	ended  bool
	err    error         // why receiving ended (io.EOF: the peer closed)
	ready  chan struct{} // a signal for the reader: items, or the end
	room   chan struct{} // a signal for the pump: room
	closed bool
}

func newRecvQueue(limit int) *recvQueue {
	return &recvQueue{limit: limit, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// full reports whether the pump must wait for room.
func (q *recvQueue) full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.limit > 0 && len(q.items) >= q.limit
}

// put queues a message (dropped once receiving has ended).
func (q *recvQueue) put(m *sockdv1.AttachResponse) {
	q.mu.Lock()
	if !q.ended {
		q.items = append(q.items, m)
	}
	q.mu.Unlock()
	signal(q.ready)
}

// take returns the next message, or ok false when there is none now; done
// then says receiving has ended (with err).
func (q *recvQueue) take() (m *sockdv1.AttachResponse, ok, done bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 {
		m = q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		signal(q.room)
		return m, true, false, nil
	}
	return nil, false, q.ended, q.err
}

// empty reports whether nothing is queued.
func (q *recvQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0
}

// end ends receiving: readers get err once they have taken what is queued.
// It reports whether this call ended it.
func (q *recvQueue) end(err error) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ended {
		return false
	}
	q.ended, q.err = true, err
	signal(q.ready)
	return true
}

// hasEnded reports whether receiving has ended.
func (q *recvQueue) hasEnded() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ended
}
