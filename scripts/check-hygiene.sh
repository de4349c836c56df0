#!/usr/bin/env bash
# Fails on what does not belong in git: a tracked file over 1 MiB outside
# docs/ (build outputs, binaries), or a tracked binary built from cmd/.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(git ls-files -z | xargs -0 -r stat -c '%s %n' | awk '$1 > 1048576 && $2 !~ /^docs\// {print $2}')
for c in cmd/*/; do
  name=$(basename "$c")
  if git ls-files --error-unmatch "$c$name" >/dev/null 2>&1; then bad="$bad $c$name"; fi
done
if [ -n "${bad// /}" ]; then
  echo "check-hygiene: these tracked files do not belong in git (over 1 MiB outside docs/, or a built binary):" >&2
  for f in $bad; do echo "  $f" >&2; done
  exit 1
fi
echo "check-hygiene: no build outputs or files over 1 MiB tracked outside docs/"
