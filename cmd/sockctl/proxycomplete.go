package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

// Completion of proxies, relays, fault targets and fault names, from the
// daemon (complete.go has the sockets').

// refs completes ids and names from a list the daemon gives.
func (g *globals) refs(cmd *cobra.Command, toComplete string, list func(ctx context.Context, c *client.Client) ([]ref, error)) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
		all, err := list(ctx, c)
		for _, r := range all {
			for _, word := range []string{r.id, r.name} {
				if word != "" && strings.HasPrefix(word, toComplete) {
					out = append(out, cobra.CompletionWithDesc(word, r.desc))
				}
			}
		}
		return err
	})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// ref is one thing completion offers, by id and by name.
type ref struct{ id, name, desc string }

func proxyRefList(ctx context.Context, c *client.Client) ([]ref, error) {
	ps, err := c.ListProxies(ctx)
	out := make([]ref, 0, len(ps))
	for _, p := range ps {
		out = append(out, ref{p.GetId(), p.GetName(), "proxy " + protoName(p.GetProtocol()) + " " + p.GetListenAddress() + " -> " + p.GetUpstreamAddress()})
	}
	return out, err
}

func relayRefList(ctx context.Context, c *client.Client) ([]ref, error) {
	rs, err := c.ListRelays(ctx, "")
	out := make([]ref, 0, len(rs))
	for _, r := range rs {
		desc := "relay " + shortID(r.GetA(), false) + " <-> " + shortID(r.GetB(), false)
		if r.GetProxyId() != "" {
			desc += " of proxy " + shortID(r.GetProxyId(), false)
		}
		out = append(out, ref{r.GetId(), r.GetName(), desc})
	}
	return out, err
}

// proxyRefs completes proxy ids and names.
func (g *globals) proxyRefs(cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return g.refs(cmd, toComplete, proxyRefList)
}

// relayRefs completes relay ids and names.
func (g *globals) relayRefs(cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return g.refs(cmd, toComplete, relayRefList)
}

// targetRefs completes what a fault can be on: proxies and relays.
func (g *globals) targetRefs(cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return g.refs(cmd, toComplete, func(ctx context.Context, c *client.Client) ([]ref, error) {
		ps, err := proxyRefList(ctx, c)
		if err != nil {
			return nil, err
		}
		rs, err := relayRefList(ctx, c)
		return append(ps, rs...), err
	})
}

// completeFaultArgs completes `fault set|rm TARGET NAME...`: the target,
// then the names of its faults.
func (g *globals) completeFaultArgs(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return g.targetRefs(cmd, toComplete)
	}
	var out []cobra.Completion
	err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
		t, err := g.resolveTarget(ctx, c, args[0])
		if err != nil {
			return err
		}
		fs, err := c.ListFaults(ctx, t.target())
		for _, f := range fs {
			if strings.HasPrefix(f.GetName(), toComplete) {
				out = append(out, cobra.CompletionWithDesc(f.GetName(), faultTypeName(f.GetType())+" "+direction(f.GetDirection())))
			}
		}
		return err
	})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeFaultAddArgs completes `fault add TARGET TYPE`: the target, then
// the fault types that apply to its protocol.
func (g *globals) completeFaultAddArgs(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return g.targetRefs(cmd, toComplete)
	case 1:
	default:
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	tcp, udp := true, true
	_ = g.do(cmd, func(ctx context.Context, c *client.Client) error {
		t, err := g.resolveTarget(ctx, c, args[0])
		if err == nil && t.proxy != nil {
			udp = t.udp()
			tcp = !udp
		}
		return err
	})
	var out []cobra.Completion
	for _, k := range faultKinds {
		if (k.tcp && tcp || k.udp && udp) && strings.HasPrefix(k.name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(k.name, k.about+" ("+k.protocols()+")"))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
