package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newSetoptCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "setopt ID OPTION VALUE",
		Short: "Set a socket option, as setsockopt(); prints the value the kernel reports",
		Long: `Set a socket option by its socket(7)/tcp(7)/ip(7) name (case-insensitive, SO_
prefix and all). Booleans are 0/1 (on/off, true/false also work); SO_LINGER is
seconds, -1 for off. The value printed is read back from the kernel
(SO_RCVBUF comes back doubled).`,
		Example: `  sockctl setopt web reuseaddr 1
  sockctl setopt conn TCP_NODELAY on
  sockctl setopt conn so_linger 0     # close() then resets the connection`,
		Args:              cobra.ExactArgs(3),
		ValidArgsFunction: g.completeSockets(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseOptionValue(args[2])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			id, err := g.resolve(ctx, args[0])
			if err != nil {
				return err
			}
			name := optionName(args[1])
			got, err := c.SetOption(ctx, id, name, v)
			if err != nil {
				return err
			}
			return g.printOption(name, got)
		},
	}
}

// optionName accepts "reuseaddr" for SO_REUSEADDR, "nodelay" for TCP_NODELAY.
func optionName(s string) string {
	u := strings.ToUpper(s)
	switch {
	case strings.HasPrefix(u, "SO_"), strings.HasPrefix(u, "TCP_"), strings.HasPrefix(u, "IP_"), strings.HasPrefix(u, "IPV6_"):
		return u
	case strings.HasPrefix(u, "NODELAY"), strings.HasPrefix(u, "KEEPIDLE"), strings.HasPrefix(u, "KEEPINTVL"), strings.HasPrefix(u, "KEEPCNT"):
		return "TCP_" + u
	case u == "TTL", u == "TOS":
		return "IP_" + u
	case u == "V6ONLY":
		return "IPV6_" + u
	}
	return "SO_" + u
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

func (g *globals) printOption(name string, v int64) error {
	if g.output == "table" {
		_, err := fmt.Fprintln(g.out, v)
		return err
	}
	return g.printer().message(&sockdv1.SocketOption{Option: name, Value: v})
}
