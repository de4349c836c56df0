package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/client"
)

func newRelayCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Relay two connected sockets to each other, with no client in the path",
		Long: `A relay moves bytes between two connected sockets of sockd's, both ways:
A is the downstream (client's) side, B the upstream one. Half-close and resets
pass through. Each connection of a proxy is a relay too ('relay ls --proxy P'),
and faults can be set on one relay alone ('sockctl fault add R ...').

Relays are named by id, by name, or by a unique prefix of the id.`,
		Example: `  sockctl relay create "$ACCEPTED" "$CONNECTED" --name r1
  sockctl fault add r1 bandwidth --rate 100KB
  sockctl relay ls
  sockctl relay rm r1                   # the sockets stay, no byte lost`,
	}
	group(cmd)
	cmd.AddCommand(newRelayCreateCommand(g), newRelayLsCommand(g), newRelayInspectCommand(g), newRelayRmCommand(g))
	return cmd
}

func newRelayCreateCommand(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:               "create A B [--name N]",
		Short:             "Relay two connected sockets (A: the client's side, B: the upstream's); prints the relay's id",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeArgs(g.sockets, g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				var ids [2]string
				for i, ref := range args {
					s, err := g.resolve(ctx, c, ref)
					if err != nil {
						return err
					}
					ids[i] = s.GetId()
				}
				r, err := c.CreateRelay(ctx, client.RelayOptions{Name: name, A: ids[0], B: ids[1]})
				if err != nil {
					return err
				}
				return g.created(r.GetId(), r)
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "a name for the relay, usable wherever its id is")
	return cmd
}

func newRelayLsCommand(g *globals) *cobra.Command {
	var (
		proxy   string
		noTrunc bool
	)
	cmd := &cobra.Command{
		Use:     "ls [--proxy P]",
		Aliases: []string{"list"},
		Short:   "List your relays (a proxy's connections with --proxy): sockets, bytes each way, paths, faults",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				if proxy != "" {
					p, err := g.resolveProxy(ctx, c, proxy)
					if err != nil {
						return err
					}
					proxy = p.GetId()
				}
				rs, err := c.ListRelays(ctx, proxy)
				if err != nil {
					return err
				}
				return g.printer().relays(rs, noTrunc)
			})
		},
	}
	cmd.Flags().StringVar(&proxy, "proxy", "", "only this proxy's connections")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "show whole ids")
	_ = cmd.RegisterFlagCompletionFunc("proxy", completeEach(g.proxyRefs))
	return cmd
}

func newRelayInspectCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "inspect R...",
		Short:             "Show relays in detail: sockets, counters, how each direction moves bytes, faults",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeEach(g.relayRefs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspectEach(cmd, g, args, g.resolveRelay, (*printer).relay)
		},
	}
}

func newRelayRmCommand(g *globals) *cobra.Command {
	var closeSockets bool
	cmd := &cobra.Command{
		Use:               "rm R... [--close-sockets]",
		Aliases:           []string{"delete"},
		Short:             "Stop relays; their sockets stay open unless --close-sockets; prints the ids stopped",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeEach(g.relayRefs),
		RunE: func(cmd *cobra.Command, args []string) error {
			var stopped []proto.Message
			var firstErr error
			err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
				for _, ref := range args {
					r, err := g.resolveRelay(ctx, c, ref)
					if err == nil {
						r, err = c.DeleteRelay(ctx, r.GetId(), closeSockets)
					}
					if err != nil {
						firstErr = keepFirst(firstErr, err)
						continue
					}
					if g.output == "table" {
						fmt.Fprintln(g.out, r.GetId())
					} else {
						stopped = append(stopped, r)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if g.output != "table" {
				if err := g.printer().list(stopped); err != nil {
					return err
				}
			}
			return firstErr
		},
	}
	cmd.Flags().BoolVar(&closeSockets, "close-sockets", false, "close both sockets too")
	return cmd
}
