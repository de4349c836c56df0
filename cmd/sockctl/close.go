package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/client"
)

func newCloseCommand(g *globals) *cobra.Command {
	var (
		all    bool
		labels []string
	)
	cmd := &cobra.Command{
		Use:   "close ID... | close --all [-l k=v]",
		Short: "Close sockets, as close(); prints the ids closed",
		Example: `  sockctl close web conn1
  sockctl close --all -l suite=demo     # everything a test run made
  sockctl close --all`,
		ValidArgsFunction: completeEach(g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return usagef("give ids or --all, not both")
			case !all && len(labels) > 0:
				return usagef("-l selects sockets for --all")
			case !all && len(args) == 0:
				return usagef("close what? give ids, or --all")
			}
			var closed []proto.Message
			var firstErr error
			err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
				ids := args
				if all {
					socks, err := c.List(ctx, client.ListOptions{LabelSelector: selector(labels)})
					if err != nil {
						return err
					}
					ids = nil
					for _, s := range socks {
						ids = append(ids, s.GetId())
					}
				}
				for _, ref := range ids {
					id := ref
					if !all {
						s, err := g.resolve(ctx, c, ref)
						if err != nil {
							firstErr = keepFirst(firstErr, err)
							continue
						}
						id = s.GetId()
					}
					s, err := c.CloseSocket(ctx, id)
					if err != nil {
						if all && errors.Is(err, client.ErrSocketNotFound) {
							continue // closed meanwhile (its listener's owner, another client)
						}
						firstErr = keepFirst(firstErr, err)
						continue
					}
					if g.output == "table" {
						fmt.Fprintln(g.out, s.GetId())
					} else {
						closed = append(closed, s)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if g.output != "table" {
				if err := g.printer().messages(closed); err != nil {
					return err
				}
			}
			return firstErr
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "close all your sockets (with -l: those with the labels)")
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "with --all: only sockets with this label k=v (repeatable)")
	return cmd
}

func keepFirst(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
