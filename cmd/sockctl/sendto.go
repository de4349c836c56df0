package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newSendToCommand(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "sendto ID ADDRESS [TEXT]",
		Short: "Send one datagram to an address, as sendto(): TEXT, a file, or standard input",
		Example: `  sockctl sendto udp1 127.0.0.1:9999 "ping"
  echo ping | sockctl sendto udp1 127.0.0.1:9999`,
		Args:              cobra.RangeArgs(2, 3),
		ValidArgsFunction: completeArgs(g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, _, closeSrc, err := g.payload(args[2:], file)
			if err != nil {
				return err
			}
			defer closeSrc()
			data, err := io.ReadAll(io.LimitReader(src, 65536))
			if err != nil {
				return err
			}
			return g.onID(cmd, args[0], func(ctx context.Context, c *client.Client, s *sockdv1.Socket) error {
				n, err := c.SendTo(ctx, s.GetId(), args[1], data, g.callTimeout())
				if err != nil {
					return err
				}
				return g.result(&sockdv1.SendToResponse{BytesSent: int64(n)})
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "send this file's contents as the datagram")
	return cmd
}
