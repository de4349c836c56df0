package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sockd/sockd/client"
)

// errAmbiguous is an id prefix that matches more than one socket.
type errAmbiguous struct {
	prefix     string
	candidates []string
}

func (e errAmbiguous) Error() string {
	return fmt.Sprintf("ambiguous id prefix %q: matches %s (AMBIGUOUS)", e.prefix, strings.Join(e.candidates, ", "))
}

// resolve turns what the user typed into a socket id: an id or a name as
// is, else a unique prefix of an id among the user's sockets.
func (g *globals) resolve(ctx context.Context, ref string) (string, error) {
	c, err := g.client()
	if err != nil {
		return "", err
	}
	s, err := c.Get(ctx, ref)
	if err == nil {
		return s.GetId(), nil
	}
	if !errors.Is(err, client.ErrNotFound) {
		return "", err
	}
	all, lerr := c.List(ctx, client.ListOptions{})
	if lerr != nil {
		return "", err
	}
	var matches []string
	for _, s := range all {
		if strings.HasPrefix(s.GetId(), ref) {
			matches = append(matches, s.GetId())
		}
	}
	switch len(matches) {
	case 0:
		return "", err
	case 1:
		return matches[0], nil
	}
	slices.Sort(matches)
	return "", usageError{errAmbiguous{prefix: ref, candidates: matches}}
}
