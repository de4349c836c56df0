package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// socketFlags are the flags of commands that create a socket.
type socketFlags struct {
	g       *globals
	ipv6    bool
	name    string
	labels  []string
	timeout string
	opts    []string
	idle    string
}

func (f *socketFlags) register(g *globals, cmd *cobra.Command) {
	f.g = g
	cmd.Flags().BoolVarP(&f.ipv6, "ipv6", "6", false, "an IPv6 socket (AF_INET6)")
	cmd.Flags().StringVar(&f.name, "name", "", "a name for the socket, usable instead of its id")
	cmd.Flags().StringArrayVarP(&f.labels, "label", "l", nil, "a label k=v (repeatable)")
	cmd.Flags().Var(durationFlag{&f.timeout}, "sock-timeout", "the socket's default timeout: a duration, 0 (non-blocking) or none")
	cmd.Flags().StringArrayVar(&f.opts, "opt", nil, "a socket option NAME=VALUE set first, e.g. --opt reuseaddr=1 (repeatable)")
	cmd.Flags().Var(durationFlag{&f.idle}, "idle-timeout", "close the socket when idle this long (0: never; default: the daemon's)")
}

// options turns the flags into CreateOptions for a protocol.
func (f *socketFlags) options(proto string) (client.CreateOptions, error) {
	o := client.CreateOptions{IPv6: f.ipv6, Name: f.name, LeaseID: f.g.lease}
	switch proto {
	case "tcp":
	case "udp":
		o.UDP = true
	default:
		return o, usagef("protocol %q: want tcp or udp", proto)
	}
	var err error
	if o.Labels, err = parseLabels(f.labels); err != nil {
		return o, err
	}
	if f.timeout != "" {
		if o.Timeout, err = parseTimeout(f.timeout); err != nil {
			return o, err
		}
	}
	if f.idle != "" {
		if o.IdleTimeout, err = parseTimeout(f.idle); err != nil || o.IdleTimeout == nil {
			return o, usagef("--idle-timeout %q: want a duration, or 0 for never", f.idle)
		}
	}
	for _, kv := range f.opts {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			return o, usagef("--opt %q: want NAME=VALUE", kv)
		}
		v, err := parseOptionValue(val)
		if err != nil {
			return o, err
		}
		if o.Options == nil {
			o.Options = map[string]int64{}
		}
		o.Options[name] = v // as typed: sockd reads socket(7) names and their unique suffixes
	}
	return o, nil
}

// create makes a socket and prints it.
func (g *globals) create(cmd *cobra.Command, o client.CreateOptions) error {
	return g.do(cmd, func(ctx context.Context, c *client.Client) error {
		s, err := c.Create(ctx, o)
		if err != nil {
			return err
		}
		return g.printCreated(s)
	})
}

// printCreated prints a new socket: its id in table mode (for $(...)), the
// whole socket otherwise.
func (g *globals) printCreated(s *sockdv1.Socket) error { return g.created(s.GetId(), s) }

func newCreateCommand(g *globals) *cobra.Command {
	var f socketFlags
	cmd := &cobra.Command{
		Use:   "create tcp|udp",
		Short: "Create a socket, as socket(); prints its id",
		Example: `  sockctl create tcp --name web -l suite=demo
  ID=$(sockctl create udp --ipv6)
  sockctl create tcp --opt so_reuseaddr=1`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: protocols,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(args[0])
			if err != nil {
				return err
			}
			return g.create(cmd, o)
		},
	}
	f.register(g, cmd)
	return cmd
}

// protocols complete the first argument of the commands that create a
// socket.
var protocols = []cobra.Completion{"tcp", "udp"}

// parseTimeout reads a socket timeout: a duration, 0 (non-blocking), or
// none (blocking: nil).
func parseTimeout(s string) (*time.Duration, error) {
	if s == "none" || s == "None" {
		return nil, nil
	}
	if s == "0" {
		d := time.Duration(0)
		return &d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return nil, usagef("timeout %q: want a duration such as 5s, 0 (non-blocking) or none (blocking)", s)
	}
	return &d, nil
}
