// Command sockbench measures what going through sockd costs: it starts a
// real sockd and the baselines a user could use instead (a bare gRPC stream
// into a sink, direct loopback TCP and UDP, socat, the gRPC health Check on
// the same server, plain Go dials) and runs each case against its baseline
// in the same run, printing one line per case:
//
//	case, sockd figure, baseline figure, ratio (and the target)
//
// With -json it prints the results as JSON; with -plot it draws throughput
// against chunk size as a PNG. See docs/benchmarks.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

type options struct {
	sockd             string
	sockctl           string
	duration          time.Duration
	warmup            time.Duration
	runs              int
	json              bool
	out               string // also write the JSON results here
	md                string // also write the results as a Markdown table here
	cases             string
	plot              string
	idle              int
	sink              bool   // internal: serve the bare gRPC sink
	sinkRetain        int64  // internal: ... its offsets side's retain bytes (sockd's)
	sinkReadAhead     int64  // internal: ... and Attach read-ahead (sockd's)
	goRelay           string // internal: serve the Go relay baseline to this upstream
	goRelayConcurrent bool   // internal: ... reading and writing at once
	profile           string // write a CPU profile of sockd during the run here
	profSecs          int
	// captureRev is the git revision the capture cases build their two
	// sockds from (capture_cases.go).
	captureRev string
}

func main() {
	var o options
	flag.StringVar(&o.sockd, "sockd", "bin/sockd", "the sockd binary to measure")
	flag.StringVar(&o.sockctl, "sockctl", "bin/sockctl", "the sockctl binary the pipe cases run")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "how long each throughput measurement runs")
	flag.DurationVar(&o.warmup, "warmup", 300*time.Millisecond, "traffic before each measurement starts")
	flag.IntVar(&o.runs, "runs", 1, "runs of each case; the report gives min, median and max of the ratios")
	flag.BoolVar(&o.json, "json", false, "print the results as JSON")
	flag.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	flag.StringVar(&o.md, "md", "", "also write the results as a Markdown table to this file (docs/benchmarks.md's)")
	flag.StringVar(&o.cases, "cases", "all", "comma-separated case prefixes to run (attach, udp, pipe, unary, idle, control, memory, relay, proxyudp, latency, bandwidth, conns, capture, sweep)")
	flag.StringVar(&o.plot, "plot", "", "write a PNG of throughput against chunk size to this file (runs the sweep)")
	flag.IntVar(&o.idle, "idle-sockets", 10000, "sockets the idle case holds")
	flag.BoolVar(&o.sink, "serve-sink", false, "internal: serve a bare gRPC sink and print its addresses")
	flag.Int64Var(&o.sinkRetain, "sink-retain-bytes", 0, "internal: -serve-sink's offsets side reports this retain_bytes")
	flag.Int64Var(&o.sinkReadAhead, "sink-read-ahead-bytes", 0, "internal: -serve-sink's offsets side reports this attach_read_ahead_bytes")
	flag.StringVar(&o.goRelay, "serve-relay", "", "internal: serve a Go io.Copy relay to this upstream and print its address")
	flag.BoolVar(&o.goRelayConcurrent, "serve-relay-concurrent", false, "internal: -serve-relay splices in and out at once")
	flag.StringVar(&o.profile, "profile", "", "write sockd's CPU profile to this file (the first -profile-seconds of the run)")
	flag.IntVar(&o.profSecs, "profile-seconds", 8, "how long -profile records")
	flag.StringVar(&o.captureRev, "capture-rev", "HEAD", "the git revision the capture cases build sockd from, with and without the capture hook")
	flag.Parse()
	if o.sink {
		serveSink(o)
		return
	}
	if o.goRelay != "" {
		serveGoRelay(o.goRelay, o.goRelayConcurrent)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sockbench:", err)
		os.Exit(1)
	}
}

// result is one case measured once.
type result struct {
	Case     string  `json:"case"`
	Unit     string  `json:"unit"`
	Sockd    float64 `json:"sockd"`
	Baseline float64 `json:"baseline"`
	Against  string  `json:"against"`
	Ratio    float64 `json:"ratio"`
	Target   string  `json:"target,omitempty"` // ">= 0.80", "<= 2048", ...
	Note     string  `json:"note,omitempty"`
}

// summary is a case over all runs.
type summary struct {
	result
	Runs      int       `json:"runs"`
	RatioMin  float64   `json:"ratioMin"`
	RatioMax  float64   `json:"ratioMax"`
	AllRatios []float64 `json:"ratios"`
	Met       bool      `json:"met"`
}

func run(ctx context.Context, o options, out io.Writer) error {
	e, err := newEnv(ctx, o)
	if err != nil {
		return err
	}
	defer e.close()
	defer closeShared()
	defer closeCapture()
	want := func(prefix string) bool {
		if o.cases == "all" {
			return prefix != "sweep" || o.plot != ""
		}
		for _, c := range strings.Split(o.cases, ",") {
			if strings.HasPrefix(prefix, c) || strings.HasPrefix(c, prefix) {
				return true
			}
		}
		return false
	}
	var groups []func(context.Context, *env) ([]result, error)
	if want("attach") {
		groups = append(groups, attachTCPCases)
	}
	if want("udp") {
		groups = append(groups, attachUDPCases)
	}
	if want("pipe") {
		groups = append(groups, pipeCases)
	}
	if want("unary") {
		groups = append(groups, unaryCases)
	}
	if want("control") {
		groups = append(groups, controlCases)
	}
	if want("idle") {
		groups = append(groups, idleCases)
	}
	if want("memory") {
		groups = append(groups, memoryCases)
	}
	if want("relay") {
		groups = append(groups, relayCases)
	}
	if want("proxyudp") {
		groups = append(groups, proxyUDPCases)
	}
	if want("latency") {
		groups = append(groups, latencyCases)
	}
	if want("bandwidth") {
		groups = append(groups, bandwidthCases)
	}
	if want("conns") {
		groups = append(groups, connsCases)
	}
	if want("capture") {
		groups = append(groups, captureCases)
	}
	if o.profile != "" {
		stop, err := e.startProfile(o.profile, o.profSecs)
		if err != nil {
			return err
		}
		defer stop()
		// And this process's own (the writers, readers and sinks), beside.
		stopSelf, err := profileSelf(o.profile+".sockbench", o.profSecs)
		if err != nil {
			return err
		}
		defer stopSelf()
	}
	byCase := map[string][]result{}
	var order []string
	for r := 0; r < o.runs; r++ {
		for _, g := range groups {
			results, err := g(ctx, e)
			if err != nil {
				return err
			}
			for _, res := range results {
				if _, seen := byCase[res.Case]; !seen {
					order = append(order, res.Case)
				}
				byCase[res.Case] = append(byCase[res.Case], res)
				if !o.json {
					fmt.Fprintf(os.Stderr, "  run %d: %s\n", r+1, line(res))
				}
			}
		}
	}
	var sums []summary
	for _, c := range order {
		sums = append(sums, summarize(byCase[c]))
	}
	if o.plot != "" {
		points, err := sweep(ctx, e)
		if err != nil {
			return err
		}
		if err := plotPNG(o.plot, points); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", o.plot)
	}
	report := map[string]any{"machine": machine(), "duration": o.duration.String(), "runs": o.runs, "cases": sums}
	if o.out != "" {
		b, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if o.md != "" {
		if err := os.WriteFile(o.md, []byte(markdown(o, sums)), 0o644); err != nil {
			return err
		}
	}
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	fmt.Fprintf(out, "%-36s %14s %14s  %-24s %s\n", "case", "sockd", "baseline", "ratio min–median–max", "target")
	for _, s := range sums {
		fmt.Fprintf(out, "%-36s %14s %14s  %.2f–%.2f–%.2f %9s  %s %s  (vs %s)\n", s.Case, fmtValue(s.Sockd, s.Unit), fmtValue(s.Baseline, s.Unit),
			s.RatioMin, s.Ratio, s.RatioMax, "", s.Target, metWord(s.Met), s.Against)
	}
	return nil
}

func metWord(met bool) string {
	if met {
		return "ok"
	}
	return "MISSED"
}

// markdown is the results as a table, each row with the command that
// reproduces it.
func markdown(o options, sums []summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| case | sockd (median run) | baseline | ratio min – median – max (n = %d) | target | met | reproduce |\n", o.runs)
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, s := range sums {
		note := ""
		if s.Note != "" {
			note = "<br>" + s.Note
		}
		fmt.Fprintf(&b, "| `%s` | %s%s | %s: %s | %.2f – **%.2f** – %.2f | %s | %s | `bin/sockbench -cases %s -runs %d` |\n",
			s.Case, fmtValue(s.Sockd, s.Unit), note, s.Against, fmtValue(s.Baseline, s.Unit),
			s.RatioMin, s.Ratio, s.RatioMax, s.Target, metWord(s.Met), caseGroup(s.Case), o.runs)
	}
	return b.String()
}

// caseGroup is the -cases value that runs a case.
func caseGroup(c string) string {
	if strings.HasPrefix(c, "attach-udp") {
		return "udp"
	}
	if strings.HasPrefix(c, "attach-pipe") {
		return "pipe"
	}
	for _, g := range []string{"attach", "udp", "unary", "control", "idle", "memory", "relay", "proxyudp", "latency", "bandwidth", "conns", "capture"} {
		if strings.HasPrefix(c, g) {
			return g
		}
	}
	return c
}

func line(r result) string {
	return fmt.Sprintf("%s: sockd %s, %s %s, ratio %.3f", r.Case, fmtValue(r.Sockd, r.Unit), r.Against, fmtValue(r.Baseline, r.Unit), r.Ratio)
}

// summarize takes the run with the median ratio as the representative.
func summarize(rs []result) summary {
	sorted := slices.Clone(rs)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Ratio < sorted[j].Ratio })
	mid := sorted[len(sorted)/2]
	s := summary{result: mid, Runs: len(rs), RatioMin: sorted[0].Ratio, RatioMax: sorted[len(sorted)-1].Ratio}
	for _, r := range rs {
		s.AllRatios = append(s.AllRatios, r.Ratio)
	}
	s.Met = targetMet(mid.Target, mid.Ratio)
	return s
}

// targetMet reads ">= 0.8", "<= 2" or "in [0.9, 1.1]" (both ends
// included). A case without a target is met; one whose target does not
// read is not, so a typo cannot pass for a success.
func targetMet(target string, v float64) bool {
	if target == "" {
		return true
	}
	if strings.HasPrefix(target, "in [") {
		var lo, hi float64
		if n, err := fmt.Sscanf(target, "in [%g, %g]", &lo, &hi); err != nil || n != 2 || lo > hi {
			return false
		}
		return lo <= v && v <= hi
	}
	var op string
	var bound float64
	if n, err := fmt.Sscanf(target, "%s %g", &op, &bound); err != nil || n != 2 {
		return false
	}
	switch op {
	case ">=":
		return v >= bound
	case "<=":
		return v <= bound
	}
	return false
}

func fmtValue(v float64, unit string) string {
	switch unit {
	case "B/s":
		switch {
		case v < 1e6:
			return fmt.Sprintf("%.1f KB/s", v/1e3)
		case v < 100e6:
			return fmt.Sprintf("%.2f MB/s", v/1e6)
		}
		return fmt.Sprintf("%.0f MB/s", v/1e6)
	case "ops/s":
		return fmt.Sprintf("%.0f ops/s", v)
	case "s":
		if v < 1 {
			return fmt.Sprintf("%.2f ms", v*1e3) // latencies: 0.001 s says too little
		}
		return fmt.Sprintf("%.3f s", v)
	case "B":
		return fmt.Sprintf("%.0f B", v)
	case "dgrams/s":
		return fmt.Sprintf("%.0f dg/s", v)
	case "conn/s":
		return fmt.Sprintf("%.0f conn/s", v)
	}
	return fmt.Sprintf("%.3g %s", v, unit)
}

func machine() map[string]any {
	host, _ := os.Hostname()
	return map[string]any{"cpus": numCPU(), "host": host, "time": time.Now().UTC().Format(time.RFC3339)}
}
