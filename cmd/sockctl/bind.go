package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newBindCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "bind ID ADDRESS",
		Short:             "Bind a socket to a local address, as bind((host, port))",
		Example:           "  sockctl bind web 127.0.0.1:8090\n  sockctl bind web 127.0.0.1:0      # the kernel picks the port",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeSockets(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.onSocket(cmd, args[0], func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error) {
				return c.Bind(ctx, id, args[1])
			})
		},
	}
}
