package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newRecvFromCommand(g *globals) *cobra.Command {
	var (
		max  int32
		peek bool
	)
	cmd := &cobra.Command{
		Use:   "recvfrom ID",
		Short: "Receive one datagram, as recvfrom(): the bytes to standard output, the source address to standard error",
		Example: `  sockctl recvfrom udp1 --timeout 5s
  sockctl recvfrom udp1 -o json     # {"data": ..., "address": ..., "truncated": ...}`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeArgs(g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.onID(cmd, args[0], func(ctx context.Context, c *client.Client, s *sockdv1.Socket) error {
				data, from, truncated, err := c.RecvFrom(ctx, s.GetId(), client.RecvOptions{MaxBytes: max, Timeout: g.callTimeout(), Peek: peek})
				if err != nil {
					return err
				}
				if g.output != "table" {
					return g.printer().message(&sockdv1.RecvFromResponse{Data: data, Address: from, Truncated: truncated})
				}
				note := ""
				if truncated {
					note = " (truncated)"
				}
				fmt.Fprintln(g.err, from+note)
				_, err = g.out.Write(data)
				return err
			})
		},
	}
	cmd.Flags().Int32VarP(&max, "max-bytes", "n", 65536, "the most bytes to receive (a longer datagram is truncated)")
	cmd.Flags().BoolVar(&peek, "peek", false, "leave the datagram in the socket (MSG_PEEK)")
	return cmd
}
