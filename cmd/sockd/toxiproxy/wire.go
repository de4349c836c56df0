package toxiproxy

import (
	"cmp"
	"slices"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// proxyJSON is a proxy as toxiproxy shows it (its Proxy and proxyToxics
// types: the fields in its order). Protocol is sockd's: set ("udp") only
// for a UDP proxy, so a TCP proxy's JSON is exactly toxiproxy's.
type proxyJSON struct {
	Name     string      `json:"name"`
	Listen   string      `json:"listen"`
	Upstream string      `json:"upstream"`
	Enabled  bool        `json:"enabled"`
	Protocol string      `json:"protocol,omitempty"`
	Toxics   []toxicJSON `json:"toxics"`
}

// toxicJSON is a toxic as toxiproxy shows it (its ToxicWrapper: the
// attributes first).
type toxicJSON struct {
	Attributes attributes `json:"attributes"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Stream     string     `json:"stream"`
	// toxiproxy's toxicity is a float32: shown as one, 0.2 reads "0.2".
	Toxicity float32 `json:"toxicity"`
}

// proxyName is the name by which this API knows a proxy: its sockd name,
// or its id when it has none.
func proxyName(p *sockdv1.Proxy) string {
	if p.GetName() != "" {
		return p.GetName()
	}
	return p.GetId()
}

// showProxy is a sockd proxy as toxiproxy's JSON, named name.
func showProxy(p *sockdv1.Proxy, name string) proxyJSON {
	out := proxyJSON{
		Name:     name,
		Listen:   p.GetListenAddress(),
		Upstream: p.GetUpstreamAddress(),
		Enabled:  p.GetEnabled(),
		Toxics:   showToxics(p.GetFaults()),
	}
	if p.GetProtocol() == sockdv1.Protocol_PROTOCOL_UDP {
		out.Protocol = "udp"
	}
	return out
}

// showToxics lists faults as toxiproxy lists toxics: the upstream ones
// first, each direction in the order its toxics were added. Never null.
func showToxics(faults []*sockdv1.Fault) []toxicJSON {
	out := make([]toxicJSON, 0, len(faults))
	for _, f := range faults {
		if t, ok := showToxic(f); ok {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b toxicJSON) int { return cmp.Compare(streamOrder(a.Stream), streamOrder(b.Stream)) })
	return out
}

func streamOrder(s string) int {
	if s == "upstream" {
		return 0
	}
	return 1
}

// showToxic is a fault as toxiproxy's toxic JSON, its attributes in
// toxiproxy's units.
func showToxic(f *sockdv1.Fault) (toxicJSON, bool) {
	t, ok := toxicTypeOf(f.GetType())
	if !ok {
		return toxicJSON{}, false
	}
	attrs := t.attrs()
	attrs.fromFault(f)
	return toxicJSON{
		Attributes: attrs,
		Name:       f.GetName(),
		Type:       t.name,
		Stream:     streamOf(f.GetDirection()),
		Toxicity:   float32(toxicity(f)),
	}, true
}

// toxicity is a fault's probability; unset means 1.
func toxicity(f *sockdv1.Fault) float64 {
	if f.Probability == nil {
		return 1
	}
	return f.GetProbability()
}

func streamOf(d sockdv1.Direction) string {
	if d == sockdv1.Direction_DIRECTION_UPSTREAM {
		return "upstream"
	}
	return "downstream"
}

// findFault is the fault of that name among a proxy's, or nil.
func findFault(p *sockdv1.Proxy, name string) *sockdv1.Fault {
	for _, f := range p.GetFaults() {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}
