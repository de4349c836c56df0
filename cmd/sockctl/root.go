package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

type streams struct {
	in       io.Reader
	out, err io.Writer
}

// globals are the flags every command shares.
type globals struct {
	streams
	addr          string
	token         string
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsServerName string
	output        string
	timeout       time.Duration
	lease         string

	c *client.Client
}

// run executes sockctl and returns its exit code.
func run(ctx context.Context, args []string, st streams) int {
	g := &globals{streams: st}
	root := newRootCommand(g)
	root.SetArgs(args)
	root.SetIn(st.in)
	root.SetOut(st.out)
	root.SetErr(st.err)
	err := root.ExecuteContext(ctx)
	if g.c != nil {
		g.c.Close()
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errInterrupted) {
		return exitInterrupted
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code // lease run: the command's own exit code
	}
	code, msg := describe(err)
	fmt.Fprintf(st.err, "sockctl: %s\n", g.connectionHint(msg))
	if code == exitUsage {
		fmt.Fprintln(st.err, "Run 'sockctl --help' for usage.")
	}
	return code
}

// errInterrupted ends a command the user stopped with Ctrl-C.
var errInterrupted = errors.New("interrupted")

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "sockctl",
		Short: "Drive real sockets on a sockd host",
		Long: `sockctl drives the real kernel sockets that sockd holds: create, bind, listen,
accept, connect, send, receive, and watch them change — the socket API of
Python's socket module, from a terminal.

Sockets are named by id, by the name given at creation, or by a unique prefix
of the id. Commands that create a socket print its id as the last line.

Examples:
  ID=$(sockctl listen tcp 127.0.0.1:8090)        # create + bind + listen
  CONN=$(sockctl accept $ID --timeout 30s)
  sockctl recv $CONN -n 1024                    # raw bytes to stdout
  sockctl send $CONN "hello"
  sockctl attach $(sockctl connect tcp 127.0.0.1:8090)   # like nc
  sockctl ls -o json

` + exitCodeHelp(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", envOr("SOCKD_ADDR", client.DefaultAddr), "sockd's gRPC address (env SOCKD_ADDR)")
	pf.StringVar(&g.token, "token", os.Getenv("SOCKD_TOKEN"), "bearer token (env SOCKD_TOKEN)")
	pf.StringVar(&g.tlsCA, "tls-ca", os.Getenv("SOCKD_TLS_CA"), "connect with TLS, trusting this CA file (env SOCKD_TLS_CA)")
	pf.StringVar(&g.tlsCert, "tls-cert", os.Getenv("SOCKD_TLS_CERT"), "client certificate for mTLS (env SOCKD_TLS_CERT)")
	pf.StringVar(&g.tlsKey, "tls-key", os.Getenv("SOCKD_TLS_KEY"), "client key for mTLS (env SOCKD_TLS_KEY)")
	pf.StringVar(&g.tlsServerName, "tls-server-name", "", "server name to verify (default: the host of --addr)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table, json or yaml")
	pf.StringVar(&g.lease, "lease", os.Getenv("SOCKD_LEASE"), "create sockets under this lease (env SOCKD_LEASE; see 'sockctl lease')")
	pf.DurationVar(&g.timeout, "timeout", 0, "how long a blocking call (accept, connect, recv, ...) may wait, and a limit for the command (0: the socket's own timeout, none by default)")
	_ = root.RegisterFlagCompletionFunc("output", flagWords("table", "json", "yaml"))
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		switch g.output {
		case "table", "json", "yaml":
			return nil
		}
		return usagef("-o %q: want table, json or yaml", g.output)
	}
	root.AddCommand(
		newCreateCommand(g), newLsCommand(g), newInspectCommand(g),
		newBindCommand(g), newListenCommand(g), newAcceptCommand(g), newConnectCommand(g),
		newSendCommand(g), newRecvCommand(g), newSendToCommand(g), newRecvFromCommand(g),
		newShutdownCommand(g), newCloseCommand(g),
		newSetoptCommand(g), newGetoptCommand(g), newSetTimeoutCommand(g),
		newAttachCommand(g), newWatchCommand(g), newLeaseCommand(g), newVersionCommand(g),
		newProxyCommand(g), newRelayCommand(g), newFaultCommand(g), newCaptureCommand(g), newReplayCommand(g),
	)
	group(root)
	usageArgs(root)
	return root
}

// group makes cmd a command that only holds others: alone it prints its
// help, with an argument it is a usage error (an unknown command).
func group(cmd *cobra.Command) {
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// usageArgs makes every argument error of cmd and its subcommands a usage
// error (exit 2), as flag errors are.
func usageArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		usageArgs(sub)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// client dials sockd once per run.
func (g *globals) client() (*client.Client, error) {
	if g.c != nil {
		return g.c, nil
	}
	var opts []client.Option
	if g.token != "" {
		opts = append(opts, client.WithToken(g.token))
	}
	if g.tlsCA != "" || g.tlsCert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: g.tlsServerName}
		if g.tlsCA != "" {
			pem, err := os.ReadFile(g.tlsCA)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca %s: no certificates in it", g.tlsCA)
			}
			cfg.RootCAs = pool
		}
		if g.tlsCert != "" || g.tlsKey != "" {
			cert, err := tls.LoadX509KeyPair(g.tlsCert, g.tlsKey)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, client.WithTLS(cfg))
	}
	c, err := client.Dial(g.addr, opts...)
	if err != nil {
		return nil, err
	}
	g.c = c
	return c, nil
}

// parseLabels reads repeated -l k=v flags.
func parseLabels(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, f := range flags {
		for _, kv := range strings.Split(f, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, usagef("-l %q: want key=value", f)
			}
			m[k] = v
		}
	}
	return m, nil
}

// selector renders labels as a label selector.
func selector(flags []string) string { return strings.Join(flags, ",") }
