package relay

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"
)

// A fault set on a proxy or a relay is a faultState; its fate on one relay
// is an application: the probability is rolled once (u), and the fault
// applies while u < probability, so raising a live fault's probability adds
// connections and lowering it removes some, without re-rolling. What the
// applying faults ask of one direction is folded into a plan, which the
// direction's goroutines read (atomically) at every step; a new plan cancels
// the old one's context, which wakes whatever waits on it.

// faultState is a fault set on a proxy or a relay. An update stores a new
// Fault (never changed once stored), so relays read it without the owner's
// lock; applied is counted lock-free.
type faultState struct {
	cur     atomic.Pointer[Fault]
	applied atomic.Uint64
}

func newFaultState(f Fault) *faultState {
	fs := &faultState{}
	fs.cur.Store(&f)
	return fs
}

func (fs *faultState) fault() Fault { return *fs.cur.Load() }

func (fs *faultState) snapshot() Fault {
	f := fs.fault()
	f.Applied = fs.applied.Load()
	return f
}

// application is a fault's fate on one relay. Guarded by Relay.mu, except
// the UDP loss state, which only the direction's delivering goroutine uses.
type application struct {
	fs        *faultState
	fromProxy bool
	u         float64   // the roll, in [0, 1)
	on        bool      // u < probability: it applies now
	counted   bool      // it has been counted in Applied
	start     time.Time // when it first applied (TIMEOUT and RESET_PEER count from here)
	baseRead  uint64    // LIMIT_DATA: the direction's bytes read when it first applied
	timer     *time.Timer
	lossLast  bool // LOSS: the previous datagram was lost (see udpfaults.go)
	lossState bool // lossLast has been set once
}

func newApplication(fs *faultState, fromProxy bool) *application {
	return &application{fs: fs, fromProxy: fromProxy, u: rand.Float64()}
}

// mode is what a TCP direction does under a plan.
type mode uint8

const (
	modeSplice mode = iota // move bytes in the kernel (paced and limited if asked)
	modeUser               // through user space: latency, slicer
	modePause              // stop reading: blackhole, or LIMIT_DATA reached
	modeDrop               // read and discard: TIMEOUT
)

// plan is what the applying faults ask of one direction. It is immutable
// once published (the UDP applications it points to keep their own state).
type plan struct {
	ctx    context.Context // cancelled when a newer plan replaces this one (or the relay stops)
	cancel context.CancelFunc

	latency, jitter time.Duration
	rate            int64 // bytes per second; 0: unshaped
	drop            bool  // TCP TIMEOUT; UDP TIMEOUT or BLACKHOLE
	// TCP
	blackhole bool
	slicer    *SlicerParams
	limited   bool
	limitAt   uint64 // stop reading once the direction has read this many bytes
	limitName string // the LIMIT_DATA fault that set limitAt
	slowClose time.Duration
	// UDP
	loss      []lossStage
	duplicate []float64
	corrupt   []float64
	reorder   *ReorderParams
	faulted   bool // any fault applies (UDP: the direction goes through its writer)
	// Where the direction's source and destination record their traffic
	// (nil: they do not).
	srcTap, dstTap Tap
	srcPeer        netip.AddrPort // the source's peer, for srcTap
	dstPeer        netip.AddrPort // the destination's peer, for dstTap
}

// tcpMode is the mode for a direction that has read read bytes.
func (p *plan) tcpMode(read uint64, noSplice bool) mode {
	switch {
	case p.blackhole || p.limited && read >= p.limitAt:
		return modePause
	case p.drop:
		return modeDrop
	case p.latency > 0 || p.jitter > 0 || p.slicer != nil || noSplice || p.srcTap != nil || p.dstTap != nil:
		return modeUser
	}
	return modeSplice
}

// buildPlan folds the applying faults of one direction into a plan.
func buildPlan(parent context.Context, apps []*application, dir Direction) *plan {
	p := &plan{}
	p.ctx, p.cancel = context.WithCancel(parent)
	for _, a := range apps {
		f := a.fs.fault()
		if !a.on || f.Direction != dir {
			continue
		}
		p.faulted = true
		switch q := f.Params.(type) {
		case LatencyParams:
			p.latency += q.Latency
			p.jitter += q.Jitter
		case BandwidthParams:
			if p.rate == 0 || q.Rate < p.rate {
				p.rate = q.Rate
			}
		case SlicerParams:
			s := q
			p.slicer = &s
		case TimeoutParams:
			p.drop = true
		case ResetPeerParams:
			// A timer, not a change of the data path.
		case LimitDataParams:
			at := a.baseRead + uint64(q.Bytes)
			if !p.limited || at < p.limitAt {
				p.limited, p.limitAt, p.limitName = true, at, f.Name
			}
		case SlowCloseParams:
			p.slowClose = max(p.slowClose, q.Delay)
		case BlackholeParams:
			p.blackhole = true
			p.drop = true // UDP: a blackhole drops everything
		case LossParams:
			p.loss = append(p.loss, lossStage{app: a, percent: q.Percent, correlation: q.Correlation})
		case DuplicateParams:
			p.duplicate = append(p.duplicate, q.Percent)
		case CorruptParams:
			p.corrupt = append(p.corrupt, q.Percent)
		case ReorderParams:
			if p.reorder == nil {
				r := q
				if r.Gap == 0 {
					r.Gap = 1
				}
				p.reorder = &r
			}
		}
	}
	return p
}

// lossStage is one LOSS fault of a plan: its parameters now, and the
// application that keeps its state between datagrams.
type lossStage struct {
	app                  *application
	percent, correlation float64
}
