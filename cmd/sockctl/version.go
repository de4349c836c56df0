package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the client's and the server's versions, and the server's limits",
		Long: `Version prints sockctl's version (from its build), and what GetServerInfo says
of the sockd at --addr: its version, the limits a client must respect, the
address policy and the features that are on. If sockd cannot be reached, the
client's version is printed and the error follows, as kubectl version does.`,
		Example: `  sockctl version
  sockctl version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var info *sockdv1.ServerInfo
			err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
				var err error
				info, err = c.ServerInfo(ctx)
				return err
			})
			if perr := g.printVersion(info); perr != nil {
				return perr
			}
			return err
		},
	}
}

// clientVersion is sockctl's version and toolchain.
type clientVersion struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func thisClient() clientVersion {
	return clientVersion{Version: client.Version(), Revision: client.Revision(), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

// printVersion prints the versions; info is nil when sockd did not answer.
func (g *globals) printVersion(info *sockdv1.ServerInfo) error {
	cv := thisClient()
	if g.output != "table" {
		out := struct {
			Client clientVersion   `json:"clientVersion"`
			Server json.RawMessage `json:"serverInfo,omitempty"`
		}{Client: cv}
		if info != nil {
			b, err := protojson.Marshal(info)
			if err != nil {
				return err
			}
			out.Server = b
		}
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, b, "", "  "); err != nil {
			return err
		}
		return g.printer().raw(indented.Bytes())
	}
	build := cv.GoVersion + ", " + cv.Platform
	if cv.Revision != "" {
		build = "commit " + cv.Revision + ", " + build
	}
	fmt.Fprintf(g.out, "Client Version: %s (%s)\n", cv.Version, build)
	if info == nil {
		return nil
	}
	fmt.Fprintf(g.out, "Server Version: %s\n", dash(info.GetVersion()))
	l := info.GetLimits()
	tw := tabwriter.NewWriter(g.out, 0, 4, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s:\t%s\n", k, v) }
	fmt.Fprintln(tw, "Server Limits:")
	row("bytes per call", byteCount(l.GetMaxCallBytes()))
	row("message size", byteCount(l.GetMaxMessageBytes()))
	row("retained stream bytes", byteCount(l.GetRetainBytes()))
	row("attach read-ahead", byteCount(l.GetAttachReadAheadBytes()))
	row("sockets per principal", limitCount(int64(l.GetMaxSocketsPerPrincipal())))
	row("sockets", limitCount(int64(l.GetMaxSockets())))
	row("streams per principal", limitCount(int64(l.GetMaxStreamsPerPrincipal())))
	row("calls per second", limitCount(int64(l.GetCallsPerSecond())))
	if l.GetIdleTimeout() != nil {
		row("idle timeout", l.GetIdleTimeout().AsDuration().String())
	} else {
		row("idle timeout", "none")
	}
	if l.GetRestCallTimeout() != nil {
		row("REST call timeout", l.GetRestCallTimeout().AsDuration().String())
	}
	if p := info.GetPolicy(); p != nil {
		fmt.Fprintln(tw, "Server Policy:")
		row("bind", strings.Join(p.GetAllowBind(), ", "))
		row("connect", strings.Join(p.GetAllowConnect(), ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(info.GetFeatures()) > 0 {
		fmt.Fprintf(g.out, "Server Features: %s\n", strings.Join(info.GetFeatures(), ", "))
	}
	if info.GetPrincipal() != "" {
		fmt.Fprintf(g.out, "You are: %s\n", info.GetPrincipal())
	}
	return nil
}

func byteCount(n int64) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%d (%s)", n, humanBytes(uint64(n)))
}

func limitCount(n int64) string {
	if n <= 0 {
		return "no limit"
	}
	return fmt.Sprint(n)
}
