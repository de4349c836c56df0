#!/usr/bin/env bash
# The Python socket tutorial's echo server and echo client, with sockd
# holding the socket and curl driving it through sockd's REST gateway.
#
#   examples/curl/tutorial.sh server [ADDR]   # sockd listens on ADDR and echoes one client
#   examples/curl/tutorial.sh client [ADDR]   # sockd connects to ADDR, says hello, prints the answer
#
# ADDR is 127.0.0.1:65432 unless given; sockd's REST address is $SOCKD_HTTP
# (default 127.0.0.1:8080).
set -euo pipefail

mode=${1:-}
addr=${2:-127.0.0.1:65432}
api=http://${SOCKD_HTTP:-127.0.0.1:8080}/v1

# post PATH JSON: one call. It prints sockd's JSON answer, or on an error
# prints sockd's JSON error to stderr and fails.
post() {
	local answer
	answer=$(curl -sS --fail-with-body "$api/$1" -d "$2") || { echo "$answer" >&2; return 1; }
	echo "$answer"
}

# field NAME: the value of a string field of the JSON answer on stdin.
field() { sed -n 's/.*"'"$1"'":"\([^"]*\)".*/\1/p'; }

echo_server() {
	trap 'curl -s -X DELETE "$api/sockets/conn" >/dev/null; curl -s -X DELETE "$api/sockets/echo-server" >/dev/null' EXIT

	post sockets '{"name":"echo-server","bindAddress":"'"$addr"'","listen":true}' >/dev/null
	echo "Listening on $addr"
	post sockets/echo-server:accept '{"name":"conn","timeout":"60s"}' | field remoteAddress | sed 's/^/Connected by /'

	# Echo until the client closes. Bytes travel as base64 in "data":
	# {"data":"SGVsbG8sIHdvcmxk"}, then {"eof":true,...} at the end.
	while true; do
		answer=$(post sockets/conn:recv '{"maxBytes":1024,"timeout":"60s"}')
		data=$(echo "$answer" | field data)
		if [ -n "$data" ]; then
			post sockets/conn:send '{"data":"'"$data"'","all":true}' >/dev/null
		fi
		case $answer in *'"eof":true'*) break ;; esac
	done
}

echo_client() {
	trap 'curl -s -X DELETE "$api/sockets/client" >/dev/null' EXIT

	post sockets '{"name":"client","connectAddress":"'"$addr"'"}' >/dev/null
	post sockets/client:send '{"text":"Hello, world","all":true}' >/dev/null
	# "text": true answers in text rather than base64: {"text":"Hello, world"}
	echo "Received $(post sockets/client:recv '{"maxBytes":1024,"text":true,"timeout":"10s"}' | field text)"
}

case $mode in
server) echo_server ;;
client) echo_client ;;
*)
	echo "usage: $0 server|client [ADDR]" >&2
	exit 2
	;;
esac
