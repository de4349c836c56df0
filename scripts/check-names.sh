#!/usr/bin/env bash
# A copy of the workplace's shared/contract/check-names.sh (the contract in DESIGN.md), kept so
# that the e2e tests run in a clone that has no shared/ beside it.
# Checks that a running sockd speaks the names of ../DESIGN.md: gRPC service, methods and enums (via
# server reflection), REST routes, and the error shape. Usage: check-names.sh GRPC_ADDR HTTP_ADDR
# Needs grpcurl (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4) and curl.
set -u
G=${1:?grpc host:port}; H=${2:?http host:port}
bad=0
miss() { echo "MISSING: $*"; bad=$((bad+1)); }
desc=$(grpcurl -plaintext -max-time 5 "$G" describe sockd.v1.SocketService 2>&1) || { echo "cannot describe sockd.v1.SocketService: $desc"; exit 1; }
for m in CreateSocket GetSocket ListSockets CloseSocket Bind Listen Accept Connect Send Recv SendTo RecvFrom \
         Shutdown SetOption GetOption SetTimeout Attach WatchEvents; do
  echo "$desc" | grep -q "rpc $m *(" || miss "rpc $m"
done
for e in sockd.v1.Protocol sockd.v1.Family sockd.v1.ShutdownHow sockd.v1.State; do
  grpcurl -plaintext -max-time 5 "$G" describe "$e" >/dev/null 2>&1 || miss "enum $e"
done
enums=$(for e in sockd.v1.Protocol sockd.v1.Family sockd.v1.ShutdownHow sockd.v1.State; do
  grpcurl -plaintext -max-time 5 "$G" describe "$e" 2>/dev/null; done)
for v in PROTOCOL_TCP PROTOCOL_UDP FAMILY_IPV4 FAMILY_IPV6 SHUTDOWN_HOW_WRITE STATE_LISTENING STATE_CONNECTED; do
  echo "$enums" | grep -q "$v" || miss "enum value $v"
done
grpcurl -plaintext -max-time 5 "$G" grpc.health.v1.Health/Check >/dev/null 2>&1 || miss "grpc health service"
id=$(curl -s --max-time 5 -X POST "http://$H/v1/sockets" -d '{"protocol":"PROTOCOL_TCP"}' | sed -n 's/.*"id": *"\([a-z0-9]*\)".*/\1/p')
[ -n "$id" ] || miss "POST /v1/sockets returning an id of [a-z0-9]"
# A route exists when an unknown id is answered by sockd itself (not found, for exactly that id) or by its
# validation (400), not by the gateway's own "Not Found" for an unmatched path.
for verb in bind listen accept connect send recv sendTo recvFrom shutdown setOption setTimeout; do
  body=$(curl -s --max-time 5 -w '\n%{http_code}' -X POST "http://$H/v1/sockets/nosuchsocket0000:$verb" -d '{}')
  code=${body##*$'\n'}
  # (the gateway may hand an unmatched POST to GetSocket with the whole "id:verb" as the id: not a route)
  if [ "$code" = 404 ] && ! echo "$body" | grep -q 'nosuchsocket0000[\\"]'; then miss "route POST /v1/sockets/{id}:$verb"; fi
  [ "$code" = 000 ] && miss "route POST /v1/sockets/{id}:$verb answered nothing in 5 s"
done
body=$(curl -s --max-time 5 -w '\n%{http_code}' "http://$H/v1/sockets/nosuchsocket0000/options/SO_RCVBUF")
code=${body##*$'\n'}
if [ "$code" = 404 ] && ! echo "$body" | grep -q SOCKET_NOT_FOUND; then miss "route GET /v1/sockets/{id}/options/{option}"; fi
[ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$H/v1/sockets/${id:-x}")" = 200 ] || miss "GET /v1/sockets/{id}"
[ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$H/v1/sockets")" = 200 ] || miss "GET /v1/sockets"
err=$(curl -s --max-time 5 "http://$H/v1/sockets/nosuchsocket0000")
echo "$err" | grep -q '"reason": *"SOCKET_NOT_FOUND"' || miss "NOT_FOUND error carrying ErrorInfo reason SOCKET_NOT_FOUND (got: ${err:0:160})"
echo "$err" | grep -q '"domain": *"sockd"' || miss "ErrorInfo domain \"sockd\""
curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$H/openapi.json" | grep -q 200 || miss "/openapi.json"
curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$H/healthz" | grep -q 200 || miss "/healthz"
[ -n "$id" ] && curl -s --max-time 5 -X DELETE "http://$H/v1/sockets/$id" >/dev/null
[ $bad = 0 ] && echo "contract names: all present" || { echo "contract names: $bad missing"; exit 1; }
