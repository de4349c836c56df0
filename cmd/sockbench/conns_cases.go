package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/sockd/sockd/client"
)

// connsCallers is how many clients connect at once in the connection cases
// (as many as the control cases' callers).
const connsCallers = 8

// connsMost bounds each phase's connections: every one leaves a TIME_WAIT
// entry on each leg, and the ephemeral ports towards one address run out
// at about 28,000 within TIME_WAIT's minute.
const connsMost = 4000

// connsCases: connections per second through a sockd TCP proxy with no
// fault against toxiproxy v2.5.0 with no toxic (measured before and after,
// averaged), 8 clients at once. One connection is what a client of a
// proxied service pays for it: connect, send a byte, receive the upstream
// echo server's answer (so the upstream leg exists), close. A fresh echo
// server behind each proxy. The note gives the same loop straight to the
// echo server, and p99 of one connection.
func connsCases(ctx context.Context, e *env) ([]result, error) {
	toxi, err := e.toxiproxy(ctx)
	if err != nil {
		return nil, err
	}
	viaToxi := func() (float64, time.Duration, error) {
		echo, err := newEchoServer()
		if err != nil {
			return 0, 0, err
		}
		defer echo.Close()
		name := fmt.Sprintf("conns%d", nextName())
		listen, err := toxi.createProxy(ctx, name, echo.Addr().String())
		if err != nil {
			return 0, 0, err
		}
		defer toxi.deleteProxy(context.Background(), name)
		return e.connRate(ctx, listen)
	}
	toxi1, toxiP99a, err := viaToxi()
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: %w", err)
	}

	echo, err := newEchoServer()
	if err != nil {
		return nil, err
	}
	defer echo.Close()
	p, err := e.c.CreateProxy(ctx, client.ProxyOptions{Listen: "127.0.0.1:0", Upstream: echo.Addr().String()})
	if err != nil {
		return nil, err
	}
	meter := startCPU(e.cmd.Process.Pid, 0)
	viaSockd, sockdP99, err := e.connRate(ctx, p.GetListenAddress())
	cpu := meter.cores()
	e.c.DeleteProxy(context.Background(), p.GetId())
	if err != nil {
		return nil, fmt.Errorf("sockd proxy: %w", err)
	}

	toxi2, toxiP99b, err := viaToxi()
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: %w", err)
	}
	direct, _, err := e.connRate(ctx, echo.Addr().String())
	if err != nil {
		return nil, err
	}
	toxiRate := (toxi1 + toxi2) / 2
	note := fmt.Sprintf("p99 of a connection: sockd %s, toxiproxy %s; straight to the echo server %.0f conn/s; CPU in cores: sockd %.2f, clients + echo %.2f",
		ms(sockdP99), ms((toxiP99a+toxiP99b)/2), direct, cpu[0], cpu[1])
	return []result{{Case: "conns-proxy-vs-toxiproxy", Unit: "conn/s", Sockd: viaSockd, Baseline: toxiRate,
		Against: "toxiproxy v2.5.0, no toxic (mean of before and after)", Ratio: viaSockd / toxiRate, Target: ">= 1", Note: note}}, nil
}

// connRate runs connsCallers clients connecting to addr in a loop (one
// byte each way, then close) and returns connections per second and the
// p99 of one.
func (e *env) connRate(ctx context.Context, addr string) (float64, time.Duration, error) {
	return e.callsN(ctx, connsCallers, connsMost, func(ctx context.Context, _ int) error {
		c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		if _, err := c.Write(b[:]); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return fmt.Errorf("no answer through %s: %w", addr, err)
		}
		return nil
	})
}

// newEchoServer accepts connections and answers each one's first byte with
// a byte, then reads until the client closes and closes too.
func newEchoServer() (net.Listener, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				var b [1]byte
				if _, err := io.ReadFull(c, b[:]); err != nil {
					return
				}
				if _, err := c.Write(b[:]); err != nil {
					return
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return l, nil
}
