#!/usr/bin/env bash
# Clean-machine check: runs the README's two commands (`cargo xtask demo`, then
# `cargo xtask test`) in a fresh Debian 12 root, so a package that was installed by hand on a
# developer's machine cannot hide a missing setup step.
#
# The root is made with debootstrap from the Debian archive and holds only the baseline the
# README assumes: Debian's python3, gcc as Rust's linker, ca-certificates (how Rust got onto the
# machine) and git. This machine's Rust toolchain is bind-mounted read-only; cargo's registry
# starts empty. The repository is cloned from HEAD (commit first: uncommitted changes are not
# tested). Everything else must come from the commands themselves.
#
# Usage (as root, from anywhere):  bash scripts/clean-root-check.sh [--reuse] [COMMAND...]
#   The root is /var/tmp/demix-clean-root (or $DEMIX_CLEAN_ROOT), rebuilt each run; --reuse
#   keeps the previous run's root and clone (to re-run a command after a failure).
#   COMMAND... replaces the default pair, e.g. `bash scripts/clean-root-check.sh "cargo xtask test"`.
# Output: the log in ROOT.log with each command's time; exit status 0 when every command passed.
# Needs: debootstrap (on setup's package list), network access to the Debian archive,
# crates.io and PyPI.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
reuse=0
if [ "${1:-}" = --reuse ]; then
    reuse=1
    shift
fi
commands=("$@")
[ ${#commands[@]} -gt 0 ] || commands=("cargo xtask demo" "cargo xtask test")
root=${DEMIX_CLEAN_ROOT:-/var/tmp/demix-clean-root}
log="$root.log"
marker="$root/.demix-clean-root" # only a folder holding this is ever deleted
suite=bookworm
mirror=${DEMIX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
baseline=python3,gcc,libc6-dev,ca-certificates,git

[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap and chroot need it)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap not found: run \`cargo xtask setup\`" >&2; exit 1; }
[ ! -e "$root" ] || [ -f "$marker" ] || { echo "$root exists and is not a clean root made by this script" >&2; exit 1; }
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

exec > >(tee -a "$log") 2>&1
echo "== clean-root check of $(git -C "$repo" rev-parse --short HEAD) in $root ($(date -u +%FT%TZ))"
t0=$SECONDS
if grep -q " $root/" /proc/mounts; then
    echo "something is still mounted under $root; unmount it first" >&2
    exit 1
fi
if [ $reuse = 0 ] || [ ! -d "$root/root/demix" ]; then
    rm -rf "$root"
    debootstrap --variant=minbase --include="$baseline" "$suite" "$root" "$mirror"
    touch "$marker"
    cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF
    # No services start inside the root while packages install.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod +x "$root/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # The network as this machine sees it: locally added CAs (e.g. an HTTPS-inspecting egress
    # proxy) and proxy settings. Nothing else of the host goes in.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates >/dev/null
    fi
    git clone -q "$repo" "$root/root/demix"
fi
echo "== root ready after $((SECONDS - t0)) s"

bind /proc "$root/proc"
bind /sys "$root/sys"
bind /dev "$root/dev"
bind /dev/pts "$root/dev/pts"
bind "$toolchain" "$root/opt/rust" ro

status=0
for cmd in "${commands[@]}"; do
    t1=$SECONDS
    rc=0
    chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} \
        ${no_proxy:+no_proxy=$no_proxy} \
        CI=true bash -c "cd /root/demix && $cmd" || rc=$?
    echo "== $cmd in the clean root: exit $rc after $((SECONDS - t1)) s"
    if [ $rc != 0 ]; then
        status=$rc
        break
    fi
done
echo "== total $((SECONDS - t0)) s"
exit $status
