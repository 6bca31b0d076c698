#!/usr/bin/env bash
# Installs the Debian 12 packages baton needs to build and test, only those missing.
# Run as root on a fresh machine; a no-op when everything is present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang-format util-linux procps
  libsqlite3-dev sqlite3 libpq-dev postgresql postgresql-contrib faketime
  libcli11-dev libspdlog-dev libtomlplusplus-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev jq dpkg-dev file libsystemd-dev
  prometheus-cpp-dev libcpp-httplib-dev chromium fonts-dejavu-core
  etcd-server etcd-client libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  golang-etcd-server-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "baton: missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
  exit 1
fi
echo "baton: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
