package codec

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// pool is a buffer pool of power-of-two size classes from 512 B to 8 MiB.
// Unlike gRPC's default pool it does not zero what it hands out: the codec
// overwrites every byte it uses. Larger buffers are not pooled.
type pool struct {
	classes [maxClass - minClass + 1]sync.Pool
}

const (
	minClass = 9  // 512 B
	maxClass = 23 // 8 MiB
)

var buffers = &pool{}

func class(n int) int {
	c := bits.Len(uint(n - 1))
	return max(c, minClass)
}

// Get returns a buffer of length n.
func (p *pool) Get(n int) *[]byte {
	c := class(n)
	if c > maxClass {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.classes[c-minClass].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// Put returns a buffer that Get handed out.
func (p *pool) Put(b *[]byte) {
	c := bits.Len(uint(cap(*b))) - 1
	if c < minClass || c > maxClass || cap(*b) != 1<<c {
		return
	}
	p.classes[c-minClass].Put(b)
}

// BufferPool is the codec's pool as a mem.BufferPool, for gRPC's transport
// (experimental.BufferPool, experimental.WithBufferPool): the transport reads
// every frame fully into the buffers it gets, so they need no zeroing, which
// gRPC's default pool spends much of a fast stream's time on.
func BufferPool() mem.BufferPool { return buffers }
