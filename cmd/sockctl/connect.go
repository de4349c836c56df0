package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newConnectCommand(g *globals) *cobra.Command {
	var f socketFlags
	cmd := &cobra.Command{
		Use:   "connect ID ADDRESS | connect tcp|udp ADDRESS",
		Short: "Connect a socket, as connect(); 'connect tcp|udp ADDR' creates and connects, and prints the id",
		Example: `  sockctl connect client 127.0.0.1:8090 --timeout 2s
  ID=$(sockctl connect tcp localhost:8090)
  ID=$(sockctl connect udp 127.0.0.1:5353)`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeArgs(either(g.sockets, words(protocols...))),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "tcp" || args[0] == "udp" {
				o, err := f.options(args[0])
				if err != nil {
					return err
				}
				o.Connect, o.ConnectTimeout = args[1], g.callTimeout()
				return g.create(cmd, o)
			}
			return g.onSocket(cmd, args[0], func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error) {
				return c.Connect(ctx, id, args[1], g.callTimeout())
			})
		},
	}
	f.register(g, cmd)
	return cmd
}
