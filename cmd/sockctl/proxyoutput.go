package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// How proxies, relays and faults print: tables like ls, details like
// inspect, or the API's messages with -o json|yaml.

func shortID(id string, full bool) string {
	if !full && len(id) > 12 {
		return id[:12]
	}
	return id
}

func protoName(p sockdv1.Protocol) string {
	if p == sockdv1.Protocol_PROTOCOL_UDP {
		return "udp"
	}
	return "tcp"
}

func faultNames(fs []*sockdv1.Fault) string {
	if len(fs) == 0 {
		return "-"
	}
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.GetName()
	}
	return strings.Join(names, ",")
}

// list prints one message as is, several as an array (JSON/YAML).
func (p *printer) list(ms []proto.Message) error {
	if len(ms) == 1 {
		return p.message(ms[0])
	}
	return p.messages(ms)
}

// proxies prints a table of proxies.
func (p *printer) proxies(ps []*sockdv1.Proxy, fullIDs bool) error {
	if p.format != "table" {
		return p.messages(asMessages(ps))
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPROTO\tLISTEN\tUPSTREAM\tENABLED\tCONNS\tUP\tDOWN\tFAULTS\tAGE")
	for _, x := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%d/%d\t%s\t%s\t%s\t%s\n", shortID(x.GetId(), fullIDs), dash(x.GetName()),
			protoName(x.GetProtocol()), dash(x.GetListenAddress()), dash(x.GetUpstreamAddress()), x.GetEnabled(),
			x.GetConnections(), x.GetTotalConnections(), humanBytes(x.GetBytesUpstream()), humanBytes(x.GetBytesDownstream()),
			faultNames(x.GetFaults()), age(p.now().Sub(x.GetCreateTime().AsTime())))
	}
	return tw.Flush()
}

// proxy prints one proxy in detail.
func (p *printer) proxy(x *sockdv1.Proxy) error {
	if p.format != "table" {
		return p.message(x)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("ID", x.GetId())
	row("Name", dash(x.GetName()))
	row("Protocol", protoName(x.GetProtocol()))
	row("Listen", dash(x.GetListenAddress()))
	row("Upstream", dash(x.GetUpstreamAddress()))
	row("Enabled", strconv.FormatBool(x.GetEnabled()))
	row("Listener", dash(x.GetListenerId()))
	what := "Connections"
	if x.GetProtocol() == sockdv1.Protocol_PROTOCOL_UDP {
		what = "Sessions"
	}
	row(what, fmt.Sprintf("%d open, %d in all", x.GetConnections(), x.GetTotalConnections()))
	row("Bytes up/down", fmt.Sprintf("%d / %d", x.GetBytesUpstream(), x.GetBytesDownstream()))
	row("Upstream errors", fmt.Sprint(x.GetUpstreamErrors()))
	if x.GetSessionIdleTimeout() != nil {
		row("Session idle timeout", x.GetSessionIdleTimeout().AsDuration().String())
	}
	row("Owner", dash(x.GetOwner()))
	row("Created", x.GetCreateTime().AsTime().UTC().Format(time.RFC3339)+" ("+age(p.now().Sub(x.GetCreateTime().AsTime()))+" ago)")
	row("Faults", faultCount(x.GetFaults()))
	if err := tw.Flush(); err != nil {
		return err
	}
	return p.faultLines(x.GetFaults())
}

// relays prints a table of relays.
func (p *printer) relays(rs []*sockdv1.Relay, fullIDs bool) error {
	if p.format != "table" {
		return p.messages(asMessages(rs))
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPROXY\tA\tB\tUP\tDOWN\tPATHS\tFAULTS\tAGE")
	for _, r := range rs {
		proxy := "-"
		if r.GetProxyId() != "" {
			proxy = shortID(r.GetProxyId(), fullIDs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\n", shortID(r.GetId(), fullIDs), dash(r.GetName()), proxy,
			shortID(r.GetA(), fullIDs), shortID(r.GetB(), fullIDs), humanBytes(r.GetBytesUpstream()), humanBytes(r.GetBytesDownstream()),
			dash(r.GetUpstreamPath()), dash(r.GetDownstreamPath()), activeFaults(r), age(p.now().Sub(r.GetCreateTime().AsTime())))
	}
	return tw.Flush()
}

// activeFaults are the faults that apply to a relay's connection: its own
// and its proxy's that were rolled on it.
func activeFaults(r *sockdv1.Relay) string {
	if len(r.GetActiveFaults()) == 0 {
		return "-"
	}
	return strings.Join(r.GetActiveFaults(), ",")
}

// relay prints one relay in detail.
func (p *printer) relay(r *sockdv1.Relay) error {
	if p.format != "table" {
		return p.message(r)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("ID", r.GetId())
	row("Name", dash(r.GetName()))
	row("Proxy", dash(r.GetProxyId()))
	row("A (downstream)", r.GetA())
	row("B (upstream)", r.GetB())
	row("Bytes up/down", fmt.Sprintf("%d / %d", r.GetBytesUpstream(), r.GetBytesDownstream()))
	row("Paths up/down", dash(r.GetUpstreamPath())+" / "+dash(r.GetDownstreamPath()))
	row("Active faults", activeFaults(r))
	row("Owner", dash(r.GetOwner()))
	row("Created", r.GetCreateTime().AsTime().UTC().Format(time.RFC3339)+" ("+age(p.now().Sub(r.GetCreateTime().AsTime()))+" ago)")
	row("Faults", faultCount(r.GetFaults()))
	if err := tw.Flush(); err != nil {
		return err
	}
	return p.faultLines(r.GetFaults())
}

func faultCount(fs []*sockdv1.Fault) string {
	if len(fs) == 0 {
		return "none"
	}
	return strconv.Itoa(len(fs))
}

// faultLines are a detail view's faults, indented below it.
func (p *printer) faultLines(fs []*sockdv1.Fault) error {
	if len(fs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	for _, f := range fs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", f.GetName(), faultTypeName(f.GetType()), direction(f.GetDirection()), probability(f), faultParams(f))
	}
	return tw.Flush()
}

// faults prints a table of faults.
func (p *printer) faults(fs []*sockdv1.Fault) error {
	if p.format != "table" {
		return p.messages(asMessages(fs))
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tDIRECTION\tPROBABILITY\tPARAMS\tAPPLIED")
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", f.GetName(), faultTypeName(f.GetType()), direction(f.GetDirection()), probability(f), faultParams(f), f.GetApplied())
	}
	return tw.Flush()
}

func faultTypeName(t sockdv1.FaultType) string {
	if k, ok := faultKindOf(t); ok {
		return k.name
	}
	return strings.ToLower(strings.TrimPrefix(t.String(), "FAULT_TYPE_"))
}

func direction(d sockdv1.Direction) string {
	if d == sockdv1.Direction_DIRECTION_UPSTREAM {
		return "upstream"
	}
	return "downstream"
}

func probability(f *sockdv1.Fault) string {
	if f.Probability == nil {
		return "1"
	}
	return strconv.FormatFloat(f.GetProbability(), 'g', -1, 64)
}

// faultParams are a fault's parameters as the flags that set them:
// "--latency 100ms --jitter 10ms" reads as "latency=100ms jitter=10ms".
func faultParams(f *sockdv1.Fault) string {
	k, ok := faultKindOf(f.GetType())
	if !ok || len(k.params) == 0 {
		return "-"
	}
	fm := f.ProtoReflect()
	fd := fm.Descriptor().Fields().ByName(protoreflect.Name(k.name))
	if fd == nil || !fm.Has(fd) {
		return "-"
	}
	params := fm.Get(fd).Message()
	var parts []string
	for _, p := range k.params {
		field := params.Descriptor().Fields().ByName(protoreflect.Name(p.field))
		if field == nil {
			continue
		}
		v := params.Get(field)
		var text string
		switch p.kind {
		case durationParam:
			d := time.Duration(0)
			if dp, ok := v.Message().Interface().(*durationpb.Duration); ok && params.Has(field) {
				d = dp.AsDuration()
			}
			text = d.String()
		case sizeParam:
			text = strconv.FormatInt(v.Int(), 10)
		case rateParam:
			text = strconv.FormatInt(v.Int(), 10) + "/s"
		case percentParam:
			text = strconv.FormatFloat(v.Float(), 'g', -1, 64) + "%"
		case countParam:
			text = strconv.FormatInt(v.Int(), 10)
		}
		parts = append(parts, p.flag+"="+text)
	}
	return strings.Join(parts, " ")
}
