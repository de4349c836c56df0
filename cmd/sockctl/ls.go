package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newLsCommand(g *globals) *cobra.Command {
	var (
		labels  []string
		stateF  string
		proto   string
		noTrunc bool
	)
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list", "ps"},
		Short:   "List your sockets",
		Example: `  sockctl ls
  sockctl ls -l suite=demo --state listening
  sockctl ls -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := client.ListOptions{LabelSelector: selector(labels)}
			if stateF != "" {
				v, ok := sockdv1.State_value["STATE_"+strings.ToUpper(stateF)]
				if !ok {
					return usagef("--state %q: want created, bound, listening or connected", stateF)
				}
				o.State = sockdv1.State(v)
			}
			switch proto {
			case "":
			case "tcp":
				o.Protocol = sockdv1.Protocol_PROTOCOL_TCP
			case "udp":
				o.Protocol = sockdv1.Protocol_PROTOCOL_UDP
			default:
				return usagef("--proto %q: want tcp or udp", proto)
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				socks, err := c.List(ctx, o) // every page, to the last
				if err != nil {
					return err
				}
				me := ""
				if info, err := c.ServerInfo(ctx); err == nil {
					me = info.GetPrincipal()
				}
				return g.printer().sockets(socks, noTrunc, me)
			})
		},
	}
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "only sockets with this label k=v (repeatable)")
	cmd.Flags().StringVar(&stateF, "state", "", "only sockets in this state: created, bound, listening, connected")
	cmd.Flags().StringVar(&proto, "proto", "", "only tcp or udp sockets")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "show whole ids")
	_ = cmd.RegisterFlagCompletionFunc("state", flagWords("created", "bound", "listening", "connected"))
	_ = cmd.RegisterFlagCompletionFunc("proto", flagWords("tcp", "udp"))
	return cmd
}
