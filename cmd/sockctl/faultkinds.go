package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// The fault types sockctl knows, each with its parameters as flags of their
// own names (--latency 100ms --jitter 10ms, --rate 100KB). A parameter's
// flag sets the field of the same name in the type's params message
// (Fault.latency.jitter), which is also its update-mask path.

// paramKind is how a parameter's value is written.
type paramKind int

const (
	durationParam paramKind = iota // 100ms
	sizeParam                      // 4KB, 4096
	rateParam                      // 100KB (bytes per second)
	percentParam                   // 30
	countParam                     // 2
)

// faultParam is one parameter of a fault type.
type faultParam struct {
	flag  string // the flag's name: average-size
	field string // the proto field of the params message: average_size
	kind  paramKind
}

// faultKind is a fault type as sockctl writes it.
type faultKind struct {
	name     string // as toxiproxy names it (and the Fault's params field): reset_peer
	typ      sockdv1.FaultType
	tcp, udp bool
	params   []faultParam
	about    string
}

var (
	pLatency       = faultParam{"latency", "latency", durationParam}
	pJitter        = faultParam{"jitter", "jitter", durationParam}
	pRate          = faultParam{"rate", "rate", rateParam}
	pAverageSize   = faultParam{"average-size", "average_size", sizeParam}
	pSizeVariation = faultParam{"size-variation", "size_variation", sizeParam}
	pDelay         = faultParam{"delay", "delay", durationParam}
	pTimeout       = faultParam{"timeout", "timeout", durationParam}
	pBytes         = faultParam{"bytes", "bytes", sizeParam}
	pPercent       = faultParam{"percent", "percent", percentParam}
	pCorrelation   = faultParam{"correlation", "correlation", percentParam}
	pGap           = faultParam{"gap", "gap", countParam}
)

// faultKinds are every fault type, in the API's order.
var faultKinds = []faultKind{
	{"latency", sockdv1.FaultType_FAULT_TYPE_LATENCY, true, true, []faultParam{pLatency, pJitter}, "each chunk or datagram delayed by latency ± jitter"},
	{"bandwidth", sockdv1.FaultType_FAULT_TYPE_BANDWIDTH, true, true, []faultParam{pRate}, "shaped to rate bytes per second"},
	{"slicer", sockdv1.FaultType_FAULT_TYPE_SLICER, true, false, []faultParam{pAverageSize, pSizeVariation, pDelay}, "chunks cut into small writes, delay apart"},
	{"timeout", sockdv1.FaultType_FAULT_TYPE_TIMEOUT, true, true, []faultParam{pTimeout}, "data stops; closed after timeout (0: never)"},
	{"reset_peer", sockdv1.FaultType_FAULT_TYPE_RESET_PEER, true, false, []faultParam{pTimeout}, "a real RST to both sides after timeout"},
	{"limit_data", sockdv1.FaultType_FAULT_TYPE_LIMIT_DATA, true, false, []faultParam{pBytes}, "closed after that many bytes"},
	{"slow_close", sockdv1.FaultType_FAULT_TYPE_SLOW_CLOSE, true, false, []faultParam{pDelay}, "the close passed on delay late"},
	{"blackhole", sockdv1.FaultType_FAULT_TYPE_BLACKHOLE, true, true, nil, "nothing read: the sender blocks (UDP: all dropped)"},
	{"loss", sockdv1.FaultType_FAULT_TYPE_LOSS, false, true, []faultParam{pPercent, pCorrelation}, "percent of datagrams dropped, in bursts with correlation"},
	{"duplicate", sockdv1.FaultType_FAULT_TYPE_DUPLICATE, false, true, []faultParam{pPercent}, "percent of datagrams sent twice"},
	{"reorder", sockdv1.FaultType_FAULT_TYPE_REORDER, false, true, []faultParam{pPercent, pGap}, "percent of datagrams held back past the next gap ones"},
	{"corrupt", sockdv1.FaultType_FAULT_TYPE_CORRUPT, false, true, []faultParam{pPercent}, "percent of datagrams with one byte flipped"},
}

// allFaultParams are every parameter once, by flag name, in table order.
var allFaultParams = func() []faultParam {
	var out []faultParam
	for _, k := range faultKinds {
		for _, p := range k.params {
			if !slices.ContainsFunc(out, func(q faultParam) bool { return q.flag == p.flag }) {
				out = append(out, p)
			}
		}
	}
	return out
}()

// faultKindNamed finds a type by what the user typed: "latency",
// "reset_peer" or "reset-peer", "LIMIT_DATA", "FAULT_TYPE_LOSS".
func faultKindNamed(s string) (faultKind, error) {
	name := strings.TrimPrefix(strings.ReplaceAll(strings.ToLower(s), "-", "_"), "fault_type_")
	for _, k := range faultKinds {
		if k.name == name {
			return k, nil
		}
	}
	return faultKind{}, usagef("unknown fault type %q: want one of %s", s, strings.Join(faultKindNames(), ", "))
}

func faultKindOf(t sockdv1.FaultType) (faultKind, bool) {
	for _, k := range faultKinds {
		if k.typ == t {
			return k, true
		}
	}
	return faultKind{}, false
}

func faultKindNames() []string {
	names := make([]string, len(faultKinds))
	for i, k := range faultKinds {
		names[i] = k.name
	}
	return names
}

func (k faultKind) param(flag string) (faultParam, bool) {
	for _, p := range k.params {
		if p.flag == flag {
			return p, true
		}
	}
	return faultParam{}, false
}

// flagList is the type's parameters as flags, for messages and help.
func (k faultKind) flagList() string {
	if len(k.params) == 0 {
		return "none"
	}
	flags := make([]string, len(k.params))
	for i, p := range k.params {
		flags[i] = "--" + p.flag
	}
	return strings.Join(flags, ", ")
}

// protocols is "TCP", "UDP" or "TCP and UDP".
func (k faultKind) protocols() string {
	switch {
	case k.tcp && k.udp:
		return "TCP and UDP"
	case k.tcp:
		return "TCP"
	}
	return "UDP"
}

// faultTypesHelp is the table of types and their flags, for --help.
func faultTypesHelp() string {
	var b strings.Builder
	b.WriteString("Fault types (parameters; where they apply):\n")
	for _, k := range faultKinds {
		fmt.Fprintf(&b, "  %-11s %-48s %s\n", k.name, k.flagList(), k.protocols())
	}
	b.WriteString(`
Durations as 100ms or 2s; sizes in bytes, with a unit if you like (KB = 1000,
KiB = 1024: --bytes 4KB); --rate in bytes per second (--rate 100KB is
100,000 bytes/s, as toxiproxy's 100 KB/s); percents from 0 to 100.
`)
	return b.String()
}

// setParam parses a parameter's value and sets it in the params message of
// f, made if f has none yet.
func (k faultKind) setParam(f *sockdv1.Fault, p faultParam, value string) error {
	var v protoreflect.Value
	switch p.kind {
	case durationParam:
		d, err := parseDuration(p.flag, value)
		if err != nil {
			return err
		}
		v = protoreflect.ValueOfMessage(durationpb.New(d).ProtoReflect())
	case sizeParam:
		n, err := parseSize(p.flag, value)
		if err != nil {
			return err
		}
		v = protoreflect.ValueOfInt64(n)
	case rateParam:
		n, err := parseRate(p.flag, value)
		if err != nil {
			return err
		}
		v = protoreflect.ValueOfInt64(n)
	case percentParam:
		pc, err := parsePercent(p.flag, value)
		if err != nil {
			return err
		}
		v = protoreflect.ValueOfFloat64(pc)
	case countParam:
		n, err := parseCount(p.flag, value)
		if err != nil {
			return err
		}
		v = protoreflect.ValueOfInt32(n)
	}
	fm := f.ProtoReflect()
	paramsField := fm.Descriptor().Fields().ByName(protoreflect.Name(k.name))
	if paramsField == nil {
		return fmt.Errorf("fault type %s has no params field", k.name) // the table and the proto disagree
	}
	params := fm.Mutable(paramsField).Message()
	field := params.Descriptor().Fields().ByName(protoreflect.Name(p.field))
	if field == nil {
		return fmt.Errorf("fault type %s has no field %s", k.name, p.field)
	}
	params.Set(field, v)
	return nil
}

// newFault is a fault of this type with no parameters set yet (a type
// with no parameters has none to set).
func (k faultKind) newFault() *sockdv1.Fault {
	f := &sockdv1.Fault{Type: k.typ}
	if len(k.params) == 0 {
		return f
	}
	fm := f.ProtoReflect()
	if fd := fm.Descriptor().Fields().ByName(protoreflect.Name(k.name)); fd != nil {
		fm.Mutable(fd) // an empty params message: the type's defaults
	}
	return f
}

// faultFlags are the parameter flags of `fault add` and `fault set`, and
// the direction and probability.
type faultFlags struct {
	values      map[string]*string // by parameter flag name
	upstream    bool
	downstream  bool
	probability string
	name        string
}

// add registers the flags on cmd; withDirection and withName for `fault
// add` (a fault's direction and name do not change).
func (ff *faultFlags) add(cmd *cobra.Command, withDirection bool) {
	ff.values = map[string]*string{}
	fs := cmd.Flags()
	for _, p := range allFaultParams {
		v := new(string)
		ff.values[p.flag] = v
		var users []string
		for _, k := range faultKinds {
			if _, ok := k.param(p.flag); ok {
				users = append(users, k.name)
			}
		}
		fs.StringVar(v, p.flag, "", paramUsage(p)+" ("+strings.Join(users, ", ")+")")
	}
	fs.StringVar(&ff.probability, "probability", "", "chance, 0 to 1, that the fault applies to a given connection or UDP session (default 1)")
	if withDirection {
		fs.BoolVar(&ff.upstream, "upstream", false, "apply to data from the client to the upstream server")
		fs.BoolVar(&ff.downstream, "downstream", false, "apply to data from the upstream server to the client (the default)")
		fs.StringVar(&ff.name, "name", "", "the fault's name (default <type>_<direction>, as latency_downstream)")
	}
}

func paramUsage(p faultParam) string {
	switch p.kind {
	case durationParam:
		return "a duration, as 100ms"
	case sizeParam:
		return "bytes, as 4096 or 4KB"
	case rateParam:
		return "bytes per second, as 100KB"
	case percentParam:
		return "percent, 0 to 100"
	}
	return "a count"
}

// build makes the fault of kind k from the flags the user gave (changed),
// and the update-mask paths they name.
func (ff *faultFlags) build(k faultKind, changed func(string) bool) (*sockdv1.Fault, []string, error) {
	f := k.newFault()
	var paths []string
	for _, p := range allFaultParams {
		if !changed(p.flag) {
			continue
		}
		kp, ok := k.param(p.flag)
		if !ok {
			return nil, nil, usagef("--%s is not a parameter of %s faults (theirs: %s)", p.flag, k.name, k.flagList())
		}
		if err := k.setParam(f, kp, *ff.values[p.flag]); err != nil {
			return nil, nil, err
		}
		paths = append(paths, k.name+"."+kp.field)
	}
	if changed("probability") {
		pr, err := parseProbability(ff.probability)
		if err != nil {
			return nil, nil, err
		}
		f.Probability = proto.Float64(pr)
		paths = append(paths, "probability")
	}
	if ff.upstream && ff.downstream {
		return nil, nil, usagef("--upstream or --downstream, not both")
	}
	if ff.upstream {
		f.Direction = sockdv1.Direction_DIRECTION_UPSTREAM
	} else if ff.downstream {
		f.Direction = sockdv1.Direction_DIRECTION_DOWNSTREAM
	}
	f.Name = ff.name
	return f, paths, nil
}

// parseFaultSpec reads proxy create's --fault: a type, then its
// parameters, probability, name and direction as comma-separated
// key=value pairs after a colon ("latency:latency=100ms,jitter=10ms",
// "limit_data:bytes=40", "loss:percent=30,upstream").
func parseFaultSpec(spec string) (*sockdv1.Fault, error) {
	typ, rest, _ := strings.Cut(spec, ":")
	k, err := faultKindNamed(strings.TrimSpace(typ))
	if err != nil {
		return nil, usagef("--fault %q: %v", spec, err)
	}
	ff := faultFlags{values: map[string]*string{}}
	given := map[string]bool{}
	if strings.TrimSpace(rest) != "" {
		for _, item := range strings.Split(rest, ",") {
			key, value, hasValue := strings.Cut(strings.TrimSpace(item), "=")
			key = strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(key), "--"), "_", "-")
			switch {
			case key == "upstream" && !hasValue:
				ff.upstream = true
			case key == "downstream" && !hasValue:
				ff.downstream = true
			case key == "direction" && hasValue:
				switch strings.ToLower(value) {
				case "upstream":
					ff.upstream = true
				case "downstream":
					ff.downstream = true
				default:
					return nil, usagef("--fault %q: direction %q: want upstream or downstream", spec, value)
				}
			case key == "name" && hasValue:
				ff.name = value
			case key == "probability" && hasValue:
				ff.probability = value
				given[key] = true
			case hasValue && slices.ContainsFunc(allFaultParams, func(p faultParam) bool { return p.flag == key }):
				ff.values[key] = &value
				given[key] = true
			default:
				return nil, usagef("--fault %q: %q: want PARAM=VALUE (%s's: %s), probability=P, name=N, upstream or downstream", spec, item, k.name, strings.ReplaceAll(k.flagList(), "--", ""))
			}
		}
	}
	f, _, err := ff.build(k, func(name string) bool { return given[name] })
	if err != nil {
		return nil, usagef("--fault %q: %v", spec, err)
	}
	return f, nil
}
