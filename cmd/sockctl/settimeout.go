package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newSetTimeoutCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "settimeout ID DURATION|none|0",
		Short: "Set the socket's timeout for blocking calls, as settimeout(): none blocks, 0 is non-blocking",
		Example: `  sockctl settimeout conn 5s
  sockctl settimeout conn 0       # setblocking(False)
  sockctl settimeout conn none    # setblocking(True)`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeSockets(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseTimeout(args[1])
			if err != nil {
				return err
			}
			return g.onSocket(cmd, args[0], func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error) {
				return c.SetTimeout(ctx, id, d)
			})
		},
	}
}
