package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/client"
)

// The memory burst of issue 11: what a burst of hostile HTTP clients costs
// sockd, and whether it gives the memory back.
const (
	burstWatchers  = 1000      // REST event watchers that never read
	burstBodies    = 20        // requests with bodies far over the limit
	burstBodyBytes = 100 << 20 // each
	burstEvents    = 2000      // socket events for the watchers to hold (create + close)
	recoveryWindow = time.Minute
)

// memoryCases: a fresh sockd's resident memory (/proc/PID/status VmRSS)
// before a burst, at its peak, and how soon after the burst it is back
// within twice the baseline — at most a minute. A benchmark figure, not a
// test: the case reports what it saw.
func memoryCases(ctx context.Context, env *env) ([]result, error) {
	e, err := startSockd(ctx, env.o.sockd)
	if err != nil {
		return nil, err
	}
	defer e.close()
	pid := e.cmd.Process.Pid
	// A few calls first, so that the baseline is a sockd that has served.
	for range 10 {
		if _, err := e.c.List(ctx, client.ListOptions{}); err != nil {
			return nil, err
		}
	}
	baseline, err := settledRSS(pid)
	if err != nil {
		return nil, err
	}
	var peak atomic.Int64
	peak.Store(baseline)
	sampling, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampling.Err() == nil {
			if n, err := rss(pid); err == nil && n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	// The big bodies first, then the watchers (which fill sockd's HTTP
	// connection cap), then events for the watchers to hold.
	var codes sync.Map // status code (0: the connection closed first) → count
	var wg sync.WaitGroup
	for range burstBodies {
		wg.Go(func() {
			n, _ := codes.LoadOrStore(postBigBody(e.pprofAddr), new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		})
	}
	time.Sleep(200 * time.Millisecond) // the bodies' connections are in
	// The watchers: each asks for the event feed and reads nothing.
	var watchers []net.Conn
	for range burstWatchers {
		c, err := net.Dial("tcp4", e.pprofAddr)
		if err != nil {
			break // refused: the connection cap at work
		}
		if _, err := io.WriteString(c, "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			c.Close()
			break
		}
		watchers = append(watchers, c)
	}
	for range burstEvents / 2 {
		s, err := e.c.Create(ctx, client.CreateOptions{})
		if err != nil {
			return nil, err
		}
		if _, err := e.c.CloseSocket(ctx, s.GetId()); err != nil {
			return nil, err
		}
	}
	wg.Wait()
	// Whether sockd served each watcher or closed it (its connection cap):
	// the first bytes of the answer tell, read only now.
	served, closed := 0, 0
	for _, c := range watchers {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		head := make([]byte, 12)
		if n, err := io.ReadFull(c, head); n == len(head) && string(head) == "HTTP/1.1 200" {
			served++
		} else if err != nil && !isTimeout(err) {
			closed++
		}
		c.Close()
	}
	burstEnd := time.Now()

	// Back within twice the baseline, and how soon.
	back, after := time.Duration(-1), int64(0)
	for time.Since(burstEnd) < recoveryWindow {
		if after, err = rss(pid); err != nil {
			return nil, err
		}
		if after <= 2*baseline {
			back = time.Since(burstEnd)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	stopSampling()
	<-sampled
	when := "not within a minute"
	if back >= 0 {
		when = fmt.Sprintf("after %.1f s", back.Seconds())
	}
	return []result{{
		Case: "memory-after-burst", Unit: "B", Sockd: float64(after), Baseline: float64(baseline), Against: "its RSS before the burst",
		Ratio: float64(after) / float64(baseline), Target: "<= 2",
		Note: fmt.Sprintf("RSS %.0f MB before, %.0f MB at the peak, %.0f MB %s; of %d silent watchers %d were served and %d closed by sockd; %d MiB bodies answered %s",
			float64(baseline)/1e6, float64(peak.Load())/1e6, float64(after)/1e6, when, burstWatchers, served, closed, burstBodyBytes>>20, answers(&codes)),
	}}, nil
}

// answers sums the bodies' status codes up: "413 ×18, closed ×2".
func answers(codes *sync.Map) string {
	var parts []string
	codes.Range(func(k, v any) bool {
		what := "closed"
		if code := k.(int); code != 0 {
			what = strconv.Itoa(code)
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", what, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// postBigBody POSTs a body of burstBodyBytes to the gateway (streamed, not
// held in memory here) and returns the status code sockd answered, or 0.
func postBigBody(addr string) int {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	head := "POST /v1/sockets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(burstBodyBytes) + "\r\n\r\n"
	status := make(chan int, 1)
	go func() {
		line, err := bufio.NewReader(c).ReadString('\n')
		code := 0
		if f := strings.Fields(line); err == nil && len(f) >= 2 {
			code, _ = strconv.Atoi(f[1])
		}
		status <- code
	}()
	if _, err := io.WriteString(c, head); err == nil {
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = ' ' // JSON whitespace: a body sockd would have to read to refuse
		}
		for left := burstBodyBytes; left > 0; left -= len(chunk) {
			if _, err := c.Write(chunk[:min(len(chunk), left)]); err != nil {
				break // sockd stopped reading: it answered already
			}
		}
	}
	return <-status
}
