package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// socketCall is a command that makes one call on a socket with one more
// argument (an address, a direction, a timeout) and prints the socket the
// call returns.
type socketCall struct {
	use, short, example string
	arg                 completion // completes the argument after the id
	// call reads the argument (a bad one is a usage error, found before
	// sockd is asked) and returns the call to make.
	call func(arg string) (onSocketCall, error)
}

// onSocketCall is a call on one socket that returns the socket.
type onSocketCall = func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error)

func (g *globals) newSocketCallCommand(sc socketCall) *cobra.Command {
	return &cobra.Command{
		Use: sc.use, Short: sc.short, Example: sc.example,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeArgs(g.sockets, sc.arg),
		RunE: func(cmd *cobra.Command, args []string) error {
			call, err := sc.call(args[1])
			if err != nil {
				return err
			}
			return g.onSocket(cmd, args[0], call)
		},
	}
}

func newBindCommand(g *globals) *cobra.Command {
	return g.newSocketCallCommand(socketCall{
		use:     "bind ID ADDRESS",
		short:   "Bind a socket to a local address, as bind((host, port))",
		example: "  sockctl bind web 127.0.0.1:8090\n  sockctl bind web 127.0.0.1:0      # the kernel picks the port",
		call: func(address string) (onSocketCall, error) {
			return func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error) {
				return c.Bind(ctx, id, address)
			}, nil
		},
	})
}

func newShutdownCommand(g *globals) *cobra.Command {
	return g.newSocketCallCommand(socketCall{
		use:     "shutdown ID read|write|both",
		short:   "Shut down directions of a connection, as shutdown(how)",
		example: "  sockctl shutdown client write    # the peer reads EOF and can still answer",
		arg:     words(shutdownWords...),
		call: func(word string) (onSocketCall, error) {
			how, ok := shutdownHows[word]
			if !ok {
				return nil, usagef("shutdown %q: want read, write or both", word)
			}
			return func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error) {
				return c.Shutdown(ctx, id, how)
			}, nil
		},
	})
}

// shutdownHows are the directions shutdown takes (and the C names' parts).
var shutdownHows = map[string]sockdv1.ShutdownHow{
	"read": sockdv1.ShutdownHow_SHUTDOWN_HOW_READ, "rd": sockdv1.ShutdownHow_SHUTDOWN_HOW_READ,
	"write": sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE, "wr": sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE,
	"both": sockdv1.ShutdownHow_SHUTDOWN_HOW_BOTH, "rdwr": sockdv1.ShutdownHow_SHUTDOWN_HOW_BOTH,
}

// shutdownWords are what completion offers.
var shutdownWords = []string{"read", "write", "both"}

func newSetTimeoutCommand(g *globals) *cobra.Command {
	return g.newSocketCallCommand(socketCall{
		use:   "settimeout ID DURATION|none|0",
		short: "Set the socket's timeout for blocking calls, as settimeout(): none blocks, 0 is non-blocking",
		example: `  sockctl settimeout conn 5s
  sockctl settimeout conn 0       # setblocking(False)
  sockctl settimeout conn none    # setblocking(True)`,
		arg: words("none", "0"),
		call: func(arg string) (onSocketCall, error) {
			d, err := parseTimeout(arg)
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error) {
				return c.SetTimeout(ctx, id, d)
			}, nil
		},
	})
}
