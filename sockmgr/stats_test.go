package sockmgr_test

import (
	"testing"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

// Stats counts what happened: sockets made and closed (by reason), bytes
// and datagrams each way, accepts, subscribers, and the open sockets by
// protocol and state; the traffic totals stay when the sockets close.
func TestStatsCountWhatHappened(t *testing.T) {
	m := newManager(t, sockmgr.Config{SubscriberBuffer: 1})
	ctx := ctxT(t)
	client, server := connectedPair(t, m) // 3 TCP made (listener closed), 1 accept
	if _, err := client.Send(ctx, []byte("hello"), sockmgr.SendOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	if got := recvText(t, server, 5); got != "hello" {
		t.Fatalf("got %q", got)
	}
	a := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	check(t, a.Bind(ctx, "127.0.0.1:0"))
	b := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	if _, err := b.SendTo(ctx, []byte("ping"), a.Info().LocalAddr.String(), sockmgr.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RecvFrom(ctx, sockmgr.RecvOptions{MaxBytes: 10, Timeout: dur(10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	// A subscriber with a queue of one that never reads: events for it are
	// dropped and counted.
	sub, err := m.Subscribe(sockmgr.SubscribeOptions{Scope: sockmgr.Scope{Owner: owner}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	check(t, server.Close())

	st := m.Stats()
	for _, c := range []struct {
		what      string
		got, want uint64
	}{
		{"created tcp", st.Created[sockmgr.TCP], 3},
		{"created udp", st.Created[sockmgr.UDP], 2},
		{"closed by client", st.Closed["client"], 2},
		{"tcp bytes sent", st.BytesSent[sockmgr.TCP], 5},
		{"tcp bytes received", st.BytesReceived[sockmgr.TCP], 5},
		{"udp bytes sent", st.BytesSent[sockmgr.UDP], 4},
		{"udp bytes received", st.BytesReceived[sockmgr.UDP], 4},
		{"datagrams sent", st.DatagramsSent, 1},
		{"datagrams received", st.DatagramsReceived, 1},
		{"accepted", st.Accepted, 1},
		{"subscribers", uint64(st.Subscribers), 1},
		{"dropped", st.EventsDropped, 0}, // one event, one slot
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	open := map[sockmgr.ProtocolState]int{
		{Protocol: sockmgr.TCP, State: sockmgr.StateConnected}: 1,
		{Protocol: sockmgr.UDP, State: sockmgr.StateBound}:     2, // b bound implicitly by sendto
	}
	for k, v := range st.Open {
		if open[k] != v {
			t.Errorf("open %v %v: %d, want %d", k.Protocol, k.State, v, open[k])
		}
	}
	check(t, client.Close())
	check(t, a.Close())
	st = m.Stats()
	if st.EventsDropped != 2 || st.Closed["client"] != 4 || st.BytesSent[sockmgr.TCP] != 5 {
		t.Fatalf("after more closes: dropped %d (want 2: three closes, one slot), closed %d (want 4), tcp bytes sent %d (want 5: totals outlive sockets)",
			st.EventsDropped, st.Closed["client"], st.BytesSent[sockmgr.TCP])
	}
}
