#!/usr/bin/env bash
# The Python socket tutorial's echo server and echo client, with sockd
# holding the socket and sockctl driving it, one socket call per command.
#
#   examples/shell/tutorial.sh server [ADDR]   # sockd listens on ADDR and echoes one client
#   examples/shell/tutorial.sh client [ADDR]   # sockd connects to ADDR, says hello, prints the answer
#
# ADDR is 127.0.0.1:65432 unless given. sockctl must be on PATH; it finds
# sockd at $SOCKD_ADDR (default 127.0.0.1:50051).
set -euo pipefail

mode=${1:-}
addr=${2:-127.0.0.1:65432}

echo_server() {
	data=$(mktemp)
	trap 'rm -f "$data"; sockctl close ${conn:-} echo-server >/dev/null 2>&1 || true' EXIT

	sockctl listen tcp "$addr" --name echo-server >/dev/null
	echo "Listening on $addr"
	conn=$(sockctl accept echo-server --timeout 60s) # prints the new socket's id
	sockctl inspect "$conn"                         # its state and addresses

	# Echo until the client closes: recv then writes nothing (EOF).
	while true; do
		sockctl recv "$conn" -n 1024 --timeout 60s >"$data"
		[ -s "$data" ] || break
		sockctl send "$conn" --file "$data"
	done
}

echo_client() {
	trap 'sockctl close ${id:-} >/dev/null 2>&1 || true' EXIT

	id=$(sockctl connect tcp "$addr") # prints the new socket's id
	sockctl send "$id" "Hello, world"
	echo "Received $(sockctl recv "$id" -n 1024 --timeout 10s)"
}

case $mode in
server) echo_server ;;
client) echo_client ;;
*)
	echo "usage: $0 server|client [ADDR]" >&2
	exit 2
	;;
esac
