#!/usr/bin/env bash
# Installs baton from BUILD_DIR into a temporary prefix and builds CONSUMER_DIR against it
# with COMPONENTS core sqlite, where pkg-config can find sqlite3 but not libpq; then builds
# the same main.cc with pkg-config alone (baton-sqlite.pc), still without libpq.
# Usage: package_test.sh BUILD_DIR CONSUMER_DIR
set -euo pipefail
build=$1
consumer=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
mkdir "$tmp/pkgconfig"
for pc in sqlite3 spdlog fmt; do
  cp "$(pkg-config --variable=pcfiledir "$pc")/$pc.pc" "$tmp/pkgconfig/"
done
export PKG_CONFIG_LIBDIR=$tmp/pkgconfig PKG_CONFIG_PATH=
if pkg-config --exists libpq; then
  echo "package test: libpq is still visible to pkg-config" >&2
  exit 1
fi
cmake -S "$consumer" -B "$tmp/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/configure.log" 2>&1 || {
  cat "$tmp/configure.log" >&2
  echo "package test: find_package(baton COMPONENTS core sqlite) failed without libpq" >&2
  exit 1
}
cmake --build "$tmp/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
out=$("$tmp/build/consumer" "$tmp/consumer.db")
echo "$out"
[[ $out == "schema version "* ]]

# The same program with pkg-config: baton-sqlite.pc brings baton-core and sqlite3, not libpq.
export PKG_CONFIG_LIBDIR=$tmp/pkgconfig:$tmp/prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs baton-sqlite) || {
  echo "package test: pkg-config cannot resolve baton-sqlite without libpq" >&2
  exit 1
}
echo "pkg-config baton-sqlite: $flags"
[[ $flags != *-lpq* ]]
c++ -o "$tmp/consumer-pc" "$consumer/main.cc" $flags
out=$("$tmp/consumer-pc" "$tmp/consumer-pc.db")
echo "pkg-config consumer: $out"
[[ $out == "schema version "* ]]
# baton.pc (every store) and baton-postgres.pc need libpq, which is not there.
if pkg-config --exists baton || pkg-config --exists baton-postgres; then
  echo "package test: baton.pc or baton-postgres.pc resolved without libpq" >&2
  exit 1
fi

# A component that was not installed is refused by find_package, not silently skipped.
printf 'cmake_minimum_required(VERSION 3.25)\nproject(p LANGUAGES CXX)\nfind_package(baton CONFIG REQUIRED COMPONENTS etcd)\n' >"$tmp/CMakeLists.txt"
if cmake -S "$tmp" -B "$tmp/build-etcd" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null 2>&1; then
  echo "package test: COMPONENTS etcd was accepted" >&2
  exit 1
fi
echo "package test: ok"
