#!/usr/bin/env bash
# Checks packaging/systemd's unit files with systemd-analyze verify, ExecStart pointed at the
# baton just built (verify requires the program to exist). Any warning fails: verify exits 0
# on an unknown key. Exits 77 (skipped) where systemd-analyze is missing.
# Usage: systemd_units_test.sh UNITS_DIR BATON_BIN
set -euo pipefail
units=$1
baton=$2
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIPPED: systemd-analyze is not installed (Debian: the systemd package), so the unit" \
       "files in $units were not checked"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for unit in "$units"/*.service; do
  name=$(basename "$unit")
  # A template is verified as one of its instances.
  sed "s|/usr/bin/baton|$baton|g" "$unit" >"$tmp/${name/@./@check.}"
done
if ! out=$(cd "$tmp" && systemd-analyze verify "$tmp"/*.service 2>&1); then
  echo "$out"
  echo "systemd units: systemd-analyze verify failed" >&2
  exit 1
fi
if [[ -n $out ]]; then
  echo "$out"
  echo "systemd units: systemd-analyze verify warned" >&2
  exit 1
fi
echo "systemd units: ok ($(cd "$tmp" && echo *.service))"
