package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// Proxies, relays and fault targets are named as sockets are: by id, by
// name, or by a unique prefix of an id.

// byPrefix is the one item whose id starts with ref: none is notFound, more
// than one an ambiguous prefix (a usage error that lists them).
func byPrefix[T any](ref string, all []T, id func(T) string, notFound error) (T, error) {
	var matches []T
	for _, x := range all {
		if strings.HasPrefix(id(x), ref) {
			matches = append(matches, x)
		}
	}
	var zero T
	switch len(matches) {
	case 0:
		return zero, notFound
	case 1:
		return matches[0], nil
	}
	ids := make([]string, len(matches))
	for i, m := range matches {
		ids[i] = id(m)
	}
	slices.Sort(ids)
	return zero, usageError{errAmbiguous{prefix: ref, candidates: ids}}
}

// resolveProxy finds the proxy ref names.
func (g *globals) resolveProxy(ctx context.Context, c *client.Client, ref string) (*sockdv1.Proxy, error) {
	p, err := c.GetProxy(ctx, ref)
	if !errors.Is(err, client.ErrProxyNotFound) {
		return p, err
	}
	all, lerr := c.ListProxies(ctx)
	if lerr != nil {
		return nil, err
	}
	return byPrefix(ref, all, (*sockdv1.Proxy).GetId, err)
}

// resolveRelay finds the relay ref names.
func (g *globals) resolveRelay(ctx context.Context, c *client.Client, ref string) (*sockdv1.Relay, error) {
	r, err := c.GetRelay(ctx, ref)
	if !errors.Is(err, client.ErrRelayNotFound) {
		return r, err
	}
	all, lerr := c.ListRelays(ctx, "")
	if lerr != nil {
		return nil, err
	}
	return byPrefix(ref, all, (*sockdv1.Relay).GetId, err)
}

// faultTarget is what a fault command's TARGET names: a proxy or a relay.
type faultTarget struct {
	proxy *sockdv1.Proxy // one of the two
	relay *sockdv1.Relay
}

func (t faultTarget) target() client.FaultTarget {
	if t.proxy != nil {
		return client.OnProxy(t.proxy.GetId())
	}
	return client.OnRelay(t.relay.GetId())
}

// describe is "proxy ID" or "relay ID".
func (t faultTarget) String() string {
	if t.proxy != nil {
		return "proxy " + t.proxy.GetId()
	}
	return "relay " + t.relay.GetId()
}

// udp reports whether the target's connections are UDP (a relay's are
// whatever its sockets are: TCP unless its proxy is UDP).
func (t faultTarget) udp() bool {
	return t.proxy != nil && t.proxy.GetProtocol() == sockdv1.Protocol_PROTOCOL_UDP
}

// resolveTarget finds the proxy or relay ref names: an id or a name of
// either, else a unique prefix of the ids of both.
func (g *globals) resolveTarget(ctx context.Context, c *client.Client, ref string) (faultTarget, error) {
	p, err := c.GetProxy(ctx, ref)
	if err == nil {
		return faultTarget{proxy: p}, nil
	}
	if !errors.Is(err, client.ErrProxyNotFound) {
		return faultTarget{}, err
	}
	r, err := c.GetRelay(ctx, ref)
	if err == nil {
		return faultTarget{relay: r}, nil
	}
	if !errors.Is(err, client.ErrRelayNotFound) {
		return faultTarget{}, err
	}
	proxies, err := c.ListProxies(ctx)
	if err != nil {
		return faultTarget{}, err
	}
	relays, err := c.ListRelays(ctx, "")
	if err != nil {
		return faultTarget{}, err
	}
	var all []faultTarget
	for _, p := range proxies {
		all = append(all, faultTarget{proxy: p})
	}
	for _, r := range relays {
		all = append(all, faultTarget{relay: r})
	}
	id := func(t faultTarget) string {
		if t.proxy != nil {
			return t.proxy.GetId()
		}
		return t.relay.GetId()
	}
	return byPrefix(ref, all, id, notFoundf("no proxy or relay %q (by id, name or id prefix)", ref))
}

// notFoundf is a NOT_FOUND error of sockctl's own making (exit 15), for
// what sockd answered as two different not-founds.
func notFoundf(format string, args ...any) error {
	return client.FromError(status.Error(codes.NotFound, fmt.Sprintf(format, args...)))
}

// inspectEach resolves every ref, then prints each in detail, a blank line
// between them (table), or all of them as one list (json, yaml): the
// inspect commands of proxies and relays.
func inspectEach[T proto.Message](cmd *cobra.Command, g *globals, refs []string,
	resolve func(context.Context, *client.Client, string) (T, error),
	show func(*printer, T) error) error {
	var found []T
	err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
		for _, ref := range refs {
			x, err := resolve(ctx, c, ref)
			if err != nil {
				return err
			}
			found = append(found, x)
		}
		return nil
	})
	if err != nil {
		return err
	}
	pr := g.printer()
	if g.output != "table" {
		return pr.list(asMessages(found))
	}
	for i, x := range found {
		if i > 0 {
			fmt.Fprintln(g.out)
		}
		if err := show(pr, x); err != nil {
			return err
		}
	}
	return nil
}
