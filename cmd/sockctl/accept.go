package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newAcceptCommand(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "accept ID",
		Short: "Accept a connection on a listening socket, as accept(); prints the new socket's id",
		Example: `  CONN=$(sockctl accept web --timeout 30s)
  sockctl accept web --name conn1`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeArgs(g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.onID(cmd, args[0], func(ctx context.Context, c *client.Client, l *sockdv1.Socket) error {
				s, err := c.Accept(ctx, l.GetId(), g.callTimeout(), name)
				if err != nil {
					return err
				}
				return g.printCreated(s)
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "a name for the accepted socket")
	return cmd
}
