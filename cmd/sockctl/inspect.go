package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newInspectCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect ID...",
		Short: "Show sockets in detail: state, addresses (getsockname/getpeername), fd, timeout, counters",
		Example: `  sockctl inspect web
  sockctl inspect 3kq -o yaml`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeSockets(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			var socks []*sockdv1.Socket
			for _, ref := range args {
				id, err := g.resolve(ctx, ref)
				if err != nil {
					return err
				}
				s, err := c.Get(ctx, id)
				if err != nil {
					return err
				}
				socks = append(socks, s)
			}
			p := g.printer()
			if len(socks) == 1 {
				return p.socket(socks[0])
			}
			if g.output != "table" {
				ms := make([]proto.Message, len(socks))
				for i, s := range socks {
					ms[i] = s
				}
				return p.messages(ms)
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
