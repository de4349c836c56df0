package capture_test

import (
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/sockd/sockd/capture"
)

// BenchmarkRecord is the cost of capture when it is on: one Sent per
// operation of the given size into a default ring (1 MiB) under the
// default budget, wrapping as a busy socket's does. "parallel" records
// from as many goroutines as GOMAXPROCS into one ring, alternating
// directions, as a socket's reader and writer do. (Capture off is the
// caller's nil hook: no call at all.)
func BenchmarkRecord(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 16 << 10, 64 << 10} {
		data := make([]byte, size)
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			r := capture.NewRing(capture.Meta{SocketID: "bench", Protocol: capture.TCP}, 0, capture.NewBudget(0))
			defer r.Release()
			now := time.Now()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				r.Sent(now, data, netip.AddrPort{})
			}
		})
		b.Run(fmt.Sprintf("size=%d/parallel", size), func(b *testing.B) {
			r := capture.NewRing(capture.Meta{SocketID: "bench", Protocol: capture.TCP}, 0, capture.NewBudget(0))
			defer r.Release()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				in := false
				for pb.Next() {
					if in {
						r.Received(time.Time{}, data, netip.AddrPort{})
					} else {
						r.Sent(time.Time{}, data, netip.AddrPort{})
					}
					in = !in
				}
			})
		})
	}
}

// BenchmarkExport is the cost of writing a full ring of 1 KiB records as
// pcapng (per record: its segment, the peer's ACK, serialised with
// checksums).
func BenchmarkExport(b *testing.B) {
	r := capture.NewRing(capture.Meta{SocketID: "bench", Protocol: capture.TCP}, 0, nil)
	defer r.Release()
	r.Connected(time.Time{}, netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"))
	data := make([]byte, 1<<10)
	for i := 0; i < 2000; i++ {
		r.Sent(time.Time{}, data, netip.AddrPort{})
	}
	st := r.Status()
	b.SetBytes(st.Bytes)
	b.ReportAllocs()
	for b.Loop() {
		if err := capture.WritePcapng(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.Records), "records/op")
}
