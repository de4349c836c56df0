package capture

import "sync/atomic"

// Defaults for the daemon's flags. A ring holds 1 MiB, enough for the last
// second of a busy connection or a whole test conversation; the budget of
// 256 MiB lets 256 rings be full at once, or 10,000 capturing sockets hold
// 26 KiB each on average, which is a quarter of a gigabyte on a host that
// keeps 10,000 sockets — the price of capture being on everywhere, never
// more. Rings take from the budget only what they hold, so idle capturing
// sockets cost nothing.
const (
	DefaultRingBytes   = 1 << 20
	DefaultBudgetBytes = 256 << 20
	// MinRingBytes is the smallest ring: one largest datagram, beside the
	// quarter its queue may take.
	MinRingBytes = 128 << 10
)

// Budget is the memory that all rings together may hold (the daemon's
// --capture-memory). Rings reserve what each record costs before keeping it
// and release it when the record is dropped; a ring the budget refuses
// drops its own oldest records to make room, and drops the new record (and
// counts it) when it holds nothing more to drop. It is safe for concurrent
// use and takes no lock: one atomic counter.
type Budget struct {
	limit int64
	used  atomic.Int64
	// What the rings under this budget dropped, all together (for a
	// metric; each ring's own counts are in its Status).
	droppedBytes, droppedRecords atomic.Int64
}

// NewBudget returns a budget of limit bytes (DefaultBudgetBytes when limit
// is 0 or less).
func NewBudget(limit int64) *Budget {
	if limit <= 0 {
		limit = DefaultBudgetBytes
	}
	return &Budget{limit: limit}
}

// Limit is the budget's size in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// Used is how many bytes the rings hold now, as accounted: payload plus a
// fixed overhead per record. It never exceeds Limit.
func (b *Budget) Used() int64 { return b.used.Load() }

// Dropped reports the payload bytes and records that the rings under this
// budget have dropped since they started, released rings included.
func (b *Budget) Dropped() (bytes, records int64) {
	return b.droppedBytes.Load(), b.droppedRecords.Load()
}

// countDrop adds to the dropped totals.
func (b *Budget) countDrop(bytes, records int64) {
	if b != nil {
		b.droppedBytes.Add(bytes)
		b.droppedRecords.Add(records)
	}
}

// reserve takes n bytes if they fit. A nil budget is unlimited.
func (b *Budget) reserve(n int64) bool {
	if b == nil {
		return true
	}
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// release gives back n reserved bytes.
func (b *Budget) release(n int64) {
	if b != nil && n != 0 {
		b.used.Add(-n)
	}
}
