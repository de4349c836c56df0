package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/capture/textdump"
	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newCaptureCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Record what moves through sockets, and read it as pcapng or as a dump like tcpdump -X",
		Long: `Any socket can record what moves through it (bytes or datagrams with time,
direction and addresses, and its connect, accept, shutdown and close) into a
bounded ring, off until asked for: 'capture on ID', or --capture at 'proxy
create' (every socket of the proxy records). 'capture dump' exports the rings
as pcapng for Wireshark and tshark (-w), or prints them.`,
		Example: `  sockctl capture on web --ring 4MiB
  sockctl capture dump web                       # like tcpdump -X
  sockctl capture dump --proxy redis -w redis.pcapng
  sockctl capture dump web -w - --follow | tshark -r -
  sockctl capture off web`,
	}
	group(cmd)
	cmd.AddCommand(newCaptureSetCommand(g, true), newCaptureSetCommand(g, false), newCaptureDumpCommand(g))
	return cmd
}

func newCaptureSetCommand(g *globals, on bool) *cobra.Command {
	var ring string
	use, short := "on ID... [--ring SIZE]", "Start recording sockets (a new ring each)"
	if !on {
		use, short = "off ID...", "Stop recording sockets (their rings keep what they hold)"
	}
	cmd := &cobra.Command{
		Use:               use,
		Short:             short,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeEach(g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ringBytes int64
			if ring != "" {
				n, err := parseSize("ring", ring)
				if err != nil {
					return err
				}
				ringBytes = n
			}
			var socks []*sockdv1.Socket
			err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
				for _, ref := range args {
					s, err := g.resolve(ctx, c, ref)
					if err != nil {
						return err
					}
					if s, err = c.SetCapture(ctx, s.GetId(), on, ringBytes); err != nil {
						return err
					}
					socks = append(socks, s)
				}
				return nil
			})
			if len(socks) > 0 {
				if perr := g.printCaptures(socks); err == nil {
					err = perr
				}
			}
			return err
		},
	}
	if on {
		cmd.Flags().StringVar(&ring, "ring", "", "the ring's size, as 1MiB (default: sockd's --capture-ring); the oldest records go when it is full")
	}
	return cmd
}

// printCaptures prints sockets' capture status: a table (ID, NAME,
// CAPTURE, RING, HELD, DROPPED), or the sockets.
func (g *globals) printCaptures(socks []*sockdv1.Socket) error {
	p := g.printer()
	if g.output != "table" {
		return p.list(asMessages(socks))
	}
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCAPTURE\tRING\tHELD\tDROPPED")
	for _, s := range socks {
		c := s.GetCapture()
		onOff := "off"
		if c.GetEnabled() {
			onOff = "on"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s in %d records\t%s in %d records\n", shortID(s.GetId(), false), dash(s.GetName()), onOff,
			humanBytes(uint64(max(c.GetRingBytes(), 0))), humanBytes(uint64(max(c.GetBytes(), 0))), c.GetRecords(),
			humanBytes(uint64(max(c.GetDroppedBytes(), 0))), c.GetDroppedRecords())
	}
	return tw.Flush()
}

func newCaptureDumpCommand(g *globals) *cobra.Command {
	var (
		proxy  string
		write  string
		follow bool
		acks   bool
	)
	cmd := &cobra.Command{
		Use:   "dump [ID...] [--proxy P] [-w FILE|-] [--follow]",
		Short: "Export what sockets recorded: a dump like tcpdump -X, or pcapng with -w",
		Long: `Export the rings of the sockets named (by id or name; a closed socket's ring
is kept for a while, see sockd's --capture-retain), or of every socket of a
proxy (--proxy: both legs of each connection), or with neither every capture
of yours.

Without -w it prints each frame — time, socket, direction, protocol,
addresses, TCP flags, length — and its payload in hex and text, like
tcpdump -X. With -w FILE it writes the pcapng file that Wireshark and tshark
open and follow; -w - writes it to standard output.

--follow goes on with frames as they are captured (and, with --proxy, its new
connections), until Ctrl-C or --timeout, which then end it without an error;
what was written ends with a whole block, so the file stays valid:

  sockctl capture dump web -w - --follow | tshark -r -`,
		Example: `  sockctl capture dump web
  sockctl capture dump --proxy redis -w redis.pcapng && tshark -r redis.pcapng
  sockctl capture dump web --follow --timeout 30s`,
		ValidArgsFunction: completeEach(g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && proxy != "" {
				return usagef("give socket ids or --proxy, not both")
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				o := client.ReadCaptureOptions{Follow: follow}
				for _, ref := range args {
					// A closed socket's ring outlives it: a name or id
					// that no open socket has goes to sockd as typed.
					id := ref
					if s, err := g.resolve(ctx, c, ref); err == nil {
						id = s.GetId()
					} else if !errors.Is(err, client.ErrSocketNotFound) {
						return err
					}
					o.IDs = append(o.IDs, id)
				}
				if proxy != "" {
					o.Proxy = proxy
					if p, err := g.resolveProxy(ctx, c, proxy); err == nil {
						o.Proxy = p.GetId()
					} else if !errors.Is(err, client.ErrProxyNotFound) {
						return err
					}
				}
				// Following ends with --timeout (or Ctrl-C): that is the
				// way to stop it, not a failure. The timeout is a timer
				// of ours, not the call's deadline: with a deadline sockd
				// would end the stream too, and its RST_STREAM can come
				// before our own context says it is done.
				readCtx, cancel := context.WithCancel(ctx)
				defer cancel()
				var stopped atomic.Bool
				if follow && g.timeout > 0 {
					stop := time.AfterFunc(g.timeout, func() { stopped.Store(true); cancel() })
					defer stop.Stop()
				}
				r, err := c.ReadCapture(readCtx, o)
				if err != nil {
					return err
				}
				defer r.Close()
				err = g.dump(r, write, acks)
				if err != nil && follow && (stopped.Load() || cmd.Context().Err() != nil) {
					return nil
				}
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&proxy, "proxy", "", "every socket of this proxy")
	f.StringVarP(&write, "write", "w", "", "write pcapng to FILE (- : standard output) instead of the dump")
	f.BoolVar(&follow, "follow", false, "go on with frames as they are captured, until Ctrl-C or --timeout")
	f.BoolVar(&acks, "acks", false, "in the dump, also the TCP segments that only acknowledge")
	_ = cmd.RegisterFlagCompletionFunc("proxy", completeEach(g.proxyRefs))
	return cmd
}

// dump copies a capture stream to where -w says, or prints it. An error of
// the stream (sockd's answer to the selection) is returned as it is.
func (g *globals) dump(r io.Reader, write string, acks bool) error {
	src := &streamErr{r: r}
	var err error
	switch write {
	case "":
		err = textdump.Dump(g.out, src, textdump.Options{Acks: acks})
	case "-":
		_, err = io.Copy(g.out, src)
	default:
		f := &lazyFile{path: write}
		_, err = io.Copy(f, src)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if src.err != nil {
		return src.err
	}
	return err
}

// streamErr remembers the error of the stream it reads, so that sockd's
// answer is not hidden behind what the reader made of it.
type streamErr struct {
	r   io.Reader
	err error
}

func (s *streamErr) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// lazyFile is created at its first write: a dump that fails before any
// byte came leaves no empty file behind.
type lazyFile struct {
	path string
	f    *os.File
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil {
		f, err := os.Create(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	return l.f.Write(p)
}

func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
