package sockmgr

import (
	"context"
	"maps"
	"sync"
	"time"
)

// EventKind names what happened to a socket.
type EventKind string

const (
	EventCreated   EventKind = "created"
	EventBound     EventKind = "bound"
	EventListening EventKind = "listening"
	EventAccepted  EventKind = "accepted" // a new socket, accepted by the listener ParentID
	EventConnected EventKind = "connected"
	EventShutdown  EventKind = "shutdown" // Detail: read, write or both
	EventClosed    EventKind = "closed"   // Detail: client, idle, lease or shutdown
	EventError     EventKind = "error"    // Detail: the kernel's error on a socket call
	// EventMissed is not about a socket: it tells a subscriber that Missed
	// events were dropped because it fell behind, or (on a replay) because
	// the history no longer reaches back that far.
	EventMissed EventKind = "missed"
)

// Event is one change of a socket, with a snapshot of the socket after it.
type Event struct {
	Seq    uint64 // increases by one per event published, across all sockets
	Time   time.Time
	Kind   EventKind
	Socket Info
	Detail string
	Missed uint64 // EventMissed only
	// Owner is whose event this is: the socket's owner for socket events,
	// the publisher's for events published with Publish.
	Owner string
	// Subject is what a Publish event is about (a relay's or a proxy's
	// snapshot, say); nil for socket events.
	Subject any
}

const (
	DefaultEventHistory     = 4096 // events kept for replay
	DefaultSubscriberBuffer = 1024 // events queued per subscriber before it starts missing some
)

// SubscribeOptions select what a subscription delivers.
type SubscribeOptions struct {
	Scope  Scope             // whose sockets' events
	Match  func(*Event) bool // optional extra filter (socket id, label, kind, ...)
	Since  uint64            // with Replay: replay the kept events with Seq > Since
	Replay bool              // replay history first; without it only new events come
	Buffer int               // queue length; 0: the manager's default
}

// bus fans events out to subscribers. Publishing never blocks: a subscriber
// that falls behind has its queue capped and is told how many it missed.
type bus struct {
	mu      sync.Mutex
	seq     uint64
	hist    []Event // ring of the newest events
	histPos int     // where the next event goes
	subs    map[*Subscription]struct{}
	bufSize int
	closed  bool

	// Totals for Stats.
	created map[Protocol]uint64 // created and accepted
	closes  map[string]uint64   // by reason
	dropped uint64              // events not queued for a subscriber that fell behind
}

func newBus(history, buffer int) *bus {
	return &bus{hist: make([]Event, 0, history), subs: map[*Subscription]struct{}{}, bufSize: buffer,
		created: map[Protocol]uint64{}, closes: map[string]uint64{}}
}

func (b *bus) publish(kind EventKind, info Info, detail string) {
	b.publishEvent(Event{Kind: kind, Socket: info, Detail: detail, Owner: info.Owner})
}

func (b *bus) publishEvent(ev Event) {
	kind, info, detail := ev.Kind, ev.Socket, ev.Detail
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.seq++
	switch kind {
	case EventCreated, EventAccepted:
		b.created[info.Protocol]++
	case EventClosed:
		b.closes[detail]++
	}
	ev.Seq, ev.Time = b.seq, time.Now()
	if len(b.hist) < cap(b.hist) {
		b.hist = append(b.hist, ev)
	} else if cap(b.hist) > 0 {
		b.hist[b.histPos] = ev
		b.histPos = (b.histPos + 1) % cap(b.hist)
	}
	for sub := range b.subs {
		if sub.wants(&ev) && !sub.push(ev) {
			b.dropped++
		}
	}
}

// Publish adds an event that is not about one socket (a relay's, a
// proxy's) to the same feed, numbered in the same sequence: kind is the
// publisher's own (say "relay_created"), owner decides who sees it, subject
// is a snapshot of what it is about. Subscribers filter with Match.
func (m *Manager) Publish(kind EventKind, owner string, subject any, detail string) {
	m.events.publishEvent(Event{Kind: kind, Owner: owner, Subject: subject, Detail: detail})
}

// stats returns the bus's totals (copies) and its subscribers now.
func (b *bus) stats() (created map[Protocol]uint64, closes map[string]uint64, published uint64, subscribers int, dropped uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.created), maps.Clone(b.closes), b.seq, len(b.subs), b.dropped
}

func (b *bus) lastSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}

// history returns the kept events, oldest first. b.mu must be held.
func (b *bus) historyLocked() []Event {
	if len(b.hist) < cap(b.hist) {
		return b.hist
	}
	return append(append([]Event(nil), b.hist[b.histPos:]...), b.hist[:b.histPos]...)
}

func (b *bus) subscribe(opts SubscribeOptions) (*Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrManagerClosed
	}
	size := opts.Buffer
	if size <= 0 {
		size = b.bufSize
	}
	sub := &Subscription{b: b, scope: opts.Scope, match: opts.Match, size: size, notify: make(chan struct{}, 1)}
	if opts.Replay {
		hist := b.historyLocked()
		oldest := b.seq + 1
		if len(hist) > 0 {
			oldest = hist[0].Seq
		}
		if opts.Since+1 < oldest {
			// The history no longer reaches back to Since: say how many
			// events (of any socket) are gone before replaying the rest.
			sub.pendingMissed = oldest - opts.Since - 1
		}
		for i := range hist {
			if hist[i].Seq > opts.Since && sub.wants(&hist[i]) {
				sub.queue = append(sub.queue, queued{ev: hist[i], missedBefore: sub.pendingMissed})
				sub.pendingMissed = 0
			}
		}
		sub.size += len(sub.queue) // the replay does not count against the live buffer
	}
	b.subs[sub] = struct{}{}
	return sub, nil
}

func (b *bus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for sub := range b.subs {
		sub.end()
	}
	b.subs = nil
}

// Subscription is a queue of events for one subscriber.
type Subscription struct {
	b     *bus
	scope Scope
	match func(*Event) bool
	size  int

	mu            sync.Mutex
	queue         []queued
	pendingMissed uint64 // dropped since the last queued event
	notify        chan struct{}
	ended         bool
}

type queued struct {
	ev           Event
	missedBefore uint64
}

func (sub *Subscription) wants(ev *Event) bool {
	return sub.scope.sees(ev.Owner) && (sub.match == nil || sub.match(ev))
}

// push queues ev; it reports false when the queue is full and ev is
// dropped (and counted as missed).
func (sub *Subscription) push(ev Event) (queuedOK bool) {
	sub.mu.Lock()
	queuedOK = len(sub.queue) < sub.size
	if !queuedOK {
		sub.pendingMissed++
	} else {
		sub.queue = append(sub.queue, queued{ev: ev, missedBefore: sub.pendingMissed})
		sub.pendingMissed = 0
	}
	sub.mu.Unlock()
	select {
	case sub.notify <- struct{}{}:
	default:
	}
	return queuedOK
}

func (sub *Subscription) end() {
	sub.mu.Lock()
	sub.ended = true
	sub.mu.Unlock()
	select {
	case sub.notify <- struct{}{}:
	default:
	}
}

// Next returns the next event, waiting until there is one or ctx ends. When
// events were dropped before it, Next first returns an EventMissed event with
// their count. After the manager closes, Next returns ErrManagerClosed.
func (sub *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		sub.mu.Lock()
		if len(sub.queue) > 0 {
			q := &sub.queue[0]
			if q.missedBefore > 0 {
				n := q.missedBefore
				q.missedBefore = 0
				sub.mu.Unlock()
				return Event{Kind: EventMissed, Time: time.Now(), Missed: n}, nil
			}
			ev := q.ev
			sub.queue[0] = queued{}
			sub.queue = sub.queue[1:]
			if len(sub.queue) == 0 {
				sub.queue = nil // let the backing array go
			}
			sub.mu.Unlock()
			return ev, nil
		}
		if n := sub.pendingMissed; n > 0 {
			sub.pendingMissed = 0
			sub.mu.Unlock()
			return Event{Kind: EventMissed, Time: time.Now(), Missed: n}, nil
		}
		ended := sub.ended
		sub.mu.Unlock()
		if ended {
			return Event{}, ErrManagerClosed
		}
		select {
		case <-sub.notify:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Close ends the subscription.
func (sub *Subscription) Close() {
	sub.b.mu.Lock()
	delete(sub.b.subs, sub)
	sub.b.mu.Unlock()
}
