#!/usr/bin/env bash
# Installs the .deb that CPack makes from BUILD_DIR into a clean Debian 12 root, as a user
# would on a fresh machine (apt-get install ./baton_*.deb, which fetches the dependencies
# from Debian's mirror), then runs baton --version and a short failover there.
# The root is made with debootstrap (minbase) unless ROOT names one already made.
# Needs root and Debian's mirror. Usage: deb_install_check.sh BUILD_DIR [ROOT]
set -euo pipefail
build=$(realpath "$1")
root=${2:-}
mirror=http://deb.debian.org/debian
tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-deb-install.XXXXXX")
cleanup() {
  if [[ -n ${root:-} ]] && mountpoint -q "$root/proc"; then umount "$root/proc"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if [[ -z $root ]]; then
  command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
  }
  root=$tmp/root
  echo "deb install: debootstrap --variant=minbase bookworm $root (a few minutes)"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
    tail -20 "$tmp/debootstrap.log" >&2
    exit 1
  }
fi
if chroot "$root" sh -c 'command -v baton' >/dev/null 2>&1; then
  echo "deb install: $root already has baton: give a clean root" >&2
  exit 1
fi

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1 || {
  cat "$tmp/cpack.log" >&2
  exit 1
}
deb=$(basename "$(ls "$tmp"/out/baton_*.deb)")
cp "$tmp/out/$deb" "$root/tmp/$deb"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
echo "deb install: apt-get install ./$deb in the clean root"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  bash -euo pipefail -c "
    apt-get update -qq
    cd /tmp && apt-get install -y -qq ./$deb >/tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }
    echo \"deb install: baton --version: \$(baton --version)\"
    # Two instances on the default store, the first killed: the second takes over.
    baton run --store sqlite:/tmp/g.db --group g --ttl 1s -- sleep 30 2>/tmp/a.log &
    first=\$!
    sleep 0.5
    baton run --store sqlite:/tmp/g.db --group g --ttl 1s -- sleep 30 2>/tmp/b.log &
    second=\$!
    sleep 0.5
    kill -9 \$first
    sleep 2
    baton status --store sqlite:/tmp/g.db --group g | sed -n 2p
    grep -q 'became active with token 2' /tmp/b.log
    kill \$second; wait \$second || true
  "
echo "deb install: ok"
