package main

import (
	"io"

	"github.com/spf13/cobra"

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
		ValidArgsFunction: g.completeSockets(0),
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
			n, err := c.SendTo(ctx, id, args[1], data, g.callTimeout())
			if err != nil {
				return interrupted(cmd, err)
			}
			if g.output != "table" {
				return g.printer().message(&sockdv1.SendToResponse{BytesSent: int64(n)})
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "send this file's contents as the datagram")
	return cmd
}
