package relay

import (
	"context"
	"math/rand/v2"
	"time"
)

// Shaping helpers shared by the TCP and UDP paths.

// paceSlot is the time one quantum of a shaped stream takes: the shaper
// moves rate×paceSlot bytes, then waits (toxiproxy cuts into 100 ms pieces;
// 20 ms keeps the stream smoother and still costs few timer wake-ups).
const paceSlot = 20 * time.Millisecond

// quantum is how many bytes a shaped direction moves at once at rate bytes
// per second.
func quantum(rate int64) int {
	q := rate * int64(paceSlot) / int64(time.Second)
	return int(min(max(q, 1), maxPipeSize))
}

// pacer spaces writes so that they average rate bytes per second: each
// write of n bytes moves the next allowed time on by n/rate. Lateness (a
// slow scheduler, a slow peer) is made up for, up to one slot, so that the
// average holds on a busy machine; idle time beyond that earns no burst.
type pacer struct {
	next time.Time
	rate int64
}

// after records a write of n bytes at rate and returns how long to wait
// before the next one.
func (pc *pacer) after(n int, rate int64, now time.Time) time.Duration {
	if pc.rate != rate || pc.next.IsZero() {
		pc.rate, pc.next = rate, now
	}
	if floor := now.Add(-paceSlot); pc.next.Before(floor) {
		pc.next = floor
	}
	pc.next = pc.next.Add(time.Duration(int64(n) * int64(time.Second) / rate))
	return pc.next.Sub(now)
}

// sliceSize draws the size of the next slice of a SLICER fault.
func sliceSize(s *SlicerParams) int {
	n := s.AverageSize
	if s.SizeVariation > 0 {
		n += rand.Int64N(2*s.SizeVariation+1) - s.SizeVariation
	}
	return int(max(n, 1))
}

// jitterDraw is a chunk's or datagram's share of the jitter, in [-1, 1):
// drawn once, so that a live update of the jitter scales it.
func jitterDraw() float64 { return 2*rand.Float64() - 1 }

// delayOf is latency ± jitter for a draw, never negative.
func delayOf(p *plan, draw float64) time.Duration {
	return max(0, p.latency+time.Duration(draw*float64(p.jitter)))
}

// roll reports true with the given percent chance.
func roll(percent float64) bool {
	return percent > 0 && rand.Float64()*100 < percent
}

// sleeper waits on one reusable timer.
type sleeper struct{ t *time.Timer }

// sleep waits d, or until wake ends (nil), or stop ends (stop.Err()). It
// reports whether the whole d passed.
func (s *sleeper) sleep(d time.Duration, wake, stop context.Context) (full bool, err error) {
	if d <= 0 {
		return true, nil
	}
	if s.t == nil {
		s.t = time.NewTimer(d)
	} else {
		s.t.Reset(d)
	}
	select {
	case <-s.t.C:
		return true, nil
	case <-wake.Done():
		s.t.Stop()
		if err := stop.Err(); err != nil {
			return false, err
		}
		return false, nil
	case <-stop.Done():
		s.t.Stop()
		return false, stop.Err()
	}
}

func (s *sleeper) stop() {
	if s.t != nil {
		s.t.Stop()
	}
}
