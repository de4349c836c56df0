package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newInspectCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect ID...",
		Short: "Show sockets in detail: state, addresses (getsockname/getpeername), fd, timeout, counters",
		Example: `  sockctl inspect web
  sockctl inspect 3kq -o yaml`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeEach(g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			var socks []*sockdv1.Socket
			err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
				for _, ref := range args {
					s, err := g.resolve(ctx, c, ref)
					if err != nil {
						return err
					}
					socks = append(socks, s)
				}
				return nil
			})
			if err != nil {
				return err
			}
			p := g.printer()
			if len(socks) == 1 {
				return p.socket(socks[0])
			}
			if g.output != "table" {
				return p.messages(asMessages(socks))
			}
			for i, s := range socks {
				if i > 0 {
					fmt.Fprintln(g.out)
				}
				if err := p.socket(s); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
