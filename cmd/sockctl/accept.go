package main

import (
	"github.com/spf13/cobra"
)

func newAcceptCommand(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "accept ID",
		Short: "Accept a connection on a listening socket, as accept(); prints the new socket's id",
		Example: `  CONN=$(sockctl accept web --timeout 30s)
  sockctl accept web --name conn1`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeSockets(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			id, err := g.resolve(ctx, args[0])
			if err != nil {
				return interrupted(cmd, err)
			}
			s, err := c.Accept(ctx, id, g.callTimeout(), name)
			if err != nil {
				return interrupted(cmd, err)
			}
			return g.printCreated(s)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "a name for the accepted socket")
	return cmd
}
