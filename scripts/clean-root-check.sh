#!/usr/bin/env bash
# Clean-machine check: runs the README's test command (`cargo xtask test`) in a fresh Debian 12
# root, so a package that was installed by hand on a developer's machine cannot hide a missing
# setup step.
#
# The root is made with debootstrap from the Debian archive and holds only the baseline the
# README assumes: Debian's python3, gcc as Rust's linker, ca-certificates (how Rust got onto the
# machine) and git. This machine's Rust toolchain is bind-mounted read-only; cargo's registry
# starts empty. The repository is cloned from HEAD (commit first: uncommitted changes are not
# tested). Everything else must come from `cargo xtask test` itself.
#
# Usage (as root, from anywhere):  bash scripts/clean-root-check.sh [ROOT_DIR]
#   ROOT_DIR defaults to /var/tmp/demix-clean-root and is deleted and rebuilt each run.
# Output: the whole log in ROOT_DIR.log; exit status is the test command's.
# Needs: debootstrap (on setup's package list), network access to the Debian archive,
# crates.io and PyPI.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-/var/tmp/demix-clean-root}
log="$root.log"
suite=bookworm
mirror=${DEMIX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
baseline=python3,gcc,libc6-dev,ca-certificates,git

[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap and chroot need it)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap not found: run \`cargo xtask setup\`" >&2; exit 1; }
toolchain=$(rustc --print sysroot)
[ -x "$toolchain/bin/cargo" ] || { echo "no cargo in $toolchain" >&2; exit 1; }

mounts=()
cleanup() {
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() { # bind SRC DST [ro]
    mkdir -p "$2"
    mount --bind "$1" "$2"
    mounts+=("$2")
    if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}

exec > >(tee "$log") 2>&1
echo "== clean-root check of $(git -C "$repo" rev-parse --short HEAD) in $root ($(date -u +%FT%TZ))"
t0=$SECONDS
if mountpoint -q "$root/proc" 2>/dev/null || grep -q " $root/" /proc/mounts; then
    echo "something is still mounted under $root; unmount it first" >&2
    exit 1
fi
rm -rf "$root"
debootstrap --variant=minbase --include="$baseline" "$suite" "$root" "$mirror"
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF
# No services start inside the root while packages install.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The network as this machine sees it: locally added CAs (e.g. an HTTPS-inspecting egress proxy)
# and proxy settings. Nothing else of the host goes in.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
fi
echo "== root ready after $((SECONDS - t0)) s"

bind /proc "$root/proc"
bind /sys "$root/sys"
bind /dev "$root/dev"
bind /dev/pts "$root/dev/pts"
bind "$toolchain" "$root/opt/rust" ro
git clone -q "$repo" "$root/root/demix"

t1=$SECONDS
status=0
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} \
    ${no_proxy:+no_proxy=$no_proxy} \
    CI=true bash -c 'cd /root/demix && cargo xtask test' || status=$?
echo "== cargo xtask test in the clean root: exit $status after $((SECONDS - t1)) s" \
    "(root $((t1 - t0)) s, total $((SECONDS - t0)) s)"
exit $status
