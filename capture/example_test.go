package capture_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/sockd/sockd/capture"
	"github.com/sockd/sockd/capture/textdump"
)

// A socket's data path calls the ring's hook methods; an export writes the
// ring as pcapng, which ReadConversations and textdump read back.
func Example() {
	budget := capture.NewBudget(capture.DefaultBudgetBytes) // --capture-memory
	ring := capture.NewRing(capture.Meta{SocketID: "k3jx9q", Protocol: capture.TCP}, 0, budget)
	defer ring.Release()

	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	local, remote := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:8080")
	ring.Connected(t0, local, remote)
	ring.Sent(t0.Add(time.Millisecond), []byte("ping\n"), netip.AddrPort{})
	ring.Received(t0.Add(2*time.Millisecond), []byte("pong\n"), netip.AddrPort{})
	ring.PeerClosed(t0.Add(3 * time.Millisecond))
	ring.Closed(t0.Add(4 * time.Millisecond))
	st := ring.Status()
	fmt.Printf("ring: %d records, %d bytes, %d dropped\n", st.Records, st.Bytes, st.DroppedRecords)

	var file bytes.Buffer
	if err := capture.WritePcapng(&file, ring); err != nil {
		panic(err)
	}
	convs, err := capture.ReadConversations(bytes.NewReader(file.Bytes()), 1<<20)
	if err != nil {
		panic(err)
	}
	c, _ := capture.FindConversation(convs, 0)
	fmt.Printf("%v stream %d: %v -> %v\n", c.Protocol, c.Stream, c.Client, c.Server)
	for _, m := range c.Messages {
		fmt.Printf("  client %v at +%v: %q\n", m.FromClient, m.At.Sub(t0), m.Data)
	}
	if err := textdump.Dump(os.Stdout, &file, textdump.Options{Location: time.UTC}); err != nil {
		panic(err)
	}
	// Output:
	// ring: 5 records, 10 bytes, 0 dropped
	// tcp stream 0: 127.0.0.1:40000 -> 127.0.0.1:8080
	//   client true at +1ms: "ping\n"
	//   client false at +2ms: "pong\n"
	// 03:04:05.000000 k3jx9q out TCP 127.0.0.1:40000 > 127.0.0.1:8080 [S] length 0
	// 03:04:05.000000 k3jx9q in TCP 127.0.0.1:8080 > 127.0.0.1:40000 [S.] length 0
	// 03:04:05.001000 k3jx9q out TCP 127.0.0.1:40000 > 127.0.0.1:8080 [P.] length 5
	// 	0x0000:  7069 6e67 0a                             ping.
	// 03:04:05.002000 k3jx9q in TCP 127.0.0.1:8080 > 127.0.0.1:40000 [P.] length 5
	// 	0x0000:  706f 6e67 0a                             pong.
	// 03:04:05.003000 k3jx9q in TCP 127.0.0.1:8080 > 127.0.0.1:40000 [F.] length 0
	// 03:04:05.004000 k3jx9q out TCP 127.0.0.1:40000 > 127.0.0.1:8080 [F.] length 0
}
