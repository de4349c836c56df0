// Package toxiproxy serves toxiproxy 2.x's HTTP API (toxiproxy v2.5.0's
// api.go: /proxies, /proxies/{proxy}, /proxies/{proxy}/toxics[/{toxic}],
// /populate, /reset, /version) over sockd's ProxyService, so that
// toxiproxy-cli and toxiproxy's client libraries drive sockd's proxies
// unchanged: the same JSON (toxic attributes in toxiproxy's units), status
// codes and error bodies ({"error": "...", "status": N}).
//
// It holds no state of its own. A toxiproxy proxy is an ordinary sockd
// proxy named by its toxiproxy name, a toxic an ordinary fault named by
// its toxic name; every request is translated into ProxyService calls on
// one gRPC connection (the daemon's in-process gateway connection), with
// the caller's Authorization header and address as metadata, so that
// authentication, ownership, the address policy, limits and logs apply as
// to any other call. docs/toxiproxy.md says where it differs from
// toxiproxy, and why.
//
// It is part of the daemon (cmd/sockd wires it behind the HTTP side's
// guards) and may import gen, grpc and, for its metadata keys, service.
package toxiproxy
