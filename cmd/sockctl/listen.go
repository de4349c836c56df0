package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newListenCommand(g *globals) *cobra.Command {
	var f socketFlags
	var backlog int32
	cmd := &cobra.Command{
		Use:   "listen ID | listen tcp|udp ADDRESS",
		Short: "Listen for connections, as listen(backlog); 'listen tcp|udp ADDR' creates and binds (and for TCP listens), and prints the id",
		Long: `'listen ID' makes a bound TCP socket listen, as listen(backlog).

'listen tcp ADDRESS' creates a TCP socket, binds it and listens, in one call.
'listen udp ADDRESS' creates a UDP socket and binds it, as nc -u -l does: UDP
does not listen, but the socket then receives datagrams (recvfrom, attach).
Both print the new socket's id.`,
		Example: `  sockctl listen web --backlog 5
  ID=$(sockctl listen tcp 127.0.0.1:8090 --name web --opt reuseaddr=1)
  U=$(sockctl listen udp 127.0.0.1:5353); sockctl recvfrom "$U" --timeout 10s`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeArgs(either(g.sockets, words(protocols...))),
		RunE: func(cmd *cobra.Command, args []string) error {
			var bl *int32
			if cmd.Flags().Changed("backlog") {
				bl = &backlog
			}
			if args[0] == "tcp" || args[0] == "udp" {
				if len(args) != 2 {
					return usagef("listen %s needs an address: sockctl listen %s 127.0.0.1:8090", args[0], args[0])
				}
				o, err := f.options(args[0])
				if err != nil {
					return err
				}
				o.Bind = args[1]
				if !o.UDP {
					o.Listen, o.Backlog = true, bl
				} else if bl != nil {
					return usagef("--backlog: UDP sockets do not listen")
				}
				return g.create(cmd, o)
			}
			if len(args) != 1 {
				return usagef("listen ID takes no address (bind first, or use 'sockctl listen tcp ADDRESS')")
			}
			return g.onSocket(cmd, args[0], func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error) {
				return c.Listen(ctx, id, bl)
			})
		},
	}
	cmd.Flags().Int32VarP(&backlog, "backlog", "b", 128, "listen(2) backlog")
	f.register(g, cmd)
	return cmd
}
