package client

import (
	"context"
	"time"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// unaryLoop carries on sending after sockd ended the stream because the
// peer closed: receiving is over, but the caller may still write (the peer
// half-closed and goes on reading). What the stream had not got written,
// and what comes after, goes out in Send calls at its offsets; CloseWrite,
// Close and Detach are their calls too.
func (s *session) unaryLoop() error {
	for {
		s.mu.Lock()
		var a step
		for {
			if s.aborted {
				s.mu.Unlock()
				return nil
			}
			if a = s.nextUnaryLocked(); a.kind != stepWait {
				break
			}
			s.mu.Unlock()
			select {
			case <-s.wake:
			case <-s.abortCtx.Done():
			}
			s.mu.Lock()
		}
		off := s.q.written
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(s.abortCtx, 60*time.Second)
		var err error
		switch a.kind {
		case stepData:
			pos := &streamPos{id: s.id, stream: true, send: off}
			_, err = s.c.sendAt(ctx, pos, a.data, true, nil, s.lim)
			s.mu.Lock()
			s.q.sent = max(s.q.sent, pos.send)
			s.q.trim(pos.send)
			s.notifyLocked()
			s.mu.Unlock()
		case stepItem:
			_, err = s.c.sendPlain(ctx, s.id, a.item.data, true, nil, s.lim)
			if err == nil {
				s.mu.Lock()
				s.q.popFront()
				s.notifyLocked()
				s.mu.Unlock()
			}
		case stepCloseWrite:
			if _, err = s.c.Shutdown(ctx, s.id, sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE); err == nil {
				s.mu.Lock()
				s.writeShut = true
				s.notifyLocked()
				s.mu.Unlock()
			}
		case stepClose:
			s.mu.Lock()
			s.closeSent = true
			s.mu.Unlock()
			_, err = s.c.CloseSocket(ctx, s.id)
			cancel()
			return err
		case stepDetach, stepDone:
			cancel()
			return nil
		}
		cancel()
		if err != nil {
			return err
		}
	}
}

// nextUnaryLocked is the next step of unaryLoop. The caller holds mu.
func (s *session) nextUnaryLocked() step {
	if s.offs {
		if s.q.written < s.q.end {
			return step{kind: stepData, data: s.q.at(s.q.written)}
		}
	} else if len(s.q.items) > 0 {
		return step{kind: stepItem, item: s.q.items[0]}
	}
	switch {
	case s.wantClose:
		return step{kind: stepClose}
	case s.wantCloseWrite && !s.writeShut:
		return step{kind: stepCloseWrite}
	case s.wantDetach, s.writeShut:
		return step{kind: stepDone}
	}
	return step{kind: stepWait}
}
