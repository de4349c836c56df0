package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// printer writes what a command returns in the chosen format.
type printer struct {
	format string
	w      io.Writer
	now    func() time.Time // for ages; tests fix it
}

func (g *globals) printer() *printer {
	return &printer{format: g.output, w: g.out, now: time.Now}
}

// message prints one proto message as JSON or YAML.
func (p *printer) message(m proto.Message) error {
	b, err := stableJSON(m, "  ")
	if err != nil {
		return err
	}
	return p.raw(b)
}

// stableJSON is protojson with encoding/json's whitespace: protojson varies
// its spacing on purpose, and scripts and golden files want it stable.
func stableJSON(m proto.Message, indent string) ([]byte, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if indent == "" {
		err = json.Compact(&out, b)
	} else {
		err = json.Indent(&out, b, "", indent)
	}
	return out.Bytes(), err
}

// asMessages is a list of API messages as proto.Messages.
func asMessages[T proto.Message](list []T) []proto.Message {
	ms := make([]proto.Message, len(list))
	for i, m := range list {
		ms[i] = m
	}
	return ms
}

// result prints what a data call returned, with -o json or yaml only (in
// table mode such a call prints nothing, or its data).
func (g *globals) result(m proto.Message) error {
	if g.output == "table" {
		return nil
	}
	return g.printer().message(m)
}

// created prints what a creating call returned: its id in table mode (for
// $(...)), the whole message otherwise.
func (g *globals) created(id string, m proto.Message) error {
	if g.output == "table" {
		_, err := fmt.Fprintln(g.out, id)
		return err
	}
	return g.printer().message(m)
}

// messages prints a list of messages as a JSON or YAML array.
func (p *printer) messages(ms []proto.Message) error {
	parts := make([]json.RawMessage, 0, len(ms))
	for _, m := range ms {
		b, err := protojson.Marshal(m)
		if err != nil {
			return err
		}
		parts = append(parts, b)
	}
	b, err := json.MarshalIndent(parts, "", "  ")
	if err != nil {
		return err
	}
	return p.raw(b)
}

func (p *printer) raw(jsonBytes []byte) error {
	if p.format == "yaml" {
		y, err := yaml.JSONToYAML(jsonBytes)
		if err != nil {
			return err
		}
		_, err = p.w.Write(y)
		return err
	}
	_, err := fmt.Fprintf(p.w, "%s\n", jsonBytes)
	return err
}

// sockets prints sockets: a table, or JSON/YAML. The table has an OWNER
// column when a socket belongs to someone other than me (only an admin
// sees such sockets).
func (p *printer) sockets(socks []*sockdv1.Socket, fullIDs bool, me string) error {
	if p.format != "table" {
		return p.messages(asMessages(socks))
	}
	owners := slices.ContainsFunc(socks, func(s *sockdv1.Socket) bool { return me != "" && s.GetOwner() != me })
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	head := "ID\tNAME\tPROTO\tSTATE\tLOCAL\tREMOTE\tIN\tOUT\tAGE"
	if owners {
		head += "\tOWNER"
	}
	fmt.Fprintln(tw, head)
	for _, s := range socks {
		id := s.GetId()
		if !fullIDs && len(id) > 12 {
			id = id[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", id, dash(s.GetName()), proto4(s), state(s.GetState()),
			dash(s.GetLocalAddress()), dash(s.GetRemoteAddress()),
			humanBytes(s.GetBytesReceived()), humanBytes(s.GetBytesSent()), age(p.now().Sub(s.GetCreateTime().AsTime())))
		if owners {
			fmt.Fprintf(tw, "\t%s", s.GetOwner())
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// messageAll prints a message with every field, unset ones too (so that
// `recv -o json` always has "eof").
func (p *printer) messageAll(m proto.Message) error {
	b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	return p.raw(out.Bytes())
}

// summary prints a socket that a command changed: one table row, or the
// socket as JSON/YAML.
func (p *printer) summary(s *sockdv1.Socket) error {
	if p.format != "table" {
		return p.message(s)
	}
	return p.sockets([]*sockdv1.Socket{s}, false, "")
}

// socket prints one socket in detail.
func (p *printer) socket(s *sockdv1.Socket) error {
	if p.format != "table" {
		return p.message(s)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("ID", s.GetId())
	row("Name", dash(s.GetName()))
	row("Protocol", proto4(s))
	row("State", state(s.GetState())+flags(s))
	row("Local", dash(s.GetLocalAddress()))
	row("Remote", dash(s.GetRemoteAddress()))
	row("FD", fmt.Sprint(s.GetFd()))
	timeout := "none (blocking)"
	if s.GetTimeout() != nil {
		if d := s.GetTimeout().AsDuration(); d == 0 {
			timeout = "0 (non-blocking)"
		} else {
			timeout = d.String()
		}
	}
	row("Timeout", timeout)
	row("Owner", s.GetOwner())
	if s.GetIdleTimeout() != nil {
		row("Idle timeout", s.GetIdleTimeout().AsDuration().String())
	}
	if s.GetLeaseId() != "" {
		row("Lease", s.GetLeaseId())
	}
	if s.GetParentId() != "" {
		row("Parent", s.GetParentId())
	}
	row("Labels", labels(s.GetLabels()))
	row("Bytes in/out", fmt.Sprintf("%d / %d", s.GetBytesReceived(), s.GetBytesSent()))
	if s.GetProtocol() == sockdv1.Protocol_PROTOCOL_UDP {
		row("Datagrams in/out", fmt.Sprintf("%d / %d", s.GetDatagramsReceived(), s.GetDatagramsSent()))
	}
	if s.GetState() == sockdv1.State_STATE_LISTENING || s.GetAcceptedConnections() > 0 {
		row("Accepted", fmt.Sprint(s.GetAcceptedConnections()))
	}
	row("Created", s.GetCreateTime().AsTime().UTC().Format(time.RFC3339)+" ("+age(p.now().Sub(s.GetCreateTime().AsTime()))+" ago)")
	row("Last activity", s.GetLastActivityTime().AsTime().UTC().Format(time.RFC3339))
	return tw.Flush()
}

func flags(s *sockdv1.Socket) string {
	var f []string
	if s.GetConnecting() {
		f = append(f, "connecting")
	}
	if s.GetReadShutdown() {
		f = append(f, "read shut down")
	}
	if s.GetWriteShutdown() {
		f = append(f, "write shut down")
	}
	if len(f) == 0 {
		return ""
	}
	return " (" + strings.Join(f, ", ") + ")"
}

func proto4(s *sockdv1.Socket) string {
	p := "tcp"
	if s.GetProtocol() == sockdv1.Protocol_PROTOCOL_UDP {
		p = "udp"
	}
	if s.GetFamily() == sockdv1.Family_FAMILY_IPV6 {
		return p + "6"
	}
	return p + "4"
}

func state(s sockdv1.State) string { return strings.TrimPrefix(s.String(), "STATE_") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// age is a duration the way docker and kubectl show it: 5s, 3m, 2h, 4d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
