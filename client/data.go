package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// The data calls. On a TCP socket of a sockd that keeps offsets, every Send
// and Recv carries the client's stream position (positions.go) and is
// retried when its answer is lost (retry.go): no byte is lost or doubled,
// whatever happens to the call on the way. Sizes follow the server's limits
// (serverinfo.go): a Send larger than a call may carry is cut into calls, a
// Recv asks for no more than one may return.

// RecvOptions tune Recv and RecvFrom.
type RecvOptions struct {
	MaxBytes int32          // required
	Timeout  *time.Duration // nil: the socket's
	Peek     bool
	WaitAll  bool
}

// Send sends data; with all, every byte (sendall), in as many calls as the
// server's per-call limit needs. It returns the count sent, also with an
// error. On TCP the count is exact even when the call was cancelled or its
// answer lost: sending data[n:] again continues the stream where it stands.
// (If sockd could not be asked after a cancellation, n may be short, and
// the bytes beyond it that did go out are recognised and not written again
// when the same bytes are sent again.)
func (c *Client) Send(ctx context.Context, id string, data []byte, all bool, timeout *time.Duration) (int, error) {
	l := c.limits(ctx)
	if !l.offsets() {
		return c.sendPlain(ctx, id, data, all, timeout, l)
	}
	pos, err := c.position(ctx, id)
	if err != nil {
		return 0, err
	}
	if !pos.stream {
		return c.sendPlain(ctx, id, data, all, timeout, l)
	}
	pos.sendMu.Lock()
	defer pos.sendMu.Unlock()
	taken := 0
	for first := true; first || taken < len(data); first = false {
		chunk := data[taken:min(len(data), taken+l.maxCall)]
		n, err := c.sendAt(ctx, pos, chunk, all, timeout, l)
		taken += n
		if err != nil || !all {
			return taken, err
		}
	}
	return taken, nil
}

// sendAt sends one call's worth at the client's write position and moves
// the position by what sockd took. The caller holds pos.sendMu.
func (c *Client) sendAt(ctx context.Context, pos *streamPos, chunk []byte, all bool, timeout *time.Duration, l limits) (int, error) {
	off := pos.send
	req := &sockdv1.SendRequest{Id: pos.id, Payload: &sockdv1.SendRequest_Data{Data: chunk}, All: all, Timeout: durationOrNil(timeout), Offset: &off}
	r := c.retrier()
	for {
		actx, cancel := attemptContext(ctx, timeout)
		resp, err := c.api.Send(actx, req, l.callOptions()...)
		lost := lostAnswer(ctx, actx, err)
		cancel()
		switch {
		case err == nil:
			return pos.advanceSend(off, resp.GetOffset(), len(chunk)), nil
		case lost && r.again(ctx):
			continue
		}
		err = finalError(ctx, err)
		var e *Error
		if errors.As(err, &e) && e.fromSockd {
			// sockd answered: its count of what it took is exact.
			if errors.Is(err, ErrInvalidOffset) || errors.Is(err, ErrNotFound) {
				c.forget(pos.id)
				return 0, err
			}
			n := min(BytesSent(err), len(chunk))
			pos.send = off + int64(n)
			return n, err
		}
		// The caller gave up, or sockd could not be reached: how much went
		// out is unknown. Ask, with a Send of nothing at the same offset,
		// which waits for any write still running on the socket.
		return c.probeSend(ctx, pos, off, len(chunk), l), err
	}
}

// probeTimeout bounds the question a cancelled Send asks afterwards.
var probeTimeout = 5 * time.Second

// probeSend learns how much of a Send whose answer never came sockd did
// write; 0 if sockd cannot say now.
func (c *Client) probeSend(ctx context.Context, pos *streamPos, off int64, size int, l limits) int {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	resp, err := c.api.Send(pctx, &sockdv1.SendRequest{Id: pos.id, Payload: &sockdv1.SendRequest_Data{}, All: true, Offset: &off}, l.callOptions()...)
	if err != nil {
		return 0
	}
	return pos.advanceSend(off, resp.GetOffset(), size)
}

// advanceSend moves the write position to where sockd says the stream
// stands after a call that started at off, and returns how much of the
// call's size that covers.
func (p *streamPos) advanceSend(off, now int64, size int) int {
	if now < off {
		now = off // cannot happen: sockd's count only grows
	}
	p.send = now
	return int(min(now-off, int64(size)))
}

// sendPlain is Send without offsets: UDP (one datagram), or a sockd that
// keeps none.
func (c *Client) sendPlain(ctx context.Context, id string, data []byte, all bool, timeout *time.Duration, l limits) (int, error) {
	taken := 0
	for first := true; first || taken < len(data); first = false {
		chunk := data[taken:]
		if all {
			chunk = chunk[:min(len(chunk), l.maxCall)]
		}
		resp, err := c.api.Send(ctx, &sockdv1.SendRequest{Id: id, Payload: &sockdv1.SendRequest_Data{Data: chunk}, All: all, Timeout: durationOrNil(timeout)}, l.callOptions()...)
		if err != nil {
			err = FromError(err)
			return taken + BytesSent(err), err
		}
		taken += int(resp.GetBytesSent())
		if !all {
			break
		}
	}
	return taken, nil
}

// Recv receives up to MaxBytes; eof reports that the peer closed. On TCP
// (with a sockd that keeps offsets) it asks for no more than one call may
// return (the server's per-call limit and its retain_bytes), and WaitAll
// makes as many calls as MaxBytes needs; otherwise MaxBytes goes as given,
// and over the server's limit it is LIMIT_EXCEEDED.
// Bytes of a call that was cancelled or whose answer was lost are not lost:
// the next Recv returns them.
func (c *Client) Recv(ctx context.Context, id string, o RecvOptions) (data []byte, eof bool, err error) {
	l := c.limits(ctx)
	if o.Peek || !l.offsets() {
		return c.recvPlain(ctx, id, o, l)
	}
	pos, err := c.position(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if !pos.stream {
		return c.recvPlain(ctx, id, o, l)
	}
	pos.recvMu.Lock()
	defer pos.recvMu.Unlock()
	most := int32(min(int64(l.maxCall), l.retain))
	if !o.WaitAll || o.MaxBytes <= most {
		o.MaxBytes = min(o.MaxBytes, most)
		return c.recvAt(ctx, pos, o, l)
	}
	// wait_all for more than one call returns: calls until enough came,
	// the peer closed or the time is up (then what came is the answer).
	want := int(o.MaxBytes)
	var deadline time.Time
	if o.Timeout != nil {
		deadline = time.Now().Add(*o.Timeout)
	}
	for len(data) < want {
		step := o
		step.MaxBytes = int32(min(want-len(data), int(most)))
		if !deadline.IsZero() {
			left := max(time.Until(deadline), 0)
			step.Timeout = &left
		}
		got, end, err := c.recvAt(ctx, pos, step, l)
		data = append(data, got...)
		switch {
		case err != nil && len(data) > 0 && errors.Is(err, ErrTimeout):
			return data, false, nil
		case err != nil:
			return data, false, err
		case end:
			return data, len(data) == 0, nil
		}
	}
	return data, false, nil
}

// recvAt receives at the client's read position and moves it past what it
// returns. The caller holds pos.recvMu.
func (c *Client) recvAt(ctx context.Context, pos *streamPos, o RecvOptions, l limits) ([]byte, bool, error) {
	r := c.retrier()
	for {
		off := pos.recv
		req := &sockdv1.RecvRequest{Id: pos.id, MaxBytes: o.MaxBytes, Timeout: durationOrNil(o.Timeout), WaitAll: o.WaitAll, FromOffset: &off}
		actx, cancel := attemptContext(ctx, o.Timeout)
		resp, err := c.api.Recv(actx, req, l.callOptions()...)
		lost := lostAnswer(ctx, actx, err)
		cancel()
		switch {
		case err == nil:
			return pos.advanceRecv(resp)
		case lost && r.again(ctx):
			continue
		}
		err = finalError(ctx, err)
		if errors.Is(err, ErrOffsetUnavailable) || errors.Is(err, ErrInvalidOffset) || errors.Is(err, ErrNotFound) {
			c.forget(pos.id)
		}
		// The position stays: bytes sockd took for this call are returned
		// by the next.
		return nil, false, err
	}
}

// advanceRecv takes an answer at the read position: bytes before the
// position (an answer repeated) are dropped, a gap is an error.
func (p *streamPos) advanceRecv(resp *sockdv1.RecvResponse) ([]byte, bool, error) {
	data, at := resp.GetData(), resp.GetOffset()
	if resp.GetEof() {
		if at > p.recv {
			return nil, false, fmt.Errorf("recv %s: sockd reports the end of the stream at offset %d, but this client has only %d bytes of it", p.id, at, p.recv)
		}
		return nil, true, nil
	}
	if at > p.recv {
		return nil, false, fmt.Errorf("recv %s: sockd answered from offset %d, but this client stands at %d: bytes between were lost", p.id, at, p.recv)
	}
	skip := min(p.recv-at, int64(len(data)))
	data = data[skip:]
	p.recv += int64(len(data))
	return data, false, nil
}

// recvPlain is Recv without offsets: UDP, peek, or a sockd that keeps none.
// MaxBytes goes as given: over the server's limit it is the server's
// LIMIT_EXCEEDED.
func (c *Client) recvPlain(ctx context.Context, id string, o RecvOptions, l limits) ([]byte, bool, error) {
	resp, err := c.api.Recv(ctx, &sockdv1.RecvRequest{Id: id, MaxBytes: o.MaxBytes, Timeout: durationOrNil(o.Timeout), Peek: o.Peek, WaitAll: o.WaitAll}, l.callOptions()...)
	if err != nil {
		return nil, false, FromError(err)
	}
	return resp.GetData(), resp.GetEof(), nil
}

// SendTo sends one datagram to an address.
func (c *Client) SendTo(ctx context.Context, id, address string, data []byte, timeout *time.Duration) (int, error) {
	l := c.limits(ctx)
	resp, err := c.api.SendTo(ctx, &sockdv1.SendToRequest{Id: id, Address: address, Payload: &sockdv1.SendToRequest_Data{Data: data}, Timeout: durationOrNil(timeout)}, l.callOptions()...)
	if err != nil {
		return 0, FromError(err)
	}
	return int(resp.GetBytesSent()), nil
}

// RecvFrom receives one datagram and its source address.
func (c *Client) RecvFrom(ctx context.Context, id string, o RecvOptions) (data []byte, from string, truncated bool, err error) {
	l := c.limits(ctx)
	resp, err := c.api.RecvFrom(ctx, &sockdv1.RecvFromRequest{Id: id, MaxBytes: o.MaxBytes, Timeout: durationOrNil(o.Timeout), Peek: o.Peek}, l.callOptions()...)
	if err != nil {
		return nil, "", false, FromError(err)
	}
	return resp.GetData(), resp.GetAddress(), resp.GetTruncated(), nil
}
