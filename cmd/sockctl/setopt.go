package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newSetoptCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "setopt ID OPTION VALUE",
		Short: "Set a socket option, as setsockopt(); prints the value the kernel reports",
		Long: `Set a socket option by its socket(7)/tcp(7)/ip(7) name, case-insensitive:
SO_REUSEADDR, TCP_NODELAY, IPV6_UNICAST_HOPS, ... The part after SO_, TCP_, IP_
or IPV6_ is enough when it is unique (reuseaddr, nodelay, unicast_hops,
tclass): sockd reads the name, and its answer says which option it set.
Shell completion lists the names this sockd knows. Booleans are 0/1 (on/off,
true/false also work); SO_LINGER is seconds, -1 for off. The value printed is
read back from the kernel (SO_RCVBUF comes back doubled).`,
		Example: `  sockctl setopt web reuseaddr 1
  sockctl setopt conn TCP_NODELAY on
  sockctl setopt conn so_linger 0     # close() then resets the connection`,
		Args:              cobra.ExactArgs(3),
		ValidArgsFunction: completeArgs(g.sockets, g.options),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseOptionValue(args[2])
			if err != nil {
				return err
			}
			return g.onID(cmd, args[0], func(ctx context.Context, c *client.Client, s *sockdv1.Socket) error {
				o, err := c.SetOption(ctx, s.GetId(), args[1], v)
				if err != nil {
					return err
				}
				return g.printOption(o)
			})
		},
	}
}

func parseOptionValue(s string) (int64, error) {
	switch strings.ToLower(s) {
	case "on", "true", "yes":
		return 1, nil
	case "off", "false", "no":
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, usagef("option value %q: want an integer, or on/off", s)
	}
	return v, nil
}

// printOption prints an option's value (table), or the option as sockd
// named it with its value.
func (g *globals) printOption(o *sockdv1.SocketOption) error {
	if g.output == "table" {
		_, err := fmt.Fprintln(g.out, o.GetValue())
		return err
	}
	return g.printer().message(o)
}
