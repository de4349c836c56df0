package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TLS mistakes say what to do: a plaintext sockctl against a TLS sockd is
// told to pass --tls-ca; a TLS sockctl against a plaintext one to leave it
// out; a sockd that wants a client certificate says so.
func TestSockctlExplainsTLSMistakes(t *testing.T) {
	p := newPKI(t, "hints")
	cert, key := p.issue(t, "127.0.0.1", true)
	tlsd := startSockd(t, "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", p.CAFile)
	plain := startSockd(t)
	for _, tc := range []struct {
		d    *daemon
		args []string
		want string
	}{
		{tlsd, []string{"ls"}, "speaks TLS: pass --tls-ca"},
		{plain, []string{"--tls-ca", p.CAFile, "ls"}, "does not speak TLS: leave out --tls-ca"},
		{tlsd, []string{"--tls-ca", p.CAFile, "ls"}, "present a client certificate"},
	} {
		r := sockctl(t, tc.d, nil, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("sockctl %v: exit %d, %q; want a message saying %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// recv -o json always says whether it is the end of the stream; recv and
// recvfrom take the same default size; an admin's ls has an OWNER column,
// a principal's own has none.
func TestSockctlSmallThings(t *testing.T) {
	d := startSockd(t, "--token-file", writeTokens(t, aliceToken+" alice", rootToken+" root"), "--admin", "root")
	alice := []string{"--token", aliceToken}
	l := lastLine(sockctlOK(t, d, append(alice, "listen", "tcp", "127.0.0.1:0")...))
	addr := jsonField(t, sockctlOK(t, d, append(alice, "inspect", l, "-o", "json")...), "localAddress")
	c := lastLine(sockctlOK(t, d, append(alice, "connect", "tcp", addr)...))
	a := lastLine(sockctlOK(t, d, append(alice, "accept", l)...))
	sockctlOK(t, d, append(alice, "send", c, "hi")...)
	var got map[string]any
	if err := json.Unmarshal([]byte(sockctlOK(t, d, append(alice, "recv", a, "-o", "json")...)), &got); err != nil {
		t.Fatal(err)
	}
	if eof, ok := got["eof"]; !ok || eof != false {
		t.Errorf("recv -o json: %v, want an eof field (false)", got)
	}
	for _, cmd := range []string{"recv", "recvfrom"} {
		help := sockctlOK(t, d, cmd, "--help")
		if !strings.Contains(help, "(default 65536)") {
			t.Errorf("%s -n's default is not 65536:\n%s", cmd, help)
		}
	}
	if out := sockctlOK(t, d, append(alice, "ls")...); strings.Contains(out, "OWNER") {
		t.Errorf("alice's own ls has an OWNER column:\n%s", out)
	}
	if out := sockctlOK(t, d, "--token", rootToken, "ls"); !strings.Contains(out, "OWNER") || !strings.Contains(out, "alice") {
		t.Errorf("an admin's ls lacks the OWNER column:\n%s", out)
	}
	if r := sockctl(t, d, nil, append(alice, "create", "tcp", "--idle-timeout", "soon")...); r.code != 2 || !strings.Contains(r.stderr, "--idle-timeout") {
		t.Errorf("--idle-timeout soon: exit %d %q", r.code, r.stderr)
	}
}
