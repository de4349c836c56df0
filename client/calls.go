package client

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// CreateOptions describe a new socket and the set-up steps to run in the
// same call (options, then bind, then listen, then connect).
type CreateOptions struct {
	UDP            bool              // UDP instead of TCP
	IPv6           bool              // AF_INET6 instead of AF_INET
	Name           string            // optional, unique per owner
	Labels         map[string]string // optional
	Timeout        *time.Duration    // the socket's default timeout (nil: blocking)
	Options        map[string]int64  // socket options set first
	Bind           string            // address to bind, if any
	Listen         bool              // listen after binding
	Backlog        *int32            // listen backlog (implies Listen); nil: 128
	Connect        string            // address to connect to, if any
	ConnectTimeout *time.Duration    // limit for the connect step
	IdleTimeout    *time.Duration    // close when idle this long (nil: the daemon's default; 0: never)
	LeaseID        string            // close when this lease lapses
}

// Create makes a socket.
func (c *Client) Create(ctx context.Context, o CreateOptions) (*sockdv1.Socket, error) {
	req := &sockdv1.CreateSocketRequest{
		Name: o.Name, Labels: o.Labels, Timeout: durationOrNil(o.Timeout),
		BindAddress: o.Bind, Listen: o.Listen, Backlog: o.Backlog,
		ConnectAddress: o.Connect, ConnectTimeout: durationOrNil(o.ConnectTimeout),
		IdleTimeout: durationOrNil(o.IdleTimeout), LeaseId: o.LeaseID,
	}
	if o.UDP {
		req.Protocol = sockdv1.Protocol_PROTOCOL_UDP
	}
	if o.IPv6 {
		req.Family = sockdv1.Family_FAMILY_IPV6
	}
	for name, v := range o.Options {
		req.Options = append(req.Options, &sockdv1.SocketOption{Option: name, Value: v})
	}
	s, err := c.api.CreateSocket(ctx, req)
	if err != nil {
		return nil, FromError(err)
	}
	if o.Connect != "" && !o.UDP {
		c.learn(s) // a connection, to send and receive on: no GetSocket first
	}
	return s, nil
}

// The calls below that may be made twice with the same effect are made
// again when their answer is lost on the way (retry.go); the others are
// not, for a second Create, Bind, Accept or Connect does something else.

// Get returns a socket by id or name.
func (c *Client) Get(ctx context.Context, id string) (*sockdv1.Socket, error) {
	s, err := idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.Socket, error) {
		return c.api.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: id})
	})
	if err != nil {
		return nil, err
	}
	c.learn(s)
	return s, nil
}

// ListOptions filter List.
type ListOptions struct {
	LabelSelector string // "k=v,k2=v2"
	State         sockdv1.State
	Protocol      sockdv1.Protocol
}

// List returns every matching socket, following the pages.
func (c *Client) List(ctx context.Context, o ListOptions) ([]*sockdv1.Socket, error) {
	var all []*sockdv1.Socket
	token := ""
	for {
		resp, err := idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.ListSocketsResponse, error) {
			return c.api.ListSockets(ctx, &sockdv1.ListSocketsRequest{
				LabelSelector: o.LabelSelector, State: o.State, Protocol: o.Protocol, PageSize: 1000, PageToken: token,
			})
		})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetSockets()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

// CloseSocket closes a remote socket and returns its last snapshot. (When
// an answer was lost and the close is made again, sockd no longer knows the
// socket: the snapshot then holds only its id.)
func (c *Client) CloseSocket(ctx context.Context, id string) (*sockdv1.Socket, error) {
	s, err := idempotent(c, ctx, func(ctx context.Context, retried bool) (*sockdv1.Socket, error) {
		s, err := c.api.CloseSocket(ctx, &sockdv1.CloseSocketRequest{Id: id})
		if retried && status.Code(err) == codes.NotFound {
			return &sockdv1.Socket{Id: id, State: sockdv1.State_STATE_CLOSED}, nil // the lost answer's close did it
		}
		return s, err
	})
	if err == nil || errors.Is(err, ErrNotFound) {
		c.forget(id)
	}
	return s, err
}

// Bind binds a socket to a local address.
func (c *Client) Bind(ctx context.Context, id, address string) (*sockdv1.Socket, error) {
	s, err := c.api.Bind(ctx, &sockdv1.BindRequest{Id: id, Address: address})
	return s, FromError(err)
}

// Listen makes a TCP socket listen; backlog nil means 128.
func (c *Client) Listen(ctx context.Context, id string, backlog *int32) (*sockdv1.Socket, error) {
	s, err := c.api.Listen(ctx, &sockdv1.ListenRequest{Id: id, Backlog: backlog})
	return s, FromError(err)
}

// Accept waits for a connection and returns the new socket; name, if not
// empty, names it.
func (c *Client) Accept(ctx context.Context, id string, timeout *time.Duration, name string) (*sockdv1.Socket, error) {
	s, err := c.api.Accept(ctx, &sockdv1.AcceptRequest{Id: id, Timeout: durationOrNil(timeout), Name: name})
	if err != nil {
		return nil, FromError(err)
	}
	c.learn(s)
	return s, nil
}

// Connect connects a socket.
func (c *Client) Connect(ctx context.Context, id, address string, timeout *time.Duration) (*sockdv1.Socket, error) {
	s, err := c.api.Connect(ctx, &sockdv1.ConnectRequest{Id: id, Address: address, Timeout: durationOrNil(timeout)})
	if err != nil {
		return nil, FromError(err)
	}
	c.learn(s)
	return s, nil
}

// Shutdown shuts down directions of a connection.
func (c *Client) Shutdown(ctx context.Context, id string, how sockdv1.ShutdownHow) (*sockdv1.Socket, error) {
	return idempotent(c, ctx, func(ctx context.Context, retried bool) (*sockdv1.Socket, error) {
		s, err := c.api.Shutdown(ctx, &sockdv1.ShutdownRequest{Id: id, How: how})
		if retried && errors.Is(FromError(err), unix.ENOTCONN) {
			return c.api.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: id}) // the lost answer's shutdown did it
		}
		return s, err
	})
}

// SetOption sets an option and returns it as sockd set it: its name as
// sockd spells it (a unique suffix such as "nodelay" becomes TCP_NODELAY)
// and the value the kernel reports.
func (c *Client) SetOption(ctx context.Context, id, option string, value int64) (*sockdv1.SocketOption, error) {
	return idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.SocketOption, error) {
		return c.api.SetOption(ctx, &sockdv1.SetOptionRequest{Id: id, Option: option, Value: value})
	})
}

// GetOption reads an option from the kernel.
func (c *Client) GetOption(ctx context.Context, id, option string) (*sockdv1.SocketOption, error) {
	return idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.SocketOption, error) {
		return c.api.GetOption(ctx, &sockdv1.GetOptionRequest{Id: id, Option: option})
	})
}

// SetTimeout sets the socket's default timeout (nil: blocking, 0:
// non-blocking).
func (c *Client) SetTimeout(ctx context.Context, id string, timeout *time.Duration) (*sockdv1.Socket, error) {
	return idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.Socket, error) {
		return c.api.SetTimeout(ctx, &sockdv1.SetTimeoutRequest{Id: id, Timeout: durationOrNil(timeout)})
	})
}

// Watch streams events until ctx ends or the stream fails; range over it.
func (c *Client) Watch(ctx context.Context, req *sockdv1.WatchEventsRequest) iter.Seq2[*sockdv1.Event, error] {
	return func(yield func(*sockdv1.Event, error) bool) {
		stream, err := c.api.WatchEvents(ctx, req)
		if err != nil {
			yield(nil, FromError(err))
			return
		}
		for {
			ev, err := stream.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, FromError(err))
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}
