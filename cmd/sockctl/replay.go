package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newReplayCommand(g *globals) *cobra.Command {
	var (
		to      string
		side    string
		speed   string
		stream  int
		timeout string
	)
	cmd := &cobra.Command{
		Use:   "replay FILE --to ADDR [--side client|server] [--speed N|max] [--stream N]",
		Short: "Play one side of a recorded conversation again, through a new sockd socket, with its timing",
		Long: `Replay what one side of a TCP conversation or a UDP flow sent, from a pcap or
pcapng file (sockd's 'capture dump -w', tcpdump's, tshark's; gzipped too;
FILE - reads standard input), through a new socket of sockd's, keeping the
file's gaps on sockd's host.

--side client (the default): sockd connects to ADDR and sends what the client
sent. --side server: sockd listens on ADDR, takes one connection (or waits for
the first datagram) and sends what the server sent. --speed 2 halves the gaps,
--speed max sends without waiting. --stream N picks a conversation of the file
(tshark's tcp.stream numbering, or udp.stream for a file with no TCP). Here
--timeout is how long sockd waits for the peer and, after the last send, for
its answers (default 5s), not a limit for the whole replay.`,
		Example: `  sockctl capture dump --proxy redis -w redis.pcapng
  sockctl replay redis.pcapng --to 127.0.0.1:6379
  sockctl replay redis.pcapng --to 127.0.0.1:6379 --speed max --stream 1
  sockctl replay tcpdump.pcap --to 127.0.0.1:8080 --side server`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usagef("replay to where? give --to ADDR")
			}
			o := client.ReplayOptions{To: to, Stream: stream}
			switch side {
			case "client":
			case "server":
				o.Server = true
			default:
				return usagef("--side %q: want client or server", side)
			}
			if speed == "max" {
				o.Max = true
			} else {
				v, err := strconv.ParseFloat(speed, 64)
				if err != nil || !(v > 0) || v > 1e6 {
					return usagef("--speed %q: want a factor such as 1, 2 or 0.5, or max", speed)
				}
				o.Speed = v
			}
			if stream < 0 {
				return usagef("--stream %d: want 0 or more", stream)
			}
			if timeout != "" {
				d, err := parseDuration("timeout", timeout)
				if err != nil {
					return err
				}
				o.Timeout = &d
			}
			var err error
			if args[0] == "-" {
				o.File, err = io.ReadAll(g.in)
			} else {
				o.File, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				res, err := c.Replay(ctx, o)
				if err != nil {
					return err
				}
				if g.output != "table" {
					return g.printer().message(res)
				}
				tw := tabwriter.NewWriter(g.out, 0, 4, 1, ' ', 0)
				row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
				row("Socket", res.GetSocketId()+" (closed)")
				row("Local", dash(res.GetLocalAddress()))
				row("Remote", dash(res.GetRemoteAddress()))
				row("Sent", fmt.Sprintf("%d bytes in %d messages", res.GetBytesSent(), res.GetMessagesSent()))
				row("Received", fmt.Sprintf("%d bytes", res.GetBytesReceived()))
				row("Duration", res.GetDuration().AsDuration().String())
				return tw.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "connect to (client side) or listen on (server side) this address, host:port")
	f.StringVar(&side, "side", "client", "which side to play: client or server")
	f.StringVar(&speed, "speed", "1", "how fast: 1 keeps the file's gaps, 2 halves them, max does not wait")
	f.IntVar(&stream, "stream", 0, "which conversation of the file (tshark's stream index)")
	f.StringVar(&timeout, "timeout", "", "how long to wait for the peer and for its last answers (default 5s)")
	_ = cmd.RegisterFlagCompletionFunc("side", flagWords("client", "server"))
	_ = cmd.RegisterFlagCompletionFunc("speed", flagWords("1", "2", "max"))
	return cmd
}
