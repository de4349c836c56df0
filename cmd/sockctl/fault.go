package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newFaultCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fault",
		Short: "Make a proxy or one relay misbehave: latency, bandwidth, resets, loss, ...",
		Long: `A fault changes what a relay does in one direction: --downstream (server to
client, the default) or --upstream (client to server), as in toxiproxy.
TARGET is a proxy (the fault applies to its present and future connections)
or a relay (that one connection), by id, name or unique id prefix.

Each parameter is a flag of its own name. A fault's name defaults to
<type>_<direction> (latency_downstream); 'fault set' and 'fault rm' take it.

` + faultTypesHelp(),
		Example: `  sockctl fault add redis latency --latency 100ms --jitter 10ms
  sockctl fault add redis reset_peer --timeout 100ms --probability 0.5
  sockctl fault add dns loss --percent 30 --correlation 50 --upstream
  sockctl fault set redis latency_downstream --latency 20ms   # only the flags given change
  sockctl fault ls redis
  sockctl fault rm redis latency_downstream`,
	}
	group(cmd)
	cmd.AddCommand(newFaultAddCommand(g), newFaultSetCommand(g), newFaultRmCommand(g), newFaultLsCommand(g))
	return cmd
}

func newFaultAddCommand(g *globals) *cobra.Command {
	var ff faultFlags
	cmd := &cobra.Command{
		Use:   "add TARGET TYPE [--upstream|--downstream] [--probability F] [--name N] [--PARAM V ...]",
		Short: "Add a fault to a proxy or a relay; prints its name",
		Long: `Add a fault to TARGET (a proxy or a relay). Here --timeout is the parameter of
timeout and reset_peer faults, not sockctl's own.

` + faultTypesHelp(),
		Example: `  sockctl fault add redis latency --latency 100ms --jitter 10ms
  sockctl fault add redis bandwidth --rate 100KB --upstream
  sockctl fault add redis limit_data --bytes 4KB --name cut`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeFaultAddArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := faultKindNamed(args[1])
			if err != nil {
				return err
			}
			f, _, err := ff.build(k, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := g.resolveTarget(ctx, c, args[0])
				if err != nil {
					return err
				}
				got, err := c.AddFault(ctx, t.target(), f)
				if err != nil {
					return err
				}
				return g.created(got.GetName(), got)
			})
		},
	}
	ff.add(cmd, true)
	return cmd
}

func newFaultSetCommand(g *globals) *cobra.Command {
	var ff faultFlags
	cmd := &cobra.Command{
		Use:   "set TARGET NAME [--probability F] [--PARAM V ...]",
		Short: "Change a live fault: only the flags given change",
		Long: `Change the fault NAME of TARGET while it runs: the parameters and the
probability given as flags change, the others stay (the update mask is made
of the flags given). A connection's roll of the probability is kept, so a new
probability adds or removes connections without rolling again. Here
--timeout is the parameter of timeout and reset_peer faults.`,
		Example: `  sockctl fault set redis latency_downstream --latency 20ms
  sockctl fault set redis reset_peer_downstream --probability 0.1`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeFaultArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			given := changed("probability")
			for _, p := range allFaultParams {
				given = given || changed(p.flag)
			}
			if !given {
				return usagef("set what? give --probability or a parameter's flag (%s fault set --help)", "sockctl")
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := g.resolveTarget(ctx, c, args[0])
				if err != nil {
					return err
				}
				old, err := faultNamed(ctx, c, t, args[1])
				if err != nil {
					return err
				}
				k, ok := faultKindOf(old.GetType())
				if !ok {
					return fmt.Errorf("fault %s is of a type this sockctl does not know (%s)", args[1], old.GetType())
				}
				f, paths, err := ff.build(k, changed)
				if err != nil {
					return err
				}
				f.Name = old.GetName()
				got, err := c.UpdateFault(ctx, t.target(), f, paths...)
				if err != nil {
					return err
				}
				if g.output == "table" {
					return g.printer().faults([]*sockdv1.Fault{got})
				}
				return g.printer().message(got)
			})
		},
	}
	ff.add(cmd, false)
	return cmd
}

// faultNamed is the target's fault of that name, FAULT_NOT_FOUND as sockd
// says it if there is none.
func faultNamed(ctx context.Context, c *client.Client, t faultTarget, name string) (*sockdv1.Fault, error) {
	fs, err := c.ListFaults(ctx, t.target())
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if f.GetName() == name {
			return f, nil
		}
	}
	return nil, &client.Error{Code: codes.NotFound, Message: fmt.Sprintf("%s has no fault %q", t, name), Reason: sockdv1.ErrorReason_FAULT_NOT_FOUND.String()}
}

func newFaultRmCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "rm TARGET NAME...",
		Aliases:           []string{"remove", "delete"},
		Short:             "Remove faults; the connections they applied to go back to the fast path; prints the names removed",
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: g.completeFaultArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var removed []*sockdv1.Fault
			var firstErr error
			err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := g.resolveTarget(ctx, c, args[0])
				if err != nil {
					return err
				}
				for _, name := range args[1:] {
					f, err := c.RemoveFault(ctx, t.target(), name)
					if err != nil {
						firstErr = keepFirst(firstErr, err)
						continue
					}
					if g.output == "table" {
						fmt.Fprintln(g.out, f.GetName())
					} else {
						removed = append(removed, f)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if g.output != "table" {
				if err := g.printer().list(asMessages(removed)); err != nil {
					return err
				}
			}
			return firstErr
		},
	}
}

func newFaultLsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "ls TARGET",
		Aliases:           []string{"list"},
		Short:             "List the faults of a proxy or a relay: type, direction, probability, parameters, connections applied to",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeArgs(g.targetRefs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := g.resolveTarget(ctx, c, args[0])
				if err != nil {
					return err
				}
				fs, err := c.ListFaults(ctx, t.target())
				if err != nil {
					return err
				}
				return g.printer().faults(fs)
			})
		},
	}
}
