package main

import (
	"github.com/spf13/cobra"
)

func newGetoptCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "getopt ID OPTION",
		Short: "Read a socket option from the kernel, as getsockopt()",
		Example: `  sockctl getopt conn rcvbuf
  sockctl getopt conn SO_ERROR`,
		Args:              cobra.ExactArgs(2),
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
				return err
			}
			name := optionName(args[1])
			v, err := c.GetOption(ctx, id, name)
			if err != nil {
				return err
			}
			return g.printOption(name, v)
		},
	}
}
