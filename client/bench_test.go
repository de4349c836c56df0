package client

import (
	"fmt"
	"io"
	"testing"
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
