package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

// Shell completion (cobra's: `source <(sockctl completion bash)`) asks the
// daemon: socket ids and names from ListSockets, option names from
// ServerInfo.socket_options.

type completer func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective)

// completion completes one argument from what the user has typed of it.
type completion func(cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective)

// completeArgs completes each positional argument by its own completion.
func completeArgs(byIndex ...completion) completer {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= len(byIndex) || byIndex[len(args)] == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return byIndex[len(args)](cmd, toComplete)
	}
}

// completeEach completes every argument the same way (close ID...).
func completeEach(each completion) completer {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return each(cmd, toComplete)
	}
}

// words completes from a fixed list.
func words(list ...cobra.Completion) completion {
	return func(_ *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, w := range list {
			if strings.HasPrefix(w, toComplete) {
				out = append(out, w)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// either offers what both completions offer.
func either(a, b completion) completion {
	return func(cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		x, dx := a(cmd, toComplete)
		y, dy := b(cmd, toComplete)
		if dx == cobra.ShellCompDirectiveError && dy == cobra.ShellCompDirectiveError {
			return nil, dx
		}
		return append(x, y...), cobra.ShellCompDirectiveNoFileComp
	}
}

// flagWords completes a flag's value from a fixed list.
func flagWords(list ...cobra.Completion) completer {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return words(list...)(cmd, toComplete)
	}
}

// sockets completes socket ids and names from the daemon.
func (g *globals) sockets(cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
		socks, err := c.List(ctx, client.ListOptions{})
		for _, s := range socks {
			desc := proto4(s) + " " + state(s.GetState())
			if s.GetLocalAddress() != "" {
				desc += " " + s.GetLocalAddress()
			}
			if strings.HasPrefix(s.GetId(), toComplete) {
				out = append(out, cobra.CompletionWithDesc(s.GetId(), desc))
			}
			if s.GetName() != "" && strings.HasPrefix(s.GetName(), toComplete) {
				out = append(out, cobra.CompletionWithDesc(s.GetName(), desc))
			}
		}
		return err
	})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// options completes the option names the daemon takes
// (ServerInfo.socket_options).
func (g *globals) options(cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	err := g.do(cmd, func(ctx context.Context, c *client.Client) error {
		info, err := c.ServerInfo(ctx)
		if err != nil {
			return err
		}
		// The whole name (SO_REUSEADDR), or the part after its level
		// (reuseaddr), whichever the user is typing, in the user's case.
		typed := strings.ToUpper(toComplete)
		lower := toComplete != "" && toComplete == strings.ToLower(toComplete)
		for _, name := range info.GetSocketOptions() {
			name = strings.ToUpper(name)
			_, short, _ := strings.Cut(name, "_")
			for _, cand := range []string{name, short} {
				if cand != "" && strings.HasPrefix(cand, typed) {
					if lower {
						cand = strings.ToLower(cand)
					}
					out = append(out, cand)
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
