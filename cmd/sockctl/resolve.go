package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// errAmbiguous is an id prefix that matches more than one socket.
type errAmbiguous struct {
	prefix     string
	candidates []string
}

func (e errAmbiguous) Error() string {
	return fmt.Sprintf("ambiguous id prefix %q: matches %s (%s)", e.prefix, strings.Join(e.candidates, ", "), reasonAmbiguous)
}

// resolve finds the socket that what the user typed names: an id or a name
// as is, else a unique prefix of an id among the user's sockets.
func (g *globals) resolve(ctx context.Context, c *client.Client, ref string) (*sockdv1.Socket, error) {
	s, err := c.Get(ctx, ref)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, client.ErrSocketNotFound) {
		return nil, err
	}
	all, lerr := c.List(ctx, client.ListOptions{})
	if lerr != nil {
		return nil, err
	}
	var matches []*sockdv1.Socket
	for _, s := range all {
		if strings.HasPrefix(s.GetId(), ref) {
			matches = append(matches, s)
		}
	}
	switch len(matches) {
	case 0:
		if p, ok := protocolTypo(ref); ok {
			return nil, usagef("unknown protocol %s (tcp or udp), and no socket is named %q", p, ref)
		}
		return nil, err
	case 1:
		return matches[0], nil
	}
	ids := make([]string, len(matches))
	for i, m := range matches {
		ids[i] = m.GetId()
	}
	slices.Sort(ids)
	return nil, usageError{errAmbiguous{prefix: ref, candidates: ids}}
}

// protocolTypo recognises a first argument that is a protocol sockd does
// not have (sctp, tcp6, ...) rather than a socket.
func protocolTypo(ref string) (string, bool) {
	switch strings.ToLower(ref) {
	case "sctp", "dccp", "raw", "icmp", "tcp4", "tcp6", "udp4", "udp6", "unix", "quic":
		return ref, true
	}
	return "", false
}
