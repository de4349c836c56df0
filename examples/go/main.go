// Command tutorial is the Python socket tutorial's echo server and echo
// client written against sockd with the Go client (package client): the
// socket is a real kernel socket held by sockd, used here as a net.Listener
// and a net.Conn.
//
//	go run ./examples/go server [ADDR]   # sockd listens on ADDR and echoes one client
//	go run ./examples/go client [ADDR]   # sockd connects to ADDR, says hello, prints the answer
//
// ADDR is 127.0.0.1:65432 unless given; sockd is at -sockd (or $SOCKD_ADDR,
// or 127.0.0.1:50051).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/sockd/sockd/client"
)

func main() {
	sockd := flag.String("sockd", envOr("SOCKD_ADDR", client.DefaultAddr), "sockd's gRPC address (env SOCKD_ADDR)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: tutorial [-sockd HOST:PORT] server|client [ADDR]")
		flag.PrintDefaults()
	}
	flag.Parse()
	addr := "127.0.0.1:65432"
	if flag.NArg() == 2 {
		addr = flag.Arg(1)
	}
	if flag.NArg() < 1 || flag.NArg() > 2 {
		flag.Usage()
		os.Exit(2)
	}

	// Ctrl-C ends the context; the sockets close with it (sockd holds
	// them, not this process: they would stay open there otherwise).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	c, err := client.Dial(*sockd)
	if err != nil {
		fail(err)
	}
	defer c.Close()

	switch flag.Arg(0) {
	case "server":
		err = echoServer(ctx, c, addr)
	case "client":
		err = echoClient(ctx, c, addr)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if ctx.Err() != nil {
		os.Exit(130) // interrupted: the sockets are closed
	}
	if err != nil {
		fail(err)
	}
}

// echoServer is the tutorial's echo-server.py: listen, accept one
// connection, send back what it sends until it closes.
func echoServer(ctx context.Context, c *client.Client, addr string) error {
	l, err := c.ListenTCP(ctx, addr)
	if err != nil {
		return err
	}
	defer l.Close()
	context.AfterFunc(ctx, func() { l.Close() })
	fmt.Println("Listening on", l.Addr())

	conn, err := l.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	context.AfterFunc(ctx, func() { conn.Close() })
	fmt.Println("Connected by", conn.RemoteAddr())

	buf := make([]byte, 1024)
	for {
		n, err := conn.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil // the client has closed
		}
		if err != nil {
			return err
		}
		if _, err := conn.Write(buf[:n]); err != nil {
			return err
		}
	}
}

// echoClient is the tutorial's echo-client.py: connect, send a greeting,
// print the answer.
func echoClient(ctx context.Context, c *client.Client, addr string) error {
	conn, err := c.DialTCP(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	context.AfterFunc(ctx, func() { conn.Close() })

	if _, err := conn.Write([]byte("Hello, world")); err != nil {
		return err
	}
	buf := make([]byte, 1024)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	fmt.Printf("Received %q\n", buf[:n])
	return nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tutorial:", err)
	os.Exit(1)
}
