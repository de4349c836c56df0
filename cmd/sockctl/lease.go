package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"
)

func newLeaseCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lease",
		Short: "Tie sockets to a lease, so that a crashed harness leaves nothing bound",
		Long: `A lease closes the sockets created under it (--lease ID, or SOCKD_LEASE) when it
lapses: its TTL after the last sign of life, which is any call on one of its
sockets or an open keep-alive.

'sockctl lease run' is the usual way: it creates a lease, keeps it alive while
a command runs with SOCKD_LEASE set, and ends it (closing the command's
sockets) when the command exits — or, if sockctl is killed, TTL later.`,
		Example: `  sockctl lease run --ttl 10s -- ./my-harness.sh
  L=$(sockctl lease create --ttl 30s); sockctl lease keepalive $L &
  sockctl listen tcp 127.0.0.1:8090 --lease $L
  sockctl lease revoke $L`,
	}
	cmd.AddCommand(newLeaseCreateCommand(g), newLeaseKeepaliveCommand(g), newLeaseRevokeCommand(g), newLeaseRunCommand(g))
	return cmd
}

func newLeaseCreateCommand(g *globals) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create --ttl DURATION",
		Short: "Create a lease; prints its id",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			l, err := c.CreateLease(ctx, ttl)
			if err != nil {
				return err
			}
			if g.output == "table" {
				_, err = fmt.Fprintln(g.out, l.GetId())
				return err
			}
			return g.printer().message(l)
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 30*time.Second, "how long the lease lives without a sign of life")
	return cmd
}

func newLeaseKeepaliveCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keepalive ID",
		Short: "Keep a lease alive until interrupted (the TTL starts then)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			l, err := c.KeepLease(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			select {
			case <-cmd.Context().Done():
				l.Release()
				return nil
			case <-l.Done():
				return l.Err()
			}
		},
	}
}

func newLeaseRevokeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "End a lease now, closing its sockets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			l, err := c.RevokeLease(ctx, args[0])
			if err != nil {
				return err
			}
			if g.output == "table" {
				_, err = fmt.Fprintf(g.out, "%s: %d sockets closed\n", l.GetId(), l.GetSocketCount())
				return err
			}
			return g.printer().message(l)
		},
	}
}

func newLeaseRunCommand(g *globals) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "run --ttl DURATION -- COMMAND [ARG...]",
		Short: "Run a command under a lease (SOCKD_LEASE set); its sockets close when it ends",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			l, err := c.NewLease(cmd.Context(), ttl)
			if err != nil {
				return err
			}
			defer l.Close()
			child := exec.CommandContext(context.WithoutCancel(cmd.Context()), args[0], args[1:]...)
			child.Stdin, child.Stdout, child.Stderr = g.in, g.out, g.err
			child.Env = append(os.Environ(), "SOCKD_LEASE="+l.ID(), "SOCKD_ADDR="+g.addr)
			if err := child.Run(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return exitError{code: ee.ExitCode()}
				}
				return err
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 30*time.Second, "how long the sockets outlive sockctl if it is killed")
	return cmd
}

// exitError passes a child's exit code through.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
