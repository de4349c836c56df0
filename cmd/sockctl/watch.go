package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newWatchCommand(g *globals) *cobra.Command {
	var (
		since  int64
		labels []string
		socket string
		kinds  []string
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Show socket events as they happen, one line each",
		Long: `Watch prints each event — created, bound, listening, accepted, connected,
shutdown, closed, error — as one line: its sequence number, time, kind,
socket, state, addresses and detail. With --since N it first replays the kept
events after N (0: all kept), and says so when some are no longer kept.
With -o json it prints one JSON object per line.`,
		Example: `  sockctl watch
  sockctl watch -l suite=demo --kind accepted,closed
  sockctl watch --since 0 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &sockdv1.WatchEventsRequest{LabelSelector: selector(labels)}
			if cmd.Flags().Changed("since") {
				if since < 0 {
					return usagef("--since must not be negative")
				}
				s := uint64(since)
				req.Since = &s
			}
			for _, k := range kinds {
				for _, k := range strings.Split(k, ",") {
					v, ok := sockdv1.EventKind_value["EVENT_KIND_"+strings.ToUpper(k)]
					if !ok {
						return usagef("--kind %q: want created, bound, listening, accepted, connected, shutdown, closed or error", k)
					}
					req.Kinds = append(req.Kinds, sockdv1.EventKind(v))
				}
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				if socket != "" {
					s, err := g.resolve(ctx, c, socket)
					if err != nil {
						return err
					}
					req.SocketId = s.GetId()
				}
				for ev, err := range c.Watch(ctx, req) {
					if err != nil {
						return err
					}
					if g.output != "table" {
						b, err := stableJSON(ev, "")
						if err != nil {
							return err
						}
						fmt.Fprintf(g.out, "%s\n", b)
						continue
					}
					fmt.Fprintln(g.out, eventLine(ev))
				}
				return nil
			})
		},
	}
	cmd.Flags().Int64Var(&since, "since", 0, "replay the kept events after this sequence number first")
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "only sockets with this label k=v (repeatable)")
	cmd.Flags().StringVar(&socket, "socket", "", "only this socket (id, name or prefix)")
	cmd.Flags().StringArrayVar(&kinds, "kind", nil, "only these kinds, comma-separated (repeatable)")
	return cmd
}

// eventLine is one event as a line of text.
func eventLine(ev *sockdv1.Event) string {
	kind := strings.ToLower(strings.TrimPrefix(ev.GetKind().String(), "EVENT_KIND_"))
	t := ev.GetTime().AsTime().Local().Format(time.TimeOnly + ".000")
	if ev.GetKind() == sockdv1.EventKind_EVENT_KIND_MISSED {
		return fmt.Sprintf("%-6s %s %-10s %d events not delivered", "-", t, kind, ev.GetMissed())
	}
	s := ev.GetSocket()
	who := s.GetId()
	if s.GetName() != "" {
		who += " (" + s.GetName() + ")"
	}
	addrs := dash(s.GetLocalAddress())
	if s.GetRemoteAddress() != "" {
		addrs += " <-> " + s.GetRemoteAddress()
	}
	line := fmt.Sprintf("%-6d %s %-10s %s %s %s %s", ev.GetSeq(), t, kind, who, proto4(s), state(s.GetState()), addrs)
	if ev.GetDetail() != "" {
		line += "  " + ev.GetDetail()
	}
	return line
}
