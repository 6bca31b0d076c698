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

# A component that does not exist is refused by find_package, not silently skipped.
printf 'cmake_minimum_required(VERSION 3.25)\nproject(p LANGUAGES CXX)\nfind_package(baton CONFIG REQUIRED COMPONENTS nosuch)\n' >"$tmp/CMakeLists.txt"
if cmake -S "$tmp" -B "$tmp/build-nosuch" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null 2>&1; then
  echo "package test: COMPONENTS nosuch was accepted" >&2
  exit 1
fi

# The etcd component, asked for by name, with gRPC visible again (the system's pkg-config).
unset PKG_CONFIG_LIBDIR PKG_CONFIG_PATH
etcd_consumer=$(dirname "$consumer")/etcd_consumer
if [[ -f $tmp/prefix/lib/cmake/baton/baton-etcd-targets.cmake ]]; then
  cmake -S "$etcd_consumer" -B "$tmp/build-etcd" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    >"$tmp/configure-etcd.log" 2>&1 || {
    cat "$tmp/configure-etcd.log" >&2
    echo "package test: find_package(baton COMPONENTS core etcd) failed" >&2
    exit 1
  }
  cmake --build "$tmp/build-etcd" >"$tmp/build-etcd.log" 2>&1 || { cat "$tmp/build-etcd.log" >&2; exit 1; }
  out=$("$tmp/build-etcd/etcd_consumer")
  echo "etcd consumer: $out"
  [[ $out == *"needs at least one endpoint"* ]]
  export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
  flags=$(pkg-config --cflags --libs baton-etcd)
  echo "pkg-config baton-etcd: $flags"
  [[ $flags == *-lbaton_etcd* && $flags == *-lgrpc++* ]]
else
  printf 'cmake_minimum_required(VERSION 3.25)\nproject(p LANGUAGES CXX)\nfind_package(baton CONFIG REQUIRED COMPONENTS etcd)\n' >"$tmp/CMakeLists.txt"
  if cmake -S "$tmp" -B "$tmp/build-etcd" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null 2>&1; then
    echo "package test: COMPONENTS etcd was accepted by a baton built without it" >&2
    exit 1
  fi
fi
echo "package test: ok"
