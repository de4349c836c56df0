package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

// completeSockets completes socket ids and names from the daemon, for the
// first argument of commands that act on a socket (cobra's shell completion:
// `source <(sockctl completion bash)`).
func (g *globals) completeSockets(argIndex int) func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) != argIndex {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := g.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ctx, cancel := g.ctx(cmd)
		defer cancel()
		socks, err := c.List(ctx, client.ListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []cobra.Completion
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
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
