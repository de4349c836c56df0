package main

import (
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
		ValidArgsFunction: g.completeSockets(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return usagef("give ids or --all, not both")
			case !all && len(labels) > 0:
				return usagef("-l selects sockets for --all")
			case !all && len(args) == 0:
				return usagef("close what? give ids, or --all")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			ids := args
			if all {
				socks, err := c.List(ctx, client.ListOptions{LabelSelector: selector(labels)})
				if err != nil {
					return err
				}
				ids = nil
				for _, s := range socks {
					// Close listeners last, so that their accepted sockets'
					// closes are not needlessly raced with new accepts.
					ids = append(ids, s.GetId())
				}
			}
			var closed []proto.Message
			var firstErr error
			for _, ref := range ids {
				id := ref
				if !all {
					if id, err = g.resolve(ctx, ref); err != nil {
						firstErr = keepFirst(firstErr, err)
						continue
					}
				}
				s, err := c.CloseSocket(ctx, id)
				if err != nil {
					if all && isNotFound(err) {
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

func isNotFound(err error) bool {
	ce, ok := err.(*client.Error)
	return ok && ce.Reason == "SOCKET_NOT_FOUND"
}
