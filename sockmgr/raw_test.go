package sockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/sockmgr"
)

func TestTurnExcludesTheDirectionsOtherCalls(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	client, server := connectedPair(t, m)
	ctx := ctxT(t)
	rd, err := server.ReadTurn(ctx, 0)
	check(t, err)
	_, err = client.Send(ctx, []byte("x"), sockmgr.SendOptions{})
	check(t, err)
	// A Recv queues behind the held turn; a second holder cannot take it.
	if _, err := server.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 1, Timeout: dur(50 * time.Millisecond)}); !errors.Is(err, sockmgr.ErrTimeout) {
		t.Fatalf("recv while the read turn is held: %v", err)
	}
	if _, err := server.ReadTurn(ctx, 0); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("a second read turn: %v", err)
	}
	// The write direction is free.
	wr, err := server.WriteTurn(ctx, 0)
	check(t, err)
	wr.Release()
	rd.Release()
	rd.Release() // a second release does nothing
	if got := recvText(t, server, 1); got != "x" {
		t.Fatalf("recv after release: %q", got)
	}
}

func TestTurnWaitAndCount(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	client, server := connectedPair(t, m)
	ctx := ctxT(t)
	rd, err := server.ReadTurn(ctx, sockmgr.Blocking)
	check(t, err)
	defer rd.Release()
	buf := make([]byte, 16)
	n := 0
	recv := func(fd int) bool {
		got, err := unix.Read(fd, buf)
		if err == unix.EAGAIN {
			return false
		}
		n = got
		return true
	}
	// Cancelling the wait's context ends the wait, not the turn.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := rd.Wait(cctx, recv); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with nothing to read: %v", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = client.Send(context.Background(), []byte("hello"), sockmgr.SendOptions{})
	}()
	check(t, rd.Wait(ctx, recv))
	if string(buf[:n]) != "hello" {
		t.Fatalf("read %q", buf[:n])
	}
	before := server.Info().Counters.BytesReceived
	rd.Count(n, 0)
	if got := server.Info().Counters.BytesReceived; got != before+uint64(n) {
		t.Fatalf("bytes received %d, want %d", got, before+uint64(n))
	}
	if st := m.Stats(); st.BytesReceived[sockmgr.TCP] < uint64(n) {
		t.Fatalf("manager totals %v", st.BytesReceived)
	}
	// Closing the socket ends a wait with ErrClosed.
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = server.Close()
	}()
	if err := rd.Wait(ctx, recv); !errors.Is(err, sockmgr.ErrClosed) {
		t.Fatalf("wait on a closed socket: %v", err)
	}
	if _, err := server.ReadTurn(ctx, 0); !errors.Is(err, sockmgr.ErrNotFound) {
		t.Fatalf("turn of a closed socket: %v", err)
	}
}

func TestTurnUndelivered(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	client, server := connectedPair(t, m)
	ctx := ctxT(t)
	_, err := client.Send(ctx, []byte("kernel"), sockmgr.SendOptions{All: true})
	check(t, err)
	rd, err := server.ReadTurn(ctx, 0)
	check(t, err)
	if s, d := rd.TakeUndelivered(); s != nil || d != nil {
		t.Fatalf("undelivered on a fresh socket: %q %v", s, d)
	}
	rd.ReturnUndelivered([]byte("held "))
	rd.Release()
	if got := recvText(t, server, 11); got != "held kernel" {
		t.Fatalf("recv = %q, want the returned bytes first", got)
	}
	// Bytes a caller left behind (its context ended) are the holder's.
	wr, err := server.ReadTurn(ctx, 0)
	check(t, err)
	wr.ReturnUndelivered([]byte("abc"))
	s, _ := wr.TakeUndelivered()
	wr.Release()
	if string(s) != "abc" {
		t.Fatalf("taken %q", s)
	}
}

type denyAll struct{}

func (denyAll) Check(op sockmgr.Op, owner string, proto sockmgr.Protocol, addr netip.AddrPort) error {
	if addr.Port() == 9 {
		return fmt.Errorf("%w: no discard", sockmgr.ErrPolicyDenied)
	}
	return nil
}

func TestCheckAddress(t *testing.T) {
	m := newManager(t, sockmgr.Config{Policy: denyAll{}})
	ctx := ctxT(t)
	ap, err := m.CheckAddress(ctx, sockmgr.OpConnect, owner, sockmgr.TCP, sockmgr.IPv4, "localhost:8080")
	check(t, err)
	if ap.String() != "127.0.0.1:8080" {
		t.Fatalf("resolved %v", ap)
	}
	if _, err := m.CheckAddress(ctx, sockmgr.OpConnect, owner, sockmgr.TCP, sockmgr.IPv4, "127.0.0.1:9"); !errors.Is(err, sockmgr.ErrPolicyDenied) {
		t.Fatalf("denied port: %v", err)
	}
	if _, err := m.CheckAddress(ctx, sockmgr.OpConnect, owner, sockmgr.TCP, sockmgr.IPv4, "127.1:80"); !errors.Is(err, sockmgr.ErrInvalidAddress) {
		t.Fatalf("bad address: %v", err)
	}
	if _, err := m.CheckAddress(ctx, sockmgr.OpConnect, owner, sockmgr.TCP, sockmgr.IPv4, ":80"); !errors.Is(err, sockmgr.ErrInvalidAddress) {
		t.Fatalf("wildcard destination: %v", err)
	}
	if m.Len() != 0 {
		t.Fatal("CheckAddress made a socket")
	}
}
