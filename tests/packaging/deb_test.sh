#!/usr/bin/env bash
# Builds the .deb with CPack from BUILD_DIR, checks its name and computed Depends, unpacks it
# into a temporary root with dpkg -x and runs the unpacked program.
# Usage: deb_test.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1 || {
  cat "$tmp/cpack.log" >&2
  echo "deb test: cpack -G DEB failed" >&2
  exit 1
}
debs=("$tmp"/out/baton_*.deb)
[[ -f ${debs[0]} ]] || { echo "deb test: no baton_*.deb in $tmp/out" >&2; exit 1; }
deb=${debs[0]}
echo "deb test: built $(basename "$deb")"
[[ $(dpkg-deb -f "$deb" Package) == baton ]]
depends=$(dpkg-deb -f "$deb" Depends)
echo "deb test: Depends: $depends"
for lib in libc6 libsqlite3 libpq5; do
  [[ $depends == *"$lib"* ]] || { echo "deb test: Depends lacks $lib" >&2; exit 1; }
done

dpkg -x "$deb" "$tmp/root"
for file in usr/bin/baton usr/include/baton/store.h usr/lib/libbaton_core.a \
            usr/lib/pkgconfig/baton.pc usr/lib/cmake/baton/batonConfig.cmake; do
  [[ -e $tmp/root/$file ]] || { echo "deb test: the package lacks /$file" >&2; exit 1; }
done
version=$("$tmp/root/usr/bin/baton" --version)
echo "deb test: unpacked baton --version: $version"
[[ $version == *"$(dpkg-deb -f "$deb" Version)"* ]]
echo "deb test: ok"
