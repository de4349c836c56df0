#!/usr/bin/env bash
# Makes sure the real peers the tests drive are installed: Python (the socket
# tutorial's peer), iproute2 (ss, ip), util-linux (unshare), bsdutils (script:
# a terminal for sockctl's progress bar), curl, socat, ncat, Chromium
# (the live view's browser test drives it headless), and tshark and tcpdump
# (capture's exports are read by tshark, its text dump compared with
# tcpdump -X; DEBIAN_FRONTEND=noninteractive answers tshark's debconf
# question with its default), and make and systemd-analyze (make install and
# its systemd unit are tested).
# Idempotent: installs only what is missing, with apt-get, when run as root;
# otherwise prints the command to run.
set -euo pipefail

declare -A pkg_of=(
  [python3]=python3
  [ss]=iproute2
  [ip]=iproute2
  [unshare]=util-linux
  [curl]=curl
  [socat]=socat
  [ncat]=ncat
  [script]=bsdutils
  [chromium]=chromium
  [tshark]=tshark
  [tcpdump]=tcpdump
  [make]=make
  [systemd-analyze]=systemd
)
missing=()
for cmd in "${!pkg_of[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_of[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "test-deps: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
