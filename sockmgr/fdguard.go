package sockmgr

import (
	"sync/atomic"
)

// fdGuard lets calls use a socket's bare descriptor while Close waits for
// them to finish, without Close ever making them wait: a call either gets a
// use of a descriptor that stays open until it is done, or learns that the
// socket is closed. It is what os.File's internal fdMutex does for
// descriptors in Go's poller; sockd's descriptors join the poller only when
// a call must wait (see Socket.poller), so until then this guards them.
//
// Calls holding a use must not wait on anything Close does; they may take
// Socket.mu (Close does not hold it while it waits for them).
type fdGuard struct {
	state   atomic.Int64  // uses in progress, plus fdClosing once closing
	drained chan struct{} // made by close before it sets fdClosing, closed by the last use
}

const fdClosing = int64(1) << 62

// acquire takes a use; it reports false once the descriptor is closing.
func (g *fdGuard) acquire() bool {
	for {
		v := g.state.Load()
		if v&fdClosing != 0 {
			return false
		}
		if g.state.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// release ends a use; the last one after close began wakes it.
func (g *fdGuard) release() {
	if g.state.Add(-1) == fdClosing {
		close(g.drained)
	}
}

// close marks the descriptor closing and waits until no use is left. It is
// called once, by the one goroutine that closes the socket.
func (g *fdGuard) close() {
	g.drained = make(chan struct{})
	if g.state.Add(fdClosing) != fdClosing {
		<-g.drained
	}
}
