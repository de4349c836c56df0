package client

import (
	"math/bits"
	"slices"
	"sync"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// outItem is one thing a session has to send: bytes of the stream (TCP, or
// one datagram to a connected UDP socket's peer) or a datagram to an
// address.
type outItem struct {
	off    int64  // TCP with offsets: the stream offset of data[0]
	data   []byte // owned by the queue
	pooled bool   // data came from chunkPool
	to     string // a datagram to this address (UDP)
}

// sendQueue is what a session has to send and, on TCP with offsets, what it
// sent that sockd has not yet said is written: the bytes a resumed stream
// sends again. It is bounded (window bytes) and guarded by the session's
// mutex.
type sendQueue struct {
	items []outItem
	bytes int   // data bytes held
	end   int64 // TCP: the stream offset after the last byte queued
	// written: TCP with offsets, sockd has written every byte before it
	// (AttachResponse.written).
	written int64
	// sent: TCP with offsets, the running stream has sent every byte
	// before it. Items are dropped once both written and sent cover them:
	// the stream lends them to gRPC (codec.LentData), and bytes sockd has
	// written have left gRPC's hands; and a stream that resumes sends from
	// where it said it would (sockd skips what it already wrote, counting
	// from there).
	sent int64
}

func (q *sendQueue) push(it outItem) {
	q.items = append(q.items, it)
	q.bytes += len(it.data)
	if it.to == "" {
		q.end += int64(len(it.data))
	}
}

// disown keeps the buffers held now out of the pool when they are dropped
// (a stream that may still read them has ended).
func (q *sendQueue) disown() {
	for i := range q.items {
		q.items[i].pooled = false
	}
}

// popFront drops the first item (sent, on a stream without offsets).
func (q *sendQueue) popFront() {
	it := q.items[0]
	q.items[0] = outItem{}
	q.items = q.items[1:]
	q.bytes -= len(it.data)
	recycle(it)
}

// trim records that sockd has written everything before off and drops what
// is both written and sent.
func (q *sendQueue) trim(off int64) {
	q.written = max(q.written, off)
	done := min(q.written, q.sent)
	for len(q.items) > 0 && q.items[0].off+int64(len(q.items[0].data)) <= done {
		q.popFront()
	}
}

// at returns the queued bytes from stream offset off to the end of the item
// that holds it, or nil when off is at the end.
func (q *sendQueue) at(off int64) []byte {
	// Items are in offset order: the first that ends after off holds it.
	i, _ := slices.BinarySearchFunc(q.items, off, func(it outItem, off int64) int {
		if it.off+int64(len(it.data)) <= off {
			return -1
		}
		return 1
	})
	if i == len(q.items) || off < q.items[i].off {
		return nil
	}
	it := q.items[i]
	return it.data[off-it.off:]
}

// chunkSize is the most bytes one Attach message carries from Write (or the
// server's per-call limit, if smaller); readChunk the most from ReadFrom,
// which reads a stream (a pipe, a file) straight into the messages: fewer,
// larger messages cost less at both ends.
const (
	chunkSize = 64 << 10
	readChunk = 256 << 10
)

// chunkPools recycle the buffers of chunks, by power-of-two size classes
// from 512 B to readChunk: a fast stream goes through them by the tens of
// thousands a second.
var chunkPools [chunkClasses]sync.Pool

const (
	minChunkClass = 9  // 512 B
	maxChunkClass = 18 // readChunk
	chunkClasses  = maxChunkClass - minChunkClass + 1
)

// newChunk is a buffer for n bytes, pooled if n is at most readChunk.
func newChunk(n int) ([]byte, bool) {
	if n > readChunk {
		return make([]byte, n), false
	}
	c := max(bits.Len(uint(n-1)), minChunkClass) - minChunkClass
	if b, ok := chunkPools[c].Get().(*[]byte); ok {
		return (*b)[:n], true
	}
	return make([]byte, n, 1<<(c+minChunkClass)), true
}

func recycle(it outItem) {
	if !it.pooled {
		return
	}
	b := it.data[:cap(it.data)]
	if c := bits.Len(uint(cap(b))) - 1 - minChunkClass; c >= 0 && c < chunkClasses && cap(b) == 1<<(c+minChunkClass) {
		chunkPools[c].Put(&b)
	}
}

// datagramMsg is the Attach message for a UDP item.
func datagramMsg(it outItem) *sockdv1.AttachRequest {
	if it.to == "" {
		return &sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: it.data}}
	}
	return &sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Datagram{Datagram: &sockdv1.Datagram{Data: it.data, Address: it.to}}}
}
