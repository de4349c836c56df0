#!/usr/bin/env bash
# Fails when the committed gen/ differs from a fresh generation, or when the
# protos fail buf lint or buf format. Generates into a temporary directory, so
# the working tree is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
buf() { go tool -modfile=tools/go.mod buf "$@"; }
buf lint
buf format --diff --exit-code
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
buf generate --output "$tmp"
cp gen/openapiv2/embed.go "$tmp/gen/openapiv2/embed.go"   # the one hand-written file
if ! diff -r gen "$tmp/gen" >"$tmp/diff"; then
  echo "check-gen: gen/ is not what the protos generate; run 'make gen' and commit:" >&2
  head -n 60 "$tmp/diff" >&2
  exit 1
fi
echo "check-gen: gen/ is current; buf lint and buf format are clean"
