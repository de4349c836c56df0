package relay_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// stream is a reproducible byte stream: the writer and the checker make the
// same bytes from the same seed.
type stream struct{ r *rand.Rand }

func newStream(seed uint64) *stream {
	return &stream{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (s *stream) fill(b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], s.r.Uint64())
	}
}

// send writes total bytes of the stream in writes of varying sizes, then
// half-closes.
func sendStream(c *net.TCPConn, seed uint64, total int) error {
	s := newStream(seed)
	buf := make([]byte, 256<<10)
	sizes := rand.New(rand.NewPCG(seed, 7))
	for sent := 0; sent < total; {
		n := min(total-sent, 8*(1+sizes.IntN(len(buf)/8)))
		s.fill(buf[:n])
		if _, err := c.Write(buf[:n]); err != nil {
			return fmt.Errorf("write at %d: %w", sent, err)
		}
		sent += n
	}
	return c.CloseWrite()
}

// checkStream reads until EOF and checks every byte against the stream.
func checkStream(c *net.TCPConn, seed uint64, total int) error {
	// Writes are multiples of 8 bytes, so the stream is generated in the
	// same 8-byte words whatever the reads' sizes.
	s := newStream(seed)
	want := make([]byte, 0, 512<<10)
	buf := make([]byte, 300<<10)
	got := 0
	for {
		n, err := c.Read(buf)
		if n > 0 {
			for len(want) < n {
				var w [8]byte
				s.fill(w[:])
				want = append(want, w[:]...)
			}
			if !bytes.Equal(buf[:n], want[:n]) {
				i := 0
				for buf[i] == want[i] {
					i++
				}
				return fmt.Errorf("byte %d differs", got+i)
			}
			want = append(want[:0], want[n:]...)
			got += n
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read at %d: %w", got, err)
		}
	}
	if got != total {
		return fmt.Errorf("got %d bytes, want %d", got, total)
	}
	return nil
}

// TestSwitchingPathsLosesNoByte sends a checked stream of 128 MiB each way
// through a relay while faults are added, updated and removed every few
// MiB, in both directions: every switch between splice and the user path
// must keep every byte, once, in order.
func TestSwitchingPathsLosesNoByte(t *testing.T) {
	total := 128 << 20
	if testing.Short() {
		total = 16 << 20
	}
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair()
	target := relay.Target{Relay: p.relay.ID}

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	run := func(f func() error) {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- f() }()
	}
	run(func() error { return sendStream(p.client, 1, total) })
	run(func() error { return checkStream(p.server, 1, total) })
	run(func() error { return sendStream(p.server, 2, total) })
	run(func() error { return checkStream(p.client, 2, total) })
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Each step changes the faults once the relay has moved a few more MiB.
	steps := []func(d relay.Direction) error{
		func(d relay.Direction) error { // latency: the user path
			_, err := e.rm.AddFault(me, target, relay.Fault{Name: "lat", Direction: d, Params: relay.LatencyParams{Latency: time.Millisecond, Jitter: time.Millisecond}})
			return err
		},
		func(d relay.Direction) error { // a live update, and bandwidth on top
			if _, err := e.rm.UpdateFault(me, target, relay.Fault{Name: "lat", Params: relay.LatencyParams{Latency: 2 * time.Millisecond}}, []string{"latency.latency"}); err != nil {
				return err
			}
			_, err := e.rm.AddFault(me, target, relay.Fault{Name: "bw", Direction: d, Params: relay.BandwidthParams{Rate: 400 << 20}})
			return err
		},
		func(d relay.Direction) error { // back to splice, shaped
			_, err := e.rm.RemoveFault(me, target, "lat")
			return err
		},
		func(d relay.Direction) error { // slicer: the user path again
			_, err := e.rm.AddFault(me, target, relay.Fault{Name: "slice", Direction: d, Params: relay.SlicerParams{AverageSize: 48 << 10, SizeVariation: 16 << 10}})
			return err
		},
		func(d relay.Direction) error { // a blackhole for a moment
			if _, err := e.rm.RemoveFault(me, target, "slice"); err != nil {
				return err
			}
			if _, err := e.rm.AddFault(me, target, relay.Fault{Name: "hole", Direction: d, Type: relay.FaultBlackhole}); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond)
			_, err := e.rm.RemoveFault(me, target, "hole")
			return err
		},
		func(d relay.Direction) error { // plain splice
			_, err := e.rm.RemoveFault(me, target, "bw")
			return err
		},
	}
	every := uint64(total / 40) // 3.2 MiB of the full 128
	switches := 0
	next := every
	deadline := time.Now().Add(5 * time.Minute)
loop:
	for i := 0; time.Now().Before(deadline); {
		select {
		case <-done:
			break loop
		case <-time.After(time.Millisecond):
		}
		info, err := e.rm.Relay(me, p.relay.ID)
		if err != nil {
			break // the relay ended: both streams are through
		}
		if min(info.BytesUpstream, info.BytesDownstream) < next {
			continue
		}
		d := relay.Upstream
		if i%2 == 1 {
			d = relay.Downstream
		}
		if err := steps[i%len(steps)](d); errors.Is(err, relay.ErrRelayNotFound) {
			break // both streams are through
		} else if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		i++
		switches++
		next += every
	}
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		t.Fatal("the streams did not finish")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d MiB each way, %d fault changes", total>>20, switches)
	if switches < 10 {
		t.Errorf("only %d fault changes happened", switches)
	}
}
