package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newRecvCommand(g *globals) *cobra.Command {
	var (
		max     int32
		peek    bool
		waitAll bool
	)
	cmd := &cobra.Command{
		Use:   "recv ID",
		Short: "Receive from a socket, as recv(n): raw bytes to standard output",
		Long: `Receive up to -n bytes, as recv(n): it returns as soon as any data is there.
The bytes go to standard output unchanged. When the peer has closed, nothing
is written and standard error says EOF (with -o json: "eof": true).`,
		Example: `  sockctl recv conn -n 1024
  sockctl recv conn --timeout 5s --wait-all -n 12
  sockctl recv conn -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeArgs(g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.onID(cmd, args[0], func(ctx context.Context, c *client.Client, s *sockdv1.Socket) error {
				data, eof, err := c.Recv(ctx, s.GetId(), client.RecvOptions{MaxBytes: max, Timeout: g.callTimeout(), Peek: peek, WaitAll: waitAll})
				if err != nil {
					return err
				}
				if g.output != "table" {
					return g.printer().messageAll(&sockdv1.RecvResponse{Data: data, Eof: eof})
				}
				if eof {
					fmt.Fprintln(g.err, "sockctl: EOF (the peer has closed)")
					return nil
				}
				_, err = g.out.Write(data)
				return err
			})
		},
	}
	cmd.Flags().Int32VarP(&max, "max-bytes", "n", 65536, "the most bytes to receive")
	cmd.Flags().BoolVar(&peek, "peek", false, "leave the data in the socket (MSG_PEEK)")
	cmd.Flags().BoolVar(&waitAll, "wait-all", false, "wait for -n bytes, EOF or the timeout (MSG_WAITALL)")
	return cmd
}
