package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// lineStream is a long-running command (curl -N, sockctl watch) whose
// output is read line by line; it is killed when the test ends or by stop.
type lineStream struct {
	cmd   *exec.Cmd
	lines chan string
}

func streamLines(t *testing.T, name string, args ...string) *lineStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &lineStream{cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() && stderr.String() != "" {
			t.Logf("%s stderr: %s", name, stderr.String())
		}
	})
	return s
}

// next is the next line, within 15 seconds.
func (s *lineStream) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			t.Fatalf("%s ended early", s.cmd.Path)
		}
		return l
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: no line within 15s", s.cmd.Path)
	}
	return ""
}

func (s *lineStream) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// restEvent is one line of GET /v1/events.
type restEvent struct {
	Result struct {
		Seq    string
		Kind   string
		Missed string
		Socket struct{ ID string }
	}
}

func parseRESTEvent(t *testing.T, line string) restEvent {
	t.Helper()
	var ev restEvent
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("not an NDJSON event: %q: %v", line, err)
	}
	return ev
}

func (e restEvent) seq() uint64 {
	n, _ := strconv.ParseUint(e.Result.Seq, 10, 64)
	return n
}

type seen struct {
	seq  uint64
	kind string
	id   string
}

// A subscriber that disconnects and comes back with since = the last
// sequence number it saw gets exactly the events it missed, in order, then
// the new ones — over REST (curl) and with sockctl watch — and they are the
// events a subscriber that never left saw.
func TestEventsResumeWithSinceMissesNothing(t *testing.T) {
	d := startSockd(t)
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The control: a gRPC subscriber that stays.
	var controlMu sync.Mutex
	var control []seen
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	since := uint64(0)
	go func() {
		for ev, err := range c.Watch(watchCtx, &sockdv1.WatchEventsRequest{Since: &since}) {
			if err != nil {
				return
			}
			controlMu.Lock()
			control = append(control, seen{ev.GetSeq(), ev.GetKind().String(), ev.GetSocket().GetId()})
			controlMu.Unlock()
		}
	}()

	// Phase 1, with the REST subscriber listening: three sockets bound
	// (six events).
	rest := streamLines(t, "curl", "-sSN", "http://"+d.HTTP+"/v1/events?since=0")
	var ids []string
	for range 3 {
		s, err := c.Create(ctx, client.CreateOptions{Bind: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.GetId())
	}
	var last uint64
	for range 6 {
		last = parseRESTEvent(t, rest.next(t)).seq()
	}
	rest.stop()

	// Phase 2, with it gone: the three closed, two UDP sockets made.
	for _, id := range ids {
		if _, err := c.CloseSocket(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	var udp []string
	for range 2 {
		s, err := c.Create(ctx, client.CreateOptions{UDP: true})
		if err != nil {
			t.Fatal(err)
		}
		udp = append(udp, s.GetId())
	}

	// It comes back from where it was; sockctl watch does the same.
	rest = streamLines(t, "curl", "-sSN", fmt.Sprintf("http://%s/v1/events?since=%d", d.HTTP, last))
	watch := streamLines(t, filepath.Join(binDir, "sockctl"), "--addr", d.GRPC, "watch", "--since", strconv.FormatUint(last, 10), "-o", "json")
	var resumed, viaSockctl []seen
	for range 5 {
		ev := parseRESTEvent(t, rest.next(t))
		resumed = append(resumed, seen{ev.seq(), ev.Result.Kind, ev.Result.Socket.ID})
		var w struct {
			Seq    string
			Kind   string
			Socket struct{ ID string }
		}
		if err := json.Unmarshal([]byte(watch.next(t)), &w); err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseUint(w.Seq, 10, 64)
		viaSockctl = append(viaSockctl, seen{n, w.Kind, w.Socket.ID})
	}
	// Phase 3: a new event arrives live on the resumed streams.
	if _, err := c.CloseSocket(ctx, udp[0]); err != nil {
		t.Fatal(err)
	}
	ev := parseRESTEvent(t, rest.next(t))
	resumed = append(resumed, seen{ev.seq(), ev.Result.Kind, ev.Result.Socket.ID})

	waitFor(t, "the control subscriber to see all 12 events", func() bool {
		controlMu.Lock()
		defer controlMu.Unlock()
		return len(control) >= 12
	})
	controlMu.Lock()
	want := append([]seen(nil), control[6:12]...)
	controlMu.Unlock()
	for i, w := range want {
		if w.seq != last+uint64(i)+1 {
			t.Fatalf("control saw seq %d at %d, want %d: events are not numbered one by one", w.seq, i, last+uint64(i)+1)
		}
		if resumed[i] != w {
			t.Errorf("resumed REST subscriber, event %d: %+v, want %+v", i, resumed[i], w)
		}
		if i < 5 && viaSockctl[i] != w {
			t.Errorf("sockctl watch --since, event %d: %+v, want %+v", i, viaSockctl[i], w)
		}
	}
}

// A subscriber asking for events older than the kept history is told how
// many are gone, then gets the rest: over gRPC, REST and sockctl.
func TestEventsOlderThanTheHistoryAreReportedMissed(t *testing.T) {
	d := startSockd(t, "--event-history", "8")
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 10 { // 20 events: created and bound each; 13..20 are kept
		if _, err := c.Create(ctx, client.CreateOptions{Bind: "127.0.0.1:0"}); err != nil {
			t.Fatal(err)
		}
	}
	since := uint64(2)
	wctx, stop := context.WithCancel(ctx)
	var got []*sockdv1.Event
	for ev, err := range c.Watch(wctx, &sockdv1.WatchEventsRequest{Since: &since}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
		if len(got) == 9 {
			break
		}
	}
	stop()
	if got[0].GetKind() != sockdv1.EventKind_EVENT_KIND_MISSED || got[0].GetMissed() != 10 {
		t.Fatalf("first event %v, want MISSED with missed=10 (events 3..12 are no longer kept)", got[0])
	}
	for i, ev := range got[1:] {
		if ev.GetSeq() != uint64(13+i) {
			t.Fatalf("after the notice, event %d has seq %d, want %d", i, ev.GetSeq(), 13+i)
		}
	}

	rest := streamLines(t, "curl", "-sSN", "http://"+d.HTTP+"/v1/events?since=2")
	if ev := parseRESTEvent(t, rest.next(t)); ev.Result.Kind != "EVENT_KIND_MISSED" || ev.Result.Missed != "10" {
		t.Fatalf("REST: first line %+v, want a MISSED notice of 10", ev)
	}
	if ev := parseRESTEvent(t, rest.next(t)); ev.seq() != 13 {
		t.Fatalf("REST: after the notice seq %d, want 13", ev.seq())
	}
	watch := streamLines(t, filepath.Join(binDir, "sockctl"), "--addr", d.GRPC, "watch", "--since", "2")
	if line := watch.next(t); !strings.Contains(line, "missed") || !strings.Contains(line, "10") {
		t.Fatalf("sockctl watch --since 2: first line %q, want the missed notice", line)
	}
}

// Ten subscribers, one of which never reads: the others get every event
// (or are told exactly what they missed), the data path keeps moving, and
// the stalled one holds at most its queue: when it finally reads it is told
// how many events it missed, and nothing is lost without a notice.
func TestEventsStalledSubscriberHoldsUpNothing(t *testing.T) {
	const buffer = 64
	d := startSockd(t, "--event-buffer", strconv.Itoa(buffer))
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	since := uint64(0)
	// The stalled subscriber: its own connection with the smallest flow
	// control window, opened and never read until the end.
	conn, err := grpc.NewClient(d.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stalled, err := sockdv1.NewSocketServiceClient(conn).WatchEvents(ctx, &sockdv1.WatchEventsRequest{Since: &since})
	if err != nil {
		t.Fatal(err)
	}

	// Nine readers, each counting events and the missed ones.
	type tally struct{ events, missed atomic.Int64 }
	readers := make([]*tally, 9)
	rctx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	var wg sync.WaitGroup
	for i := range readers {
		readers[i] = &tally{}
		wg.Go(func() {
			for ev, err := range c.Watch(rctx, &sockdv1.WatchEventsRequest{Since: &since}) {
				if err != nil {
					return
				}
				if ev.GetKind() == sockdv1.EventKind_EVENT_KIND_MISSED {
					readers[i].missed.Add(int64(ev.GetMissed()))
				} else {
					readers[i].events.Add(1)
				}
			}
		})
	}
	waitFor(t, "ten subscribers", func() bool {
		return value(t, scrape(t, d), "sockd_event_subscribers") == 10
	})

	// The data path runs meanwhile: 8 MiB through Attach to a Python peer
	// that counts them.
	l, err := c.Create(ctx, client.CreateOptions{Bind: "127.0.0.1:0", Listen: true})
	if err != nil {
		t.Fatal(err)
	}
	py := startPython(t, `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
n = 0
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    n += len(b)
print(n)
`, portOf(t, l.GetLocalAddress()))
	a, err := c.Accept(ctx, l.GetId(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	transfer := make(chan error, 1)
	go func() {
		conn, err := c.Conn(ctx, a.GetId())
		if err != nil {
			transfer <- err
			return
		}
		_, err = io.Copy(conn, io.LimitReader(zeros{}, 8<<20))
		if cerr := conn.Close(); err == nil {
			err = cerr // closes the socket after the bytes: the peer reads EOF
		}
		transfer <- err
	}()

	// 4,000 events while that runs.
	for range 2000 {
		s, err := c.Create(ctx, client.CreateOptions{UDP: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CloseSocket(ctx, s.GetId()); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-transfer; err != nil {
		t.Fatalf("the data path stalled or failed: %v", err)
	}
	if got := py.line(t); got != strconv.Itoa(8<<20) {
		t.Fatalf("the peer received %s bytes, want %d", got, 8<<20)
	}
	if _, err := c.CloseSocket(ctx, l.GetId()); err != nil {
		t.Fatal(err)
	}
	m := scrape(t, d)
	total := int64(value(t, m, "sockd_events_published_total"))
	// The Attach stream is counted as a call, its bytes by sockd's counters,
	// not its messages one by one (see service.perCallOnly).
	waitFor(t, "the Attach call to be counted", func() bool {
		return value(t, scrape(t, d), "grpc_server_handled_total", "grpc_method", "Attach", "grpc_code", "OK") == 1
	})
	if got := value(t, m, "sockd_bytes_sent_total", "protocol", "tcp"); got != 8<<20 {
		t.Errorf("sockd_bytes_sent_total{tcp} = %v, want %d", got, 8<<20)
	}
	if got := value(t, m, "grpc_server_msg_received_total", "grpc_method", "Attach"); got != 0 {
		t.Errorf("Attach messages counted one by one: %v", got)
	}

	// Every reader accounts for every event: delivered or announced missed.
	waitFor(t, "the readers to account for every event", func() bool {
		for _, r := range readers {
			if r.events.Load()+r.missed.Load() != total {
				return false
			}
		}
		return true
	})
	stopReaders()
	wg.Wait()

	// The stalled one: the daemon dropped events for it (and counted them),
	// and it is told so when it reads.
	if dropped := value(t, scrape(t, d), "sockd_events_dropped_total"); dropped == 0 {
		t.Fatal("no events were dropped for a subscriber that never read: its queue would grow without bound")
	}
	var events, missed, beforeNotice int64
	for events+missed < total {
		ev, err := stalled.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetKind() == sockdv1.EventKind_EVENT_KIND_MISSED {
			if missed == 0 {
				beforeNotice = events
			}
			missed += int64(ev.GetMissed())
		} else {
			events++
		}
	}
	if missed == 0 || events+missed != total {
		t.Fatalf("stalled subscriber: %d events + %d missed, want a notice and %d in all", events, missed, total)
	}
	// What it got before the notice is what its queue held and what gRPC's
	// flow control let through (about 128 KiB: the window and the stream's
	// write quota), a fixed amount, far less than everything.
	if beforeNotice >= total/2 {
		t.Fatalf("the stalled subscriber was sent %d of %d events before being told it missed some: its queue is not bounded", beforeNotice, total)
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
