package relay_test

import (
	"encoding/binary"
	"errors"
	"math"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// udpPair is a relay of two connected sockd UDP sockets with Go peers:
// client ↔ a ⇄ b ↔ server.
type udpPair struct {
	client, server *net.UDPConn
	a, b           *sockmgr.Socket
	relay          relay.RelayInfo
}

func (e *env) newUDPPair(faults ...relay.Fault) *udpPair {
	t := e.t
	t.Helper()
	ctx := ctxT(t)
	server, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	check(t, err)
	t.Cleanup(func() { server.Close() })
	_ = server.SetReadBuffer(4 << 20)
	a := must[*sockmgr.Socket](t)(e.sm.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	check(t, a.Bind(ctx, "127.0.0.1:0"))
	client, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(a.Info().LocalAddr))
	check(t, err)
	t.Cleanup(func() { client.Close() })
	_ = client.SetReadBuffer(4 << 20)
	check(t, a.Connect(ctx, client.LocalAddr().String(), nil))
	b := must[*sockmgr.Socket](t)(e.sm.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	check(t, b.Bind(ctx, "127.0.0.1:0"))
	check(t, b.Connect(ctx, server.LocalAddr().String(), nil))
	for _, s := range []*sockmgr.Socket{a, b} {
		_, _ = s.SetOption("SO_RCVBUF", 4<<20)
	}
	info := must[relay.RelayInfo](t)(e.rm.CreateRelay(ctx, me, relay.RelayOptions{A: a.ID(), B: b.ID(), Faults: faults}))
	return &udpPair{client: client, server: server, a: a, b: b, relay: info}
}

const dgramSize = 100

// dgram is datagram seq: its number at both ends, and bytes made from it.
func dgram(seq uint32) []byte {
	d := make([]byte, dgramSize)
	binary.BigEndian.PutUint32(d, seq)
	binary.BigEndian.PutUint32(d[dgramSize-4:], seq)
	for i := 4; i < dgramSize-4; i++ {
		d[i] = byte(seq) + byte(i)
	}
	return d
}

// sendDgrams sends n numbered datagrams at about 10,000 a second.
func sendDgrams(t *testing.T, c *net.UDPConn, n int) {
	t.Helper()
	for i := range n {
		if _, err := c.Write(dgram(uint32(i))); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			time.Sleep(time.Millisecond)
		}
	}
}

// arrival is one datagram as received.
type arrival struct {
	seq     uint32
	corrupt bool // not the datagram its number says (or the numbers differ)
	when    time.Time
}

// collect reads datagrams until quiet passes with none.
func collect(c *net.UDPConn, quiet time.Duration) []arrival {
	var out []arrival
	buf := make([]byte, 2048)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		d := buf[:n]
		a := arrival{when: time.Now()}
		if n != dgramSize {
			a.corrupt = true
		} else {
			a.seq = binary.BigEndian.Uint32(d)
			want := dgram(a.seq)
			diff := 0
			for i := range d {
				if d[i] != want[i] {
					diff++
				}
			}
			a.corrupt = diff != 0
		}
		out = append(out, a)
	}
}

// within checks that k of n is p within z standard deviations of a
// binomial (inflated by the factor for correlated events).
func within(t *testing.T, what string, k, n int, p, z, inflate float64) {
	t.Helper()
	mean := float64(n) * p
	sd := math.Sqrt(float64(n)*p*(1-p)) * inflate
	if math.Abs(float64(k)-mean) > z*sd+2 {
		t.Errorf("%s: %d of %d (%.1f%%), want %.1f%% within %.0f sd (±%.0f)", what, k, n, 100*float64(k)/float64(n), 100*p, z, z*sd)
	} else {
		t.Logf("%s: %d of %d (%.1f%%), want %.1f%%", what, k, n, 100*float64(k)/float64(n), 100*p)
	}
}

const nDgrams = 4000

func TestUDPRelayDirect(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newUDPPair()
	sendDgrams(t, p.client, nDgrams)
	got := collect(p.server, 300*time.Millisecond)
	if len(got) < nDgrams*995/1000 {
		t.Fatalf("%d of %d datagrams arrived with no fault", len(got), nDgrams)
	}
	info := must[relay.RelayInfo](t)(e.rm.Relay(me, p.relay.ID))
	if info.UpstreamPath != relay.PathDirect || info.DatagramsUpstream != uint64(len(got)) {
		t.Fatalf("path %s, %d datagrams counted, %d arrived", info.UpstreamPath, info.DatagramsUpstream, len(got))
	}
	// And back, to the client.
	from := net.UDPAddrFromAddrPort(p.b.Info().LocalAddr)
	_, err := p.server.WriteToUDP([]byte("back"), from)
	check(t, err)
	buf := make([]byte, 16)
	_ = p.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := p.client.Read(buf)
	check(t, err)
	if string(buf[:n]) != "back" {
		t.Fatalf("client read %q", buf[:n])
	}
}

func TestUDPLossKeepsItsRate(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newUDPPair(relay.Fault{Direction: relay.Upstream, Params: relay.LossParams{Percent: 30}})
	sendDgrams(t, p.client, nDgrams)
	got := collect(p.server, 300*time.Millisecond)
	within(t, "lost", nDgrams-len(got), nDgrams, 0.30, 5, 1)
}

// lossBursts is the mean length of runs of consecutive missing datagrams.
func lossBursts(got []arrival, n int) float64 {
	seen := make([]bool, n)
	for _, a := range got {
		if int(a.seq) < n {
			seen[a.seq] = true
		}
	}
	runs, lost := 0, 0
	for i := range n {
		if !seen[i] {
			lost++
			if i == 0 || seen[i-1] {
				runs++
			}
		}
	}
	if runs == 0 {
		return 0
	}
	return float64(lost) / float64(runs)
}

func TestUDPLossCorrelationMakesBursts(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newUDPPair(relay.Fault{Direction: relay.Upstream, Params: relay.LossParams{Percent: 30, Correlation: 75}})
	sendDgrams(t, p.client, nDgrams)
	got := collect(p.server, 300*time.Millisecond)
	// Correlated fates spread the count: its variance grows by (1+ρ)/(1−ρ).
	within(t, "lost", nDgrams-len(got), nDgrams, 0.30, 5, math.Sqrt(1.75/0.25))
	// Mean burst 1/((1−p)(1−ρ)) = 5.7 datagrams; without correlation 1.4.
	if b := lossBursts(got, nDgrams); b < 3.5 || b > 9 {
		t.Errorf("mean loss burst %.1f datagrams, want about 5.7", b)
	} else {
		t.Logf("mean loss burst %.1f datagrams", b)
	}
}

func TestUDPDuplicate(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newUDPPair(relay.Fault{Direction: relay.Upstream, Params: relay.DuplicateParams{Percent: 20}})
	sendDgrams(t, p.client, nDgrams)
	got := collect(p.server, 300*time.Millisecond)
	count := map[uint32]int{}
	for _, a := range got {
		count[a.seq]++
	}
	twice := 0
	for _, c := range count {
		if c == 2 {
			twice++
		} else if c > 2 {
			t.Errorf("a datagram arrived %d times", c)
		}
	}
	within(t, "duplicated", twice, len(count), 0.20, 5, 1)
}

func TestUDPReorder(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newUDPPair(relay.Fault{Direction: relay.Upstream, Params: relay.ReorderParams{Percent: 25, Gap: 1}})
	sendDgrams(t, p.client, nDgrams)
	got := collect(p.server, 500*time.Millisecond)
	if len(got) < nDgrams*995/1000 {
		t.Fatalf("%d of %d arrived: reordering must not lose datagrams", len(got), nDgrams)
	}
	late := 0
	var highest uint32
	for i, a := range got {
		if i > 0 && a.seq < highest {
			late++
		}
		highest = max(highest, a.seq)
	}
	within(t, "late", late, len(got), 0.25, 5, 1)
}

func TestUDPCorrupt(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newUDPPair(relay.Fault{Direction: relay.Upstream, Params: relay.CorruptParams{Percent: 10}})
	sendDgrams(t, p.client, nDgrams)
	got := collect(p.server, 300*time.Millisecond)
	bad := 0
	for _, a := range got {
		if a.corrupt {
			bad++
		}
	}
	within(t, "corrupt", bad, len(got), 0.10, 5, 1)
}

func TestUDPLatency(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newUDPPair(relay.Fault{Direction: relay.Upstream, Params: relay.LatencyParams{Latency: 80 * time.Millisecond}})
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := p.server.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = p.server.WriteToUDP(buf[:n], from)
		}
	}()
	buf := make([]byte, 2048)
	for i := range 5 {
		start := time.Now()
		_, err := p.client.Write(dgram(uint32(i)))
		check(t, err)
		_ = p.client.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = p.client.Read(buf)
		check(t, err)
		if d := time.Since(start); d < 80*time.Millisecond || d > 80*time.Millisecond+late {
			t.Errorf("round trip %v with 80ms of upstream latency", d)
		}
	}
}

func TestUDPBandwidth(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	const rate = 100_000
	p := e.newUDPPair(relay.Fault{Direction: relay.Upstream, Params: relay.BandwidthParams{Rate: rate}})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		d := make([]byte, 1000)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond): // 500 KB/s offered
			}
			_, _ = p.client.Write(d)
		}
	}()
	buf := make([]byte, 2048)
	_ = p.server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := p.server.Read(buf)
	check(t, err)
	start := time.Now()
	got := 0
	for time.Since(start) < 2*time.Second {
		_ = p.server.SetReadDeadline(start.Add(2 * time.Second))
		n, err := p.server.Read(buf)
		if err != nil {
			break
		}
		got += n
	}
	r := float64(got) / time.Since(start).Seconds()
	if r < 0.9*rate || r > 1.1*rate {
		t.Errorf("rate %.0f B/s, want %d ±10%%", r, rate)
	} else {
		t.Logf("rate %.0f B/s for %d", r, rate)
	}
}

func TestUDPTimeoutAndBlackholeDropAll(t *testing.T) {
	for _, typ := range []relay.FaultType{relay.FaultTimeout, relay.FaultBlackhole} {
		t.Run(typ.String(), func(t *testing.T) {
			e := newEnv(t, sockmgr.Config{}, relay.Config{})
			p := e.newUDPPair(relay.Fault{Direction: relay.Upstream, Type: typ})
			sendDgrams(t, p.client, 100)
			if got := collect(p.server, 200*time.Millisecond); len(got) != 0 {
				t.Fatalf("%d datagrams passed %s", len(got), typ)
			}
			must[relay.Fault](t)(e.rm.RemoveFault(me, relay.Target{Relay: p.relay.ID}, relay.DefaultFaultName(typ, relay.Upstream)))
			sendDgrams(t, p.client, 100)
			if got := collect(p.server, 200*time.Millisecond); len(got) != 100 {
				t.Fatalf("%d of 100 datagrams passed after %s was removed", len(got), typ)
			}
			info := must[relay.RelayInfo](t)(e.rm.Relay(me, p.relay.ID))
			if info.UpstreamPath != relay.PathDirect {
				t.Fatalf("path %s after the fault was removed", info.UpstreamPath)
			}
		})
	}
}

func TestUDPFaultsRejectTCPTypes(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newUDPPair()
	for _, f := range []relay.Fault{
		{Params: relay.SlicerParams{AverageSize: 10}},
		{Params: relay.LimitDataParams{Bytes: 10}},
		{Type: relay.FaultResetPeer},
	} {
		if _, err := e.rm.AddFault(me, relay.Target{Relay: p.relay.ID}, f); !errors.Is(err, sockmgr.ErrInvalidArgument) {
			t.Errorf("%v on UDP: %v", f.Params, err)
		}
	}
	_ = os.ErrDeadlineExceeded
}
