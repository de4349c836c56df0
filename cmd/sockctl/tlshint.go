package main

import "strings"

// connectionHint turns the riddles a TLS mismatch produces into what to do
// about it: a plaintext client talking to a TLS sockd reads "error reading
// server preface: EOF"; a TLS client talking to a plaintext one reads "first
// record does not look like a TLS handshake"; a server that wants a client
// certificate and gets none ends the handshake ("certificate required",
// "broken pipe").
func (g *globals) connectionHint(msg string) string {
	switch {
	case g.tlsCA == "" && strings.Contains(msg, "error reading server preface"):
		return "sockd at " + g.addr + " speaks TLS: pass --tls-ca CA.pem (and --tls-cert/--tls-key if it wants client certificates) (" + msg + ")"
	case g.tlsCA != "" && strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "sockd at " + g.addr + " does not speak TLS: leave out --tls-ca (" + msg + ")"
	case g.tlsCA != "" && g.tlsCert == "" && (strings.Contains(msg, "certificate required") || strings.Contains(msg, "broken pipe")):
		return "sockd at " + g.addr + " requires a client certificate: pass --tls-cert and --tls-key (" + msg + ")"
	case g.tlsCA != "" && strings.Contains(msg, "certificate signed by unknown authority"):
		return "sockd at " + g.addr + "'s certificate is not signed by --tls-ca " + g.tlsCA + " (" + msg + ")"
	}
	return msg
}
