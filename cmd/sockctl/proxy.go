package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newProxyCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Put proxies in front of services: a listener whose connections sockd relays to an upstream",
		Long: `A proxy listens on an address of sockd's host and relays every connection it
accepts to an upstream address (for UDP: one upstream socket per client
address, a session). Its listener and each connection's two legs are ordinary
sockets ('sockctl ls' lists them), and each connection is a relay
('sockctl relay ls --proxy P'). Faults ('sockctl fault') make it misbehave.

Proxies are named by id, by name, or by a unique prefix of the id.`,
		Example: `  sockctl proxy create tcp 127.0.0.1:26379 127.0.0.1:6379 --name redis
  sockctl fault add redis latency --latency 100ms --jitter 10ms
  sockctl proxy ls
  sockctl proxy disable redis          # connect is refused, connections reset
  sockctl proxy enable redis
  sockctl proxy set redis --upstream 127.0.0.1:6380
  sockctl proxy rm redis`,
	}
	group(cmd)
	cmd.AddCommand(newProxyCreateCommand(g), newProxyLsCommand(g), newProxyInspectCommand(g),
		newProxyEnableCommand(g, true), newProxyEnableCommand(g, false), newProxySetCommand(g), newProxyRmCommand(g))
	return cmd
}

func newProxyCreateCommand(g *globals) *cobra.Command {
	var (
		name        string
		disabled    bool
		capture     bool
		captureRing string
		idle        string
		faultSpecs  []string
	)
	cmd := &cobra.Command{
		Use:   "create tcp|udp LISTEN UPSTREAM [--name N] [--disabled] [--capture] [--fault TYPE:PARAM=V,...]",
		Short: "Create a proxy; prints its id",
		Long: `Create a proxy listening on LISTEN (port 0: the kernel picks; 'proxy inspect'
shows the port) that relays each connection to UPSTREAM. The listen address
passes sockd's bind policy, the upstream its connect policy.

--fault adds a fault from the start, written as the type, then a colon and
its parameters as comma-separated key=value pairs (the names of 'sockctl
fault add's flags), with probability=P, name=N, upstream or downstream:

  --fault latency:latency=100ms,jitter=10ms
  --fault limit_data:bytes=40
  --fault loss:percent=30,correlation=50,upstream

` + faultTypesHelp(),
		Example: `  sockctl proxy create tcp 127.0.0.1:26379 127.0.0.1:6379 --name redis
  sockctl proxy create udp 127.0.0.1:5353 127.0.0.1:53 --fault loss:percent=30,upstream
  sockctl proxy create tcp 127.0.0.1:0 127.0.0.1:8080 --capture   # records every socket`,
		Args:              cobra.ExactArgs(3),
		ValidArgsFunction: completeArgs(words("tcp", "udp")),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := client.ProxyOptions{Name: name, Listen: args[1], Upstream: args[2], Disabled: disabled, Capture: capture, LeaseID: g.lease}
			switch args[0] {
			case "tcp":
			case "udp":
				o.UDP = true
			default:
				return usagef("unknown protocol %s (tcp or udp)", args[0])
			}
			if captureRing != "" {
				n, err := parseSize("capture-ring", captureRing)
				if err != nil {
					return err
				}
				o.Capture, o.CaptureRingBytes = true, n
			}
			if idle != "" {
				d, err := parseDuration("session-idle-timeout", idle)
				if err != nil {
					return err
				}
				o.SessionIdleTimeout = &d
			}
			for _, spec := range faultSpecs {
				f, err := parseFaultSpec(spec)
				if err != nil {
					return err
				}
				o.Faults = append(o.Faults, f)
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				p, err := c.CreateProxy(ctx, o)
				if err != nil {
					return err
				}
				return g.created(p.GetId(), p)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "a name for the proxy, usable wherever its id is")
	f.BoolVar(&disabled, "disabled", false, "create it with its listener closed ('proxy enable' opens it)")
	f.BoolVar(&capture, "capture", false, "record every socket of the proxy ('sockctl capture dump --proxy P')")
	f.StringVar(&captureRing, "capture-ring", "", "with --capture: each socket's ring size, as 4MiB (implies --capture; default: sockd's)")
	f.StringVar(&idle, "session-idle-timeout", "", "UDP: close a session idle this long (default 60s)")
	f.StringArrayVar(&faultSpecs, "fault", nil, "a fault from the start, TYPE[:PARAM=V,...] (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("fault", flagWords(faultKindNames()...))
	return cmd
}

func newProxyLsCommand(g *globals) *cobra.Command {
	var noTrunc bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List your proxies: addresses, connections, bytes each way, faults",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				ps, err := c.ListProxies(ctx)
				if err != nil {
					return err
				}
				return g.printer().proxies(ps, noTrunc)
			})
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "show whole ids")
	return cmd
}

func newProxyInspectCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "inspect P...",
		Short:             "Show proxies in detail, with their faults",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeEach(g.proxyRefs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspectEach(cmd, g, args, g.resolveProxy, (*printer).proxy)
		},
	}
}

func newProxyEnableCommand(g *globals, enable bool) *cobra.Command {
	use, short := "enable P...", "Open proxies' listeners again (the same addresses)"
	if !enable {
		use, short = "disable P...", "Close proxies' listeners (connect is refused) and reset their connections"
	}
	return &cobra.Command{
		Use:               use,
		Short:             short,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeEach(g.proxyRefs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.eachProxy(cmd, args, func(ctx context.Context, c *client.Client, id string) (*sockdv1.Proxy, error) {
				return c.EnableProxy(ctx, id, enable)
			})
		},
	}
}

func newProxySetCommand(g *globals) *cobra.Command {
	var upstream string
	cmd := &cobra.Command{
		Use:               "set P --upstream ADDR",
		Short:             "Change a proxy: a new upstream for its future connections",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeArgs(g.proxyRefs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("upstream") {
				return usagef("set what? give --upstream ADDR")
			}
			return g.eachProxy(cmd, args, func(ctx context.Context, c *client.Client, id string) (*sockdv1.Proxy, error) {
				return c.SetProxyUpstream(ctx, id, upstream)
			})
		},
	}
	cmd.Flags().StringVar(&upstream, "upstream", "", "where new connections go, host:port")
	return cmd
}

// eachProxy resolves each proxy, makes call on it and prints the proxies it
// returns (a table, or the messages).
func (g *globals) eachProxy(cmd *cobra.Command, refs []string, call func(ctx context.Context, c *client.Client, id string) (*sockdv1.Proxy, error)) error {
	var done []*sockdv1.Proxy
	err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
		for _, ref := range refs {
			p, err := g.resolveProxy(ctx, c, ref)
			if err != nil {
				return err
			}
			if p, err = call(ctx, c, p.GetId()); err != nil {
				return err
			}
			done = append(done, p)
		}
		return nil
	})
	if len(done) > 0 {
		pr := g.printer()
		var perr error
		if g.output == "table" {
			perr = pr.proxies(done, false)
		} else {
			perr = pr.list(asMessages(done))
		}
		if err == nil {
			err = perr
		}
	}
	return err
}

func newProxyRmCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "rm P...",
		Aliases:           []string{"delete"},
		Short:             "Delete proxies: their listeners and every connection close; prints the ids deleted",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeEach(g.proxyRefs),
		RunE: func(cmd *cobra.Command, args []string) error {
			var deleted []proto.Message
			var firstErr error
			err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
				for _, ref := range args {
					p, err := g.resolveProxy(ctx, c, ref)
					if err == nil {
						p, err = c.DeleteProxy(ctx, p.GetId())
					}
					if err != nil {
						firstErr = keepFirst(firstErr, err)
						continue
					}
					if g.output == "table" {
						fmt.Fprintln(g.out, p.GetId())
					} else {
						deleted = append(deleted, p)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if g.output != "table" {
				if err := g.printer().list(deleted); err != nil {
					return err
				}
			}
			return firstErr
		},
	}
}
