package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newShutdownCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "shutdown ID read|write|both",
		Short:             "Shut down directions of a connection, as shutdown(how)",
		Example:           "  sockctl shutdown client write    # the peer reads EOF and can still answer",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeSockets(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			how, ok := map[string]sockdv1.ShutdownHow{
				"read": sockdv1.ShutdownHow_SHUTDOWN_HOW_READ, "rd": sockdv1.ShutdownHow_SHUTDOWN_HOW_READ,
				"write": sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE, "wr": sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE,
				"both": sockdv1.ShutdownHow_SHUTDOWN_HOW_BOTH, "rdwr": sockdv1.ShutdownHow_SHUTDOWN_HOW_BOTH,
			}[args[1]]
			if !ok {
				return usagef("shutdown %q: want read, write or both", args[1])
			}
			return g.onSocket(cmd, args[0], func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error) {
				return c.Shutdown(ctx, id, how)
			})
		},
	}
}
