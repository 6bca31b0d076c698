#!/usr/bin/env bash
# Runs the README's Quick start block as written, from the repository root, and checks what
# it promises: one active and one passive, and after the SIGKILL of the active one the other
# takes over with a larger token.
# Usage: quick_start_test.sh REPO_DIR
set -euo pipefail
repo=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-quick-start.XXXXXX")
trap 'pkill -TERM -f "run --group demo --ttl 3s" 2>/dev/null || true; rm -rf "$tmp"' EXIT

# The lines between "## Quick start"'s ```sh and the next ```.
awk '/^## Quick start/ {in_section = 1} in_section && /^```sh/ {in_block = 1; next}
     in_block && /^```/ {exit} in_block {print}' "$repo/README.md" >"$tmp/quick_start.sh"
if ! grep -q 'kill -9' "$tmp/quick_start.sh"; then
  echo "quick start test: no Quick start block found in README.md" >&2
  exit 1
fi

cd "$repo"
if ! timeout 300 bash "$tmp/quick_start.sh" >"$tmp/out" 2>&1; then
  cat "$tmp/out"
  echo "quick start test: the Quick start failed" >&2
  exit 1
fi
# The two status tables: "active: ID  token N ...".
mapfile -t actives < <(grep '^active: ' "$tmp/out")
if [ "${#actives[@]}" -ne 2 ]; then
  cat "$tmp/out"
  echo "quick start test: expected two status tables with an active instance" >&2
  exit 1
fi
read -r _ first_id _ first_token _ <<<"${actives[0]}"
read -r _ second_id _ second_token _ <<<"${actives[1]}"
members=$(grep -cE '^[^ ]+ +(active|passive) ' "$tmp/out" || true)
echo "before: $first_id token $first_token; after: $second_id token $second_token; member lines: $members"
if [ "$first_id" = "$second_id" ] || [ "$second_token" -le "$first_token" ] || [ "$members" -lt 3 ]; then
  cat "$tmp/out"
  echo "quick start test: the other instance did not take over" >&2
  exit 1
fi
echo "quick start test: ok"
