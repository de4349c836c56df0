package main

import (
	"context"
	"fmt"
	"os"
)

// sweep measures throughput at several chunk sizes through every path.
func sweep(ctx context.Context, e *env) ([]throughput, error) {
	var out []throughput
	for _, size := range []int{1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10} {
		t, err := e.measureTCP(ctx, size, true)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "  sweep %6d B: sockd %.0f MB/s, bare gRPC %.0f, direct TCP %.0f, socat %.0f\n",
			size, t.sockd/1e6, t.bare/1e6, t.direct/1e6, t.socatBps/1e6)
		out = append(out, t)
	}
	return out, nil
}
