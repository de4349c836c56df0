package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// The one preamble of every command that calls sockd: the client, the
// command's context, the socket it names, and Ctrl-C.

// do runs a command's calls with the client and the command's context. With
// --timeout the context ends a little after the timeout, so that a blocking
// call's own timeout (callTimeout) fires first and sockd answers
// DEADLINE_EXCEEDED (TIMEOUT) itself. A call that Ctrl-C cut short is
// errInterrupted.
func (g *globals) do(cmd *cobra.Command, call func(ctx context.Context, c *client.Client) error) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ctx, cancel := g.commandContext(cmd)
	defer cancel()
	err = call(ctx, c)
	if err != nil && cmd.Context().Err() != nil && !errors.Is(err, errInterrupted) {
		return errInterrupted
	}
	return err
}

func (g *globals) commandContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	if g.timeout > 0 {
		return context.WithTimeout(cmd.Context(), g.timeout+5*time.Second)
	}
	return context.WithCancel(cmd.Context())
}

// onID is do for a command on one socket: ref (an id, a name or a unique
// prefix of an id) is resolved first.
func (g *globals) onID(cmd *cobra.Command, ref string, call func(ctx context.Context, c *client.Client, s *sockdv1.Socket) error) error {
	return g.do(cmd, func(ctx context.Context, c *client.Client) error {
		s, err := g.resolve(ctx, c, ref)
		if err != nil {
			return err
		}
		return call(ctx, c, s)
	})
}

// onSocket is onID for a call that returns the socket it changed, which is
// printed (a one-row table, or the socket as JSON/YAML).
func (g *globals) onSocket(cmd *cobra.Command, ref string, call func(ctx context.Context, c *client.Client, id string) (*sockdv1.Socket, error)) error {
	return g.onID(cmd, ref, func(ctx context.Context, c *client.Client, s *sockdv1.Socket) error {
		s, err := call(ctx, c, s.GetId())
		if err != nil {
			return err
		}
		return g.printer().summary(s)
	})
}

// callTimeout is --timeout as the limit of one blocking socket call.
func (g *globals) callTimeout() *time.Duration {
	if g.timeout <= 0 {
		return nil
	}
	d := g.timeout
	return &d
}
