package capture_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/capture"
)

// TestTsharkRandomConversations records random conversations — writes of
// random sizes both ways, small rings that drop, exports that pass at random
// moments as a follower does, half-closes — and checks every file with
// tshark: its analysis flags only segments that were truly not captured,
// and only where a comment says so; and what it follows is each side's
// stream, byte for byte, with each hole it marks exactly as long as what
// the ring dropped there.
func TestTsharkRandomConversations(t *testing.T) {
	needTool(t, "tshark")
	for seed := uint64(1); seed <= 10; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			ringBytes := int64(capture.MinRingBytes) << rng.IntN(5)
			r := capture.NewRing(capture.Meta{SocketID: fmt.Sprintf("rnd%d", seed), Protocol: capture.TCP}, ringBytes, nil)
			t.Cleanup(r.Release)
			var out bytes.Buffer
			e := capture.NewExporter(&out)
			e.Add(r)
			at := time.Unix(1_700_000_000, 0)
			step := func() time.Time { at = at.Add(time.Duration(rng.IntN(5000)) * time.Microsecond); return at }
			if rng.IntN(4) > 0 {
				r.Connected(step(), netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:45678"))
			} else {
				r.Accepted(step(), netip.MustParseAddrPort("127.0.0.1:45678"), netip.MustParseAddrPort("127.0.0.1:40000"))
			}
			var sent, received []byte
			outOpen, inOpen := true, true
			for i := 0; i < 100; i++ {
				size := 1 + rng.IntN(1<<uint(rng.IntN(18)))
				data := make([]byte, size)
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
				switch k := rng.IntN(20); {
				case k < 9 && outOpen:
					r.Sent(step(), data, netip.AddrPort{})
					sent = append(sent, data...)
				case k < 18 && inOpen:
					r.Received(step(), data, netip.AddrPort{})
					received = append(received, data...)
				case k == 18 && outOpen:
					r.ShutdownWrite(step())
					outOpen = false
				case k == 19 && inOpen:
					r.PeerClosed(step())
					inOpen = false
				}
				if rng.IntN(6) == 0 {
					if err := e.WriteAvailable(); err != nil {
						t.Fatal(err)
					}
				}
			}
			r.Closed(step())
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "random.pcapng")
			if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}

			rows := fields(t, file, "tcp.analysis.flags || frame.comment || tcp.checksum.status != 1 || _ws.malformed",
				"frame.number", "frame.comment", "tcp.analysis.lost_segment", "_ws.expert.severity", "_ws.expert.message")
			commented := map[string]bool{}
			for _, row := range rows {
				if row[1] != "" {
					commented[row[0]] = true
				}
				severities, msgs := strings.Split(row[3], ";"), strings.Split(row[4], ";")
				for i, msg := range msgs {
					// Chat (SYN, FIN) and comment entries are not findings, nor
					// the notes on a FIN that it closes the connection.
					if sev, _ := strconv.ParseInt(severities[min(i, len(severities)-1)], 0, 64); sev < 0x00400000 {
						continue
					}
					switch {
					case strings.HasSuffix(msg, "the connection closing"):
					case strings.Contains(msg, "not captured"), strings.Contains(msg, "wasn't captured"):
					default:
						t.Errorf("frame %s: tshark says %q", row[0], msg)
					}
				}
			}
			// A lost segment is reported on the frame that jumps, which the
			// export marks; an "ACKed unseen segment" may come on the
			// peer's next frames, after the mark.
			for _, row := range rows {
				if row[2] != "" && !commented[row[0]] {
					t.Errorf("frame %s: a jump in sequence numbers with no comment", row[0])
				}
			}
			fromLocal, fromRemote := followSides(t, file, "tcp", 0, "127.0.0.1:40000")
			local, remote := sent, received
			if r.Meta().Local.Port() == 45678 {
				local, remote = received, sent // accepted: the peer at :40000 is the remote side
			}
			matchWithHoles(t, "from :40000", fromLocal, local)
			matchWithHoles(t, "from :45678", fromRemote, remote)
			st := r.Status()
			t.Logf("ring %d: %d frames, %d records held, %d dropped, %d comments", ringBytes, e.Frames(), st.Records, st.DroppedRecords, len(commented))
		})
	}
}

// matchWithHoles checks tshark's follow output against what a side sent:
// runs of bytes that match the stream where they stand, separated by
// tshark's "[N bytes missing in capture file]" marks that skip exactly N.
// The output may start later than the stream (the ring dropped the start)
// but must reach its end.
func matchWithHoles(t *testing.T, side string, got, stream []byte) {
	t.Helper()
	// Where the output starts: its first run is a suffix of some prefix of
	// the stream, so find the run's offset.
	cursor := -1
	for len(got) > 0 {
		m := missing.FindSubmatchIndex(got)
		run := got
		if m != nil {
			run = got[:m[0]]
		}
		if cursor < 0 {
			if len(run) == 0 {
				cursor = 0
			} else {
				cursor = locate(stream, run, m == nil)
				if cursor < 0 {
					t.Errorf("%s: tshark follows %d bytes found nowhere in the %d sent", side, len(run), len(stream))
					return
				}
			}
		}
		if !bytes.Equal(stream[cursor:min(len(stream), cursor+len(run))], run) {
			t.Errorf("%s: tshark follows %d bytes at offset %d that differ from the stream", side, len(run), cursor)
			return
		}
		cursor += len(run)
		if m == nil {
			break
		}
		n, _ := strconv.Atoi(string(got[m[2]:m[3]]))
		cursor += n
		got = got[m[1]:]
	}
	if cursor > 0 && cursor != len(stream) {
		t.Errorf("%s: tshark follows to offset %d, the stream is %d bytes", side, cursor, len(stream))
	}
}

// locate finds where run stands in stream: at its end when last (the
// output's only run reaches the stream's end), else its first occurrence.
func locate(stream, run []byte, last bool) int {
	if last {
		if bytes.HasSuffix(stream, run) {
			return len(stream) - len(run)
		}
		return -1
	}
	return bytes.Index(stream, run)
}
