package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/reflect/protoreflect"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// The table of fault types is the API's: every FaultType has a kind, every
// kind's params field and parameter fields exist in the proto, with the
// kind of value the parameter writes.
func TestFaultKindsMatchTheAPI(t *testing.T) {
	for v, name := range sockdv1.FaultType_name {
		if v == 0 {
			continue
		}
		k, ok := faultKindOf(sockdv1.FaultType(v))
		if !ok {
			t.Errorf("%s has no entry in faultKinds", name)
			continue
		}
		if want := strings.ToLower(strings.TrimPrefix(name, "FAULT_TYPE_")); k.name != want {
			t.Errorf("%s is named %q, want %q", name, k.name, want)
		}
		fd := (&sockdv1.Fault{}).ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(k.name))
		if len(k.params) > 0 && (fd == nil || fd.Message() == nil) {
			t.Errorf("%s: no params field %q in Fault", name, k.name)
			continue
		}
		for _, p := range k.params {
			field := fd.Message().Fields().ByName(protoreflect.Name(p.field))
			if field == nil {
				t.Errorf("%s: no field %q in %s", name, p.field, fd.Message().FullName())
				continue
			}
			want := map[paramKind]protoreflect.Kind{durationParam: protoreflect.MessageKind, sizeParam: protoreflect.Int64Kind,
				rateParam: protoreflect.Int64Kind, percentParam: protoreflect.DoubleKind, countParam: protoreflect.Int32Kind}[p.kind]
			if field.Kind() != want {
				t.Errorf("%s.%s is %v, the flag writes %v", name, p.field, field.Kind(), want)
			}
			if strings.ReplaceAll(p.field, "_", "-") != p.flag {
				t.Errorf("%s.%s has flag --%s: flags are the fields' names", name, p.field, p.flag)
			}
		}
		if len(k.params) > 0 && fd.Message().Fields().Len() != len(k.params) {
			t.Errorf("%s: %d fields in the proto, %d parameters in sockctl", name, fd.Message().Fields().Len(), len(k.params))
		}
	}
	if len(faultKinds) != len(sockdv1.FaultType_name)-1 {
		t.Errorf("%d fault kinds for %d types", len(faultKinds), len(sockdv1.FaultType_name)-1)
	}
}

// faultCommand is `fault add` or `fault set`'s flags, parsed from args.
func faultFlagsFrom(t *testing.T, withDirection bool, args ...string) (*faultFlags, func(string) bool) {
	t.Helper()
	var ff faultFlags
	cmd := &cobra.Command{Use: "x"}
	ff.add(cmd, withDirection)
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return &ff, cmd.Flags().Changed
}

// Flags become the fault's params, units read as documented, and the
// update mask names exactly the flags given.
func TestFaultFromFlags(t *testing.T) {
	k, _ := faultKindNamed("latency")
	ff, changed := faultFlagsFrom(t, true, "--latency", "100ms", "--jitter", "10ms", "--upstream", "--probability", "0.5", "--name", "slow")
	f, paths, err := ff.build(k, changed)
	if err != nil {
		t.Fatal(err)
	}
	if f.GetType() != sockdv1.FaultType_FAULT_TYPE_LATENCY || f.GetLatency().GetLatency().AsDuration() != 100*time.Millisecond ||
		f.GetLatency().GetJitter().AsDuration() != 10*time.Millisecond || f.GetDirection() != sockdv1.Direction_DIRECTION_UPSTREAM ||
		f.GetProbability() != 0.5 || f.GetName() != "slow" {
		t.Fatalf("fault: %v", f)
	}
	if want := []string{"latency.latency", "latency.jitter", "probability"}; !slices.Equal(paths, want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}

	k, _ = faultKindNamed("slicer")
	ff, changed = faultFlagsFrom(t, false, "--size-variation", "1KiB")
	f, paths, err = ff.build(k, changed)
	if err != nil || f.GetSlicer().GetSizeVariation() != 1024 || f.GetSlicer().GetAverageSize() != 0 || !slices.Equal(paths, []string{"slicer.size_variation"}) {
		t.Fatalf("slicer's one field: %v %v %v", f, paths, err)
	}

	for _, tc := range []struct {
		kind string
		args []string
		want string // in the usage error
	}{
		{"latency", []string{"--rate", "1KB"}, "--rate is not a parameter of latency"},
		{"bandwidth", []string{"--rate", "fast"}, "bytes per second"},
		{"limit_data", []string{"--bytes", "-4"}, "number of bytes"},
		{"latency", []string{"--latency", "-1s"}, "duration"},
		{"loss", []string{"--percent", "130"}, "percentage"},
		{"reorder", []string{"--gap", "1.5"}, "whole number"},
		{"latency", []string{"--probability", "2"}, "from 0 to 1"},
		{"latency", []string{"--upstream", "--downstream"}, "not both"},
		{"blackhole", []string{"--timeout", "1s"}, "theirs: none"},
	} {
		k, err := faultKindNamed(tc.kind)
		if err != nil {
			t.Fatal(err)
		}
		ff, changed := faultFlagsFrom(t, true, tc.args...)
		_, _, err = ff.build(k, changed)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: %v, want a usage error with %q", tc.kind, tc.args, err, tc.want)
		}
	}
}

func TestFaultKindNames(t *testing.T) {
	for _, s := range []string{"reset_peer", "reset-peer", "RESET_PEER", "FAULT_TYPE_RESET_PEER"} {
		if k, err := faultKindNamed(s); err != nil || k.typ != sockdv1.FaultType_FAULT_TYPE_RESET_PEER {
			t.Errorf("%q: %v %v", s, k.name, err)
		}
	}
	if _, err := faultKindNamed("jitter"); err == nil || !strings.Contains(err.Error(), "latency, bandwidth") {
		t.Errorf("an unknown type: %v", err)
	}
}

func TestFaultSpecs(t *testing.T) {
	f, err := parseFaultSpec("latency:latency=100ms,jitter=10ms,upstream,probability=0.25,name=slow")
	if err != nil || f.GetLatency().GetLatency().AsDuration() != 100*time.Millisecond || f.GetDirection() != sockdv1.Direction_DIRECTION_UPSTREAM ||
		f.GetProbability() != 0.25 || f.GetName() != "slow" {
		t.Fatalf("latency spec: %v %v", f, err)
	}
	if f, err := parseFaultSpec("limit_data:bytes=4KB"); err != nil || f.GetLimitData().GetBytes() != 4000 {
		t.Fatalf("limit_data spec: %v %v", f, err)
	}
	if f, err := parseFaultSpec("slicer:average_size=10,size-variation=2"); err != nil || f.GetSlicer().GetAverageSize() != 10 || f.GetSlicer().GetSizeVariation() != 2 {
		t.Fatalf("slicer spec (either spelling): %v %v", f, err)
	}
	if f, err := parseFaultSpec("blackhole"); err != nil || f.GetType() != sockdv1.FaultType_FAULT_TYPE_BLACKHOLE {
		t.Fatalf("blackhole spec: %v %v", f, err)
	}
	for _, bad := range []string{"", "nosuch", "latency:rate=1KB", "latency:latency", "latency:direction=sideways", "loss:percent=x", "latency:,"} {
		_, err := parseFaultSpec(bad)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

func TestUnits(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "4KB": 4000, "4kb": 4000, "4KiB": 4096, "4k": 4000, "1.5MB": 1500000,
		"1MiB": 1 << 20, "2G": 2e9, "0.1KB": 100, "10 KB": 10000, "7B": 7} {
		if got, err := parseSize("x", in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5", "KB", "4XB", "NaN", "1e30", "0x10"} {
		if _, err := parseSize("x", bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
	for in, want := range map[string]int64{"100KB": 100000, "100KB/s": 100000, "1MiB/s": 1 << 20, "5000": 5000} {
		if got, err := parseRate("rate", in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if p, err := parsePercent("percent", "30%"); err != nil || p != 30 {
		t.Errorf("30%%: %v %v", p, err)
	}
}
