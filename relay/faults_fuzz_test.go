package relay

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

// FuzzUpdateFault feeds update masks and values as a client would send them
// (REST field masks are free text): an update either fails with an
// invalid-argument error naming a field, or yields a fault that passes the
// same checks as a new one, of the same name, type and direction.
func FuzzUpdateFault(f *testing.F) {
	f.Add("latency.latency", int64(100), int64(5), 0.5)
	f.Add("latency,probability", int64(-1), int64(0), 2.0)
	f.Add("fault.latency.jitter", int64(1), int64(1<<62), 0.0)
	f.Add("bandwidth.rate", int64(0), int64(0), 1.0)
	f.Add("name,direction,type", int64(0), int64(0), 1.0)
	f.Add("latency.nope", int64(0), int64(0), 1.0)
	f.Add("", int64(3), int64(2), 0.25)
	f.Fuzz(func(t *testing.T, mask string, a, b int64, prob float64) {
		old, err := normalizeFault(Fault{Params: LatencyParams{Latency: time.Second}}, sockmgr.TCP, "fault")
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		if mask != "" {
			paths = strings.Split(mask, ",")
		}
		for _, params := range []Params{LatencyParams{Latency: time.Duration(a), Jitter: time.Duration(b)}, BandwidthParams{Rate: a}, nil} {
			nf, err := updateFault(old, Fault{Name: old.Name, Probability: &prob, Params: params}, paths, "fault")
			if err != nil {
				var e *Error
				if !errors.Is(err, sockmgr.ErrInvalidArgument) || !errors.As(err, &e) || e.Field == "" {
					t.Fatalf("update %q: %v is not an invalid argument naming a field", mask, err)
				}
				continue
			}
			if nf.Name != old.Name || nf.Type != old.Type || nf.Direction != old.Direction {
				t.Fatalf("update %q changed the fault's identity: %+v", mask, nf)
			}
			if _, err := normalizeFault(nf, sockmgr.TCP, "fault"); err != nil {
				t.Fatalf("update %q made a fault that does not pass the checks: %v", mask, err)
			}
		}
	})
}
