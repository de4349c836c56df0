package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"time"
)

// socatSink is issue 14's sink: socat reading each connection into
// /dev/null with its default 8 KiB buffer (a process of its own per
// connection, fork). It counts nothing: the writer counts what it wrote,
// which the kernel's buffers make equal to what the sink took once they are
// full (after the warm-up).
type socatSink struct {
	cmd  *exec.Cmd
	addr string
}

func startSocatSink() (*socatSink, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &socatSink{addr: "127.0.0.1:" + port}
	s.cmd = exec.Command("socat", "-u", "TCP4-LISTEN:"+port+",bind=127.0.0.1,reuseaddr,fork", "OPEN:/dev/null")
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("socat (apt-get install socat): %w", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp4", s.addr)
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.close()
			return nil, fmt.Errorf("socat sink did not listen: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *socatSink) close() { s.cmd.Process.Kill(); s.cmd.Wait() }

// writerRate writes relayWrite-byte chunks to addr and measures what the
// writer got rid of per second.
func (e *env) writerRate(ctx context.Context, addr string) (float64, error) {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return e.connRateOut(ctx, c, nil), nil
}
