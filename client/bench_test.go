package client

import (
	"fmt"
	"io"
	"testing"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// The Attach write path, client and sockd's service in one process, into a
// local peer that discards: bytes per second at 64 KiB and 1 KiB writes.
func BenchmarkConnWrite(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			d := startDaemon(b, daemonConfig{})
			c, err := Dial(d.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ch, addr := listenOnce(b)
			conn, err := c.DialTCP(b.Context(), addr)
			if err != nil {
				b.Fatal(err)
			}
			p := <-ch
			go io.Copy(io.Discard, p)
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			conn.Close()
			p.Close()
		})
	}
}

// Recv of 1 KiB from a peer that keeps the socket full, as the client does
// it (with stream offsets) and as a bare call without them.
func BenchmarkRecv1KiB(b *testing.B) {
	d := startDaemon(b, daemonConfig{})
	c, err := Dial(d.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ch, addr := listenOnce(b)
	sock, err := c.Create(b.Context(), CreateOptions{Connect: addr})
	if err != nil {
		b.Fatal(err)
	}
	p := <-ch
	defer p.Close()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := p.Write(buf); err != nil {
				return
			}
		}
	}()
	b.Run("client", func(b *testing.B) {
		for range b.N {
			if _, _, err := c.Recv(b.Context(), sock.GetId(), RecvOptions{MaxBytes: 1 << 10}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-offsets", func(b *testing.B) {
		s, _ := c.Get(b.Context(), sock.GetId())
		off := int64(s.GetBytesReceived())
		for range b.N {
			resp, err := c.API().Recv(b.Context(), &sockdv1.RecvRequest{Id: sock.GetId(), MaxBytes: 1 << 10, FromOffset: &off})
			if err != nil {
				b.Fatal(err)
			}
			off += int64(len(resp.GetData()))
		}
	})
	b.Run("bare", func(b *testing.B) {
		for range b.N {
			if _, err := c.API().Recv(b.Context(), &sockdv1.RecvRequest{Id: sock.GetId(), MaxBytes: 1 << 10}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
