package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newListenCommand(g *globals) *cobra.Command {
	var f socketFlags
	var backlog int32
	cmd := &cobra.Command{
		Use:   "listen ID | listen tcp ADDRESS",
		Short: "Listen for connections, as listen(backlog); 'listen tcp ADDR' creates, binds and listens, and prints the id",
		Example: `  sockctl listen web --backlog 5
  ID=$(sockctl listen tcp 127.0.0.1:8090 --name web --opt so_reuseaddr=1)`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: g.completeSockets(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var bl *int32
			if cmd.Flags().Changed("backlog") {
				bl = &backlog
			}
			if args[0] == "tcp" || args[0] == "udp" {
				if len(args) != 2 {
					return usagef("listen %s needs an address: sockctl listen %s 127.0.0.1:8090", args[0], args[0])
				}
				if args[0] == "udp" {
					return usagef("UDP sockets do not listen: bind one with 'sockctl create udp' and 'sockctl bind', or 'sockctl connect udp'")
				}
				o, err := f.options(args[0])
				if err != nil {
					return err
				}
				o.Bind, o.Listen, o.Backlog = args[1], true, bl
				c, err := g.client()
				if err != nil {
					return err
				}
				ctx, cancel := g.ctx(cmd)
				defer cancel()
				s, err := c.Create(ctx, o)
				if err != nil {
					return err
				}
				return g.printCreated(s)
			}
			if len(args) != 1 {
				return usagef("listen ID takes no address (bind first, or use 'sockctl listen tcp ADDRESS')")
			}
			return g.onSocket(cmd, args[0], func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error) {
				return c.Listen(ctx, id, bl)
			})
		},
	}
	cmd.Flags().Int32VarP(&backlog, "backlog", "b", 128, "listen(2) backlog")
	f.register(g, cmd)
	return cmd
}
