package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/codec"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newAttachCommand(g *globals) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "attach ID",
		Short: "Attach the terminal to a socket, like nc: standard input to the socket, the socket to standard output",
		Long: `Attach copies standard input to the socket and what the socket receives to
standard output, as nc does. At the end of standard input the socket's
writing side is shut down (the peer reads EOF); attach returns when the peer
has closed and everything it sent is written out. Ctrl-C ends the attachment
and leaves the socket open.

On a UDP socket each read of standard input is one datagram, sent to the
connected peer or to --to; received datagrams are written out as they come.`,
		Example: `  sockctl attach $(sockctl connect tcp 127.0.0.1:8090)
  sockctl attach conn < request.bin > response.bin
  sockctl attach udp1 --to 127.0.0.1:5353`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeSockets(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			id, err := g.resolve(ctx, args[0])
			if err != nil {
				return interrupted(cmd, err)
			}
			stream, err := c.API().Attach(ctx, grpc.ForceCodecV2(codec.New()))
			if err != nil {
				return interrupted(cmd, client.FromError(err))
			}
			if err := stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: &sockdv1.AttachOpen{Id: id}}}); err != nil {
				return interrupted(cmd, client.FromError(err))
			}
			first, err := stream.Recv()
			if err != nil {
				return interrupted(cmd, client.FromError(err))
			}
			udp := first.GetSocket().GetProtocol() == sockdv1.Protocol_PROTOCOL_UDP
			// stdin → socket. The copy runs until standard input ends; a
			// failed send ends the stream, which the loop below reports.
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := g.in.Read(buf)
					if n > 0 {
						chunk := append([]byte(nil), buf[:n]...)
						m := &sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: chunk}}
						if udp && to != "" {
							m.Msg = &sockdv1.AttachRequest_Datagram{Datagram: &sockdv1.Datagram{Data: chunk, Address: to}}
						}
						if stream.Send(m) != nil {
							return
						}
					}
					if err != nil {
						_ = stream.CloseSend() // EOF: shutdown(write)
						return
					}
				}
			}()
			// socket → stdout, until the peer closes; one message, reused.
			m := &sockdv1.AttachResponse{}
			for {
				err := stream.RecvMsg(m)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return interrupted(cmd, client.FromError(err))
				}
				data := m.GetData()
				if d := m.GetDatagram(); d != nil {
					data = d.GetData()
				}
				if _, err := g.out.Write(data); err != nil {
					return err
				}
			}
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "UDP: send each datagram to this address (default: the connected peer)")
	return cmd
}
