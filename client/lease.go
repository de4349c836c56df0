package client

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// CreateLease makes a lease: sockets created with its id (CreateOptions.
// LeaseID) close when it lapses, ttl after its last renewal.
func (c *Client) CreateLease(ctx context.Context, ttl time.Duration) (*sockdv1.Lease, error) {
	l, err := c.api.CreateLease(ctx, &sockdv1.CreateLeaseRequest{Ttl: durationpb.New(ttl)})
	return l, FromError(err)
}

// RevokeLease ends a lease now, closing its sockets.
func (c *Client) RevokeLease(ctx context.Context, id string) (*sockdv1.Lease, error) {
	l, err := c.api.RevokeLease(ctx, &sockdv1.RevokeLeaseRequest{Id: id})
	return l, FromError(err)
}

// GetLease returns a lease: its TTL, expiry and socket count.
func (c *Client) GetLease(ctx context.Context, id string) (*sockdv1.Lease, error) {
	return idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.Lease, error) {
		return c.api.GetLease(ctx, &sockdv1.GetLeaseRequest{Id: id})
	})
}

// ListLeases returns every lease of the caller, following the pages.
func (c *Client) ListLeases(ctx context.Context) ([]*sockdv1.Lease, error) {
	var all []*sockdv1.Lease
	for token := ""; ; {
		resp, err := idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.ListLeasesResponse, error) {
			return c.api.ListLeases(ctx, &sockdv1.ListLeasesRequest{PageSize: 1000, PageToken: token})
		})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetLeases()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

// Lease is a lease kept alive by this process: if the process dies, its
// keep-alive stream breaks and the lease lapses after its TTL, closing the
// sockets created under it.
type Lease struct {
	c      *Client
	lease  *sockdv1.Lease
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the keep-alive stopped; read after done
	once   sync.Once
}

// NewLease creates a lease and keeps it alive until Close.
func (c *Client) NewLease(ctx context.Context, ttl time.Duration) (*Lease, error) {
	l, err := c.CreateLease(ctx, ttl)
	if err != nil {
		return nil, err
	}
	return c.KeepLease(ctx, l.GetId())
}

// KeepLease keeps an existing lease alive until Close (or until the stream
// fails: see Done and Err).
func (c *Client) KeepLease(ctx context.Context, id string) (*Lease, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := c.api.KeepAliveLease(sctx, &sockdv1.KeepAliveLeaseRequest{Id: id})
	if err != nil {
		cancel()
		return nil, FromError(err)
	}
	first, err := stream.Recv() // the lease is held once the first answer came
	if err != nil {
		cancel()
		return nil, FromError(err)
	}
	l := &Lease{c: c, lease: first, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			if _, err := stream.Recv(); err != nil {
				if err != io.EOF && sctx.Err() == nil {
					l.err = FromError(err)
				}
				return
			}
		}
	}()
	return l, nil
}

// ID is the lease's id, for CreateOptions.LeaseID.
func (l *Lease) ID() string { return l.lease.GetId() }

// Done is closed when the keep-alive stops.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err says why the keep-alive stopped before Close (nil otherwise).
func (l *Lease) Err() error {
	select {
	case <-l.done:
		return l.err
	default:
		return nil
	}
}

// Release stops keeping the lease alive without ending it: it lapses after
// its TTL unless renewed by activity on its sockets.
func (l *Lease) Release() {
	l.cancel()
	<-l.done
}

// Close ends the lease now, closing its sockets.
func (l *Lease) Close() error {
	var err error
	l.once.Do(func() {
		l.Release()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = l.c.RevokeLease(ctx, l.ID())
		if errors.Is(err, ErrNotFound) {
			err = nil // lapsed or revoked already
		}
	})
	return err
}
