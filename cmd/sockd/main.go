// Command sockd is the daemon: it holds real kernel sockets for remote
// clients and serves the sockd.v1 API over gRPC and, through grpc-gateway,
// REST. See README.md and docs/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sockd:", err)
		os.Exit(exitCode(err))
	}
}
