package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/sockd/sockd/service"
)

// config is sockd's settings. Every flag is also read from the environment as
// SOCKD_<FLAG> (upper case, dashes as underscores); a flag on the command line
// wins over the environment.
type config struct {
	grpcAddr        string
	httpAddr        string
	maxCallBytes    int
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	insecure        bool
}

// errUsage is a bad command line: exit code 2, as flag's own errors.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("sockd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.grpcAddr, "grpc-addr", "127.0.0.1:50051", "gRPC listen address (host:port; port 0 picks a free one)")
	fs.StringVar(&c.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP address for the REST gateway, /openapi.json, /healthz; empty disables")
	fs.IntVar(&c.maxCallBytes, "max-call-bytes", service.DefaultMaxBytesPerCall, "most data in one Send, Recv, SendTo, RecvFrom or Attach message")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 2*time.Second, "on SIGTERM, how long in-flight calls may finish before the sockets are closed under them")
	fs.BoolVar(&c.insecure, "insecure", false, "allow listening on a non-loopback address without authentication")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sockd [flags]\n\nsockd holds real kernel TCP/UDP sockets for remote clients (gRPC, REST, sockctl).\nEvery flag can also be set as SOCKD_<FLAG>, e.g. SOCKD_GRPC_ADDR.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "SOCKD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] {
			if err := fs.Set(f.Name, v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%w: %s=%q: %v", errUsage, env, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	return c, c.validate()
}

func (c *config) validate() error {
	if c.maxCallBytes <= 0 || c.maxCallBytes > 64<<20 {
		return fmt.Errorf("%w: --max-call-bytes must be from 1 to %d", errUsage, 64<<20)
	}
	if c.shutdownTimeout < 0 {
		return fmt.Errorf("%w: --shutdown-timeout must not be negative", errUsage)
	}
	switch c.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("%w: --log-format must be text or json", errUsage)
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	for name, addr := range map[string]string{"--grpc-addr": c.grpcAddr, "--http-addr": c.httpAddr} {
		if addr == "" && name == "--http-addr" {
			continue
		}
		loopback, err := isLoopback(addr)
		if err != nil {
			return fmt.Errorf("%w: %s %q: %v", errUsage, name, addr, err)
		}
		if !loopback && !c.insecure {
			return fmt.Errorf("refusing to listen on %s %s without authentication: anyone who can reach it could open sockets on this host; "+
				"listen on loopback (127.0.0.1), or pass --insecure if this network is trusted", name, addr)
		}
	}
	return nil
}

// isLoopback reports whether a listen address is on loopback only. An empty
// host or a name other than localhost is not.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, nil
	}
	return ip.Unmap().IsLoopback(), nil
}
