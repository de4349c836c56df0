package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newAttachCommand(g *globals) *cobra.Command {
	var (
		to         string
		recvOffset int64
	)
	cmd := &cobra.Command{
		Use:   "attach ID",
		Short: "Attach the terminal to a socket, like nc: standard input to the socket, the socket to standard output",
		Long: `Attach copies standard input to the socket and what the socket receives to
standard output, as nc does. At the end of standard input the socket's
writing side is shut down (the peer reads EOF). When the peer closes, only
receiving ends: standard input is still sent to its end (a peer may
half-close and go on reading, as nc -N and socat expect). Attach returns when
both are done. Ctrl-C ends the attachment and leaves the socket open.

No byte is lost or doubled if the connection to sockd breaks: the stream is
resumed where it stood. A received byte counts as delivered once it is
written to standard output; if attach is killed, the bytes sockd sent that
were not written yet are still held by sockd, and 'attach --recv-offset N'
receives again from stream offset N (the offset of the first byte not
written; on Ctrl-C attach prints it). For a connection that attach was the
first to read, N is the number of bytes of output.

On a UDP socket each read of standard input is one datagram, sent to the
connected peer or to --to; received datagrams are written out as they come,
until Ctrl-C.`,
		Example: `  sockctl attach $(sockctl connect tcp 127.0.0.1:8090)
  sockctl attach conn < request.bin > response.bin
  sockctl attach conn --recv-offset $(stat -c %s response.bin) >> response.bin   # after attach was killed
  sockctl attach udp1 --to 127.0.0.1:5353`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeArgs(g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.onID(cmd, args[0], func(ctx context.Context, c *client.Client, s *sockdv1.Socket) error {
				if s.GetProtocol() == sockdv1.Protocol_PROTOCOL_UDP {
					if cmd.Flags().Changed("recv-offset") {
						return usagef("--recv-offset: UDP has no stream offsets")
					}
					return g.attachUDP(ctx, c, s, to)
				}
				if to != "" {
					return usagef("--to is for UDP sockets")
				}
				var opts []client.AttachOption
				if cmd.Flags().Changed("recv-offset") {
					if recvOffset < 0 {
						return usagef("--recv-offset must not be negative")
					}
					opts = append(opts, client.FromRecvOffset(recvOffset))
				}
				return g.attachTCP(ctx, c, s, opts)
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "UDP: send each datagram to this address (default: the connected peer)")
	cmd.Flags().Int64Var(&recvOffset, "recv-offset", 0, "TCP: receive from this stream offset (to resume after an attach that was killed)")
	return cmd
}

// attachTCP is attach on a stream socket, through the client's Conn.
func (g *globals) attachTCP(ctx context.Context, c *client.Client, s *sockdv1.Socket, opts []client.AttachOption) error {
	conn, err := c.Conn(ctx, s.GetId(), opts...)
	if err != nil {
		return err
	}
	// Ctrl-C (or --timeout) wakes the copies up.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	widenPipe(g.in)
	sent := make(chan error, 1)
	go func() {
		_, err := conn.ReadFrom(g.in)
		if err == nil {
			err = conn.CloseWrite() // the end of input: shutdown(write)
		}
		sent <- err
	}()
	_, recvErr := conn.WriteTo(g.out) // until the peer closes
	var sendErr error
	if recvErr == nil {
		// The peer closed its side; ours goes on to the end of input.
		select {
		case sendErr = <-sent:
		case <-ctx.Done():
		}
	}
	detachErr := conn.Detach()
	if ctx.Err() != nil {
		recv, _ := conn.Offsets()
		fmt.Fprintf(g.err, "sockctl: detached from %s; received up to offset %d (to go on from there: sockctl attach %s --recv-offset %d)\n", s.GetId(), recv, s.GetId(), recv)
		return ctx.Err()
	}
	return firstOf(recvErr, sendErr, detachErr)
}

// attachUDP is attach on a datagram socket, through the client's
// PacketConn: until Ctrl-C.
func (g *globals) attachUDP(ctx context.Context, c *client.Client, s *sockdv1.Socket, to string) error {
	pc, err := c.PacketConn(ctx, s.GetId())
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { pc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	failed := make(chan error, 2)
	go func() {
		buf := make([]byte, 65507) // the largest UDP payload over IPv4
		for {
			n, err := g.in.Read(buf)
			if n > 0 {
				var werr error
				if to != "" {
					_, werr = pc.WriteTo(buf[:n], udpAddr(to))
				} else {
					_, werr = pc.Write(buf[:n])
				}
				if werr != nil {
					failed <- werr
					return
				}
			}
			if err == io.EOF {
				return // receiving goes on: UDP has no end of stream
			}
			if err != nil {
				failed <- err
				return
			}
		}
	}()
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				failed <- err
				return
			}
			if _, err := g.out.Write(buf[:n]); err != nil {
				failed <- err
				return
			}
		}
	}()
	var runErr error
	select {
	case runErr = <-failed:
	case <-ctx.Done():
	}
	detachErr := pc.Detach()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return firstOf(runErr, detachErr)
}

// udpAddr is a destination as sockd reads it (host:port).
type udpAddr string

func (a udpAddr) Network() string { return "udp" }
func (a udpAddr) String() string  { return string(a) }

func firstOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// widenPipe gives a pipe on standard input a 1 MiB buffer (F_SETPIPE_SZ,
// where allowed): the writer then blocks less, and each read returns up to
// a whole message's worth instead of 64 KiB.
func widenPipe(in io.Reader) {
	f, ok := in.(*os.File)
	if !ok {
		return
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	_, _ = unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
}
