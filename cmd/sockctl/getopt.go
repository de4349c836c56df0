package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newGetoptCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "getopt ID OPTION",
		Short: "Read a socket option from the kernel, as getsockopt()",
		Example: `  sockctl getopt conn rcvbuf
  sockctl getopt conn SO_ERROR`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeArgs(g.sockets, g.options),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.onID(cmd, args[0], func(ctx context.Context, c *client.Client, s *sockdv1.Socket) error {
				o, err := c.GetOption(ctx, s.GetId(), args[1])
				if err != nil {
					return err
				}
				return g.printOption(o)
			})
		},
	}
}
