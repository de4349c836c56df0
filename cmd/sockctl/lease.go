package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
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
  sockctl lease ls
  sockctl lease revoke $L`,
	}
	group(cmd)
	cmd.AddCommand(newLeaseCreateCommand(g), newLeaseGetCommand(g), newLeaseLsCommand(g),
		newLeaseKeepaliveCommand(g), newLeaseRevokeCommand(g), newLeaseRunCommand(g))
	return cmd
}

func newLeaseCreateCommand(g *globals) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create --ttl DURATION",
		Short: "Create a lease; prints its id",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				l, err := c.CreateLease(ctx, ttl)
				if err != nil {
					return err
				}
				return g.created(l.GetId(), l)
			})
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 30*time.Second, "how long the lease lives without a sign of life")
	return cmd
}

func newLeaseGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get ID",
		Aliases: []string{"inspect"},
		Short:   "Show a lease: its TTL, expiry and sockets",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				l, err := c.GetLease(ctx, args[0])
				if err != nil {
					return err
				}
				return g.printLeases([]*sockdv1.Lease{l})
			})
		},
	}
}

func newLeaseLsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List your leases",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				ls, err := c.ListLeases(ctx) // every page, to the last
				if err != nil {
					return err
				}
				return g.printLeases(ls)
			})
		},
	}
}

// printLeases prints leases as a table (ID, TTL, EXPIRES, SOCKETS, OWNER),
// or as JSON/YAML.
func (g *globals) printLeases(ls []*sockdv1.Lease) error {
	p := g.printer()
	if g.output != "table" {
		if len(ls) == 1 {
			return p.message(ls[0])
		}
		return p.messages(asMessages(ls))
	}
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTTL\tEXPIRES\tSOCKETS\tOWNER")
	for _, l := range ls {
		expires := "kept alive"
		if l.GetExpireTime() != nil {
			expires = "in " + max(time.Until(l.GetExpireTime().AsTime()), 0).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", l.GetId(), l.GetTtl().AsDuration(), expires, l.GetSocketCount(), dash(l.GetOwner()))
	}
	return tw.Flush()
}

func newLeaseKeepaliveCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keepalive ID",
		Short: "Keep a lease alive until interrupted (the TTL starts then)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
				l, err := c.KeepLease(ctx, args[0])
				if err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					l.Release()
					return nil
				case <-l.Done():
					return l.Err()
				}
			})
			if errors.Is(err, errInterrupted) {
				return nil // Ctrl-C is how keepalive ends
			}
			return err
		},
	}
}

func newLeaseRevokeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "End a lease now, closing its sockets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				l, err := c.RevokeLease(ctx, args[0])
				if err != nil {
					return err
				}
				if g.output == "table" {
					_, err = fmt.Fprintf(g.out, "%s: %d sockets closed\n", l.GetId(), l.GetSocketCount())
					return err
				}
				return g.printer().message(l)
			})
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
			// Not the command's context: --timeout must not end the lease
			// under the child.
			l, err := c.NewLease(context.WithoutCancel(cmd.Context()), ttl)
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
