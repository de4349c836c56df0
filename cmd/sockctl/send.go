package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// sendPiece is how much of the input send hands the client at a time.
const sendPiece = 4 << 20

func newSendCommand(g *globals) *cobra.Command {
	var (
		file    string
		partial bool
	)
	cmd := &cobra.Command{
		Use:   "send ID [TEXT]",
		Short: "Send TEXT, a file, or standard input on a connected socket, as sendall()",
		Example: `  sockctl send conn "hello"
  sockctl send conn --file big.bin          # a progress bar on a terminal
  printf 'GET / HTTP/1.0\r\n\r\n' | sockctl send conn`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeArgs(g.sockets),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, size, closeSrc, err := g.payload(args[1:], file)
			if err != nil {
				return err
			}
			defer closeSrc()
			return g.onID(cmd, args[0], func(ctx context.Context, c *client.Client, s *sockdv1.Socket) error {
				bar := g.progress(file != "", size)
				defer bar.done()
				// The client cuts what it is given into calls of the
				// server's size; reading a file in pieces of that order
				// keeps memory flat and the progress bar moving.
				buf := make([]byte, sendPiece)
				total := 0
				for {
					n, rerr := io.ReadFull(src, buf)
					if n > 0 {
						sent, err := c.Send(ctx, s.GetId(), buf[:n], !partial, g.callTimeout())
						total += sent
						bar.update(total)
						if err != nil {
							return err
						}
						if partial {
							break // one send(2), as socket.send()
						}
					}
					if rerr == io.EOF || errors.Is(rerr, io.ErrUnexpectedEOF) {
						break
					}
					if rerr != nil {
						return rerr
					}
				}
				return g.result(&sockdv1.SendResponse{BytesSent: int64(total)})
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "send this file's contents")
	cmd.Flags().BoolVar(&partial, "partial", false, "one send(2), which may take only part of the data (socket.send instead of sendall)")
	return cmd
}

// payload is what to send: the TEXT argument, the file, or standard input.
func (g *globals) payload(text []string, file string) (io.Reader, int64, func(), error) {
	switch {
	case len(text) > 0 && file != "":
		return nil, 0, nil, usagef("give TEXT or --file, not both")
	case len(text) > 0:
		return strings.NewReader(text[0]), int64(len(text[0])), func() {}, nil
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, 0, nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, nil, err
		}
		return f, st.Size(), func() { f.Close() }, nil
	}
	return g.in, -1, func() {}, nil
}

// progress draws a progress bar on standard error when it is a terminal and
// the output is a table; otherwise (pipes, -o json) it draws nothing.
func (g *globals) progress(wanted bool, size int64) *progressBar {
	f, ok := g.err.(*os.File)
	if !wanted || !ok || g.output != "table" || !term.IsTerminal(int(f.Fd())) {
		return &progressBar{}
	}
	return &progressBar{w: f, size: size}
}

type progressBar struct {
	w    io.Writer // nil: no bar
	size int64
}

func (b *progressBar) update(done int) {
	if b.w == nil {
		return
	}
	const width = 30
	frac := 1.0
	if b.size > 0 {
		frac = min(1, float64(done)/float64(b.size))
	}
	filled := int(frac * width)
	fmt.Fprintf(b.w, "\r[%s%s] %3.0f%% %s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, humanBytes(uint64(done)))
}

func (b *progressBar) done() {
	if b.w != nil {
		fmt.Fprintln(b.w)
	}
}
