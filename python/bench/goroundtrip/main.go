// Command goroundtrip measures send+recv round trips through sockd with the
// Go client (github.com/sockd/sockd/client, over gRPC), for the Python
// benchmark (python/bench/roundtrip.py) to compare against: the same
// calls, Send(all) and Recv until the echo is back, against the same echo
// peer.
//
//	go run ./python/bench/goroundtrip -addr 127.0.0.1:50051 -echo 127.0.0.1:9000 -n 2000 -size 64
//
// It prints one JSON object: {"rtt_us": [...per-round-trip microseconds...]}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sockd/sockd/client"
)

func main() {
	addr := flag.String("addr", client.DefaultAddr, "sockd's gRPC address")
	echo := flag.String("echo", "", "the echo peer, host:port")
	n := flag.Int("n", 1000, "round trips")
	warm := flag.Int("warmup", 100, "round trips before measuring")
	size := flag.Int("size", 64, "bytes per round trip")
	flag.Parse()
	if err := run(*addr, *echo, *n, *warm, *size); err != nil {
		fmt.Fprintln(os.Stderr, "goroundtrip:", err)
		os.Exit(1)
	}
}

func run(addr, echo string, n, warm, size int) error {
	ctx := context.Background()
	c, err := client.Dial(addr, client.WithToken(os.Getenv("SOCKD_TOKEN")))
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.Create(ctx, client.CreateOptions{Connect: echo, Options: map[string]int64{"TCP_NODELAY": 1}})
	if err != nil {
		return err
	}
	defer func() { _, _ = c.CloseSocket(ctx, s.GetId()) }()
	msg := make([]byte, size)
	rtts := make([]float64, 0, n)
	for i := range warm + n {
		start := time.Now()
		if _, err := c.Send(ctx, s.GetId(), msg, true, nil); err != nil {
			return err
		}
		for got := 0; got < size; {
			data, eof, err := c.Recv(ctx, s.GetId(), client.RecvOptions{MaxBytes: int32(size - got)})
			if err != nil {
				return err
			}
			if eof {
				return fmt.Errorf("the echo peer closed")
			}
			got += len(data)
		}
		if i >= warm {
			rtts = append(rtts, float64(time.Since(start).Nanoseconds())/1e3)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"rtt_us": rtts})
}
