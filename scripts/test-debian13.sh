#!/usr/bin/env bash
# Builds the project and runs every test on Debian 13 (trixie, Qt 6.8), in a debootstrap chroot,
# while scripts/test.sh covers the host's Debian 12 (Qt 6.4). CI runs both.
#
# Run as root, non-interactively; it is idempotent. The chroot lives outside the repository,
# in ${TOW_DEBIAN13_ROOT:-/var/cache/tow-ci/debian13}, and is kept for the next run: the first
# run makes it with `debootstrap --variant=minbase trixie` from the Debian mirror the host's apt
# uses (into DIR.tmp, renamed to DIR once complete, so a half-made chroot is never reused).
# Each run makes the chroot a mount point of its own, mounts /proc, /sys, /dev, /dev/pts, a fresh
# /dev/shm and this source tree at /src in the chroot, installs what the tests need with
# scripts/install-deps.sh, then configures, builds and tests with the `debian13` CMake preset (build
# tree build/debian13, so the host's build/release is left alone). Everything is unmounted on exit,
# also on failure; mounts left by a killed earlier run are unmounted first.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd -P)
root=${TOW_DEBIAN13_ROOT:-/var/cache/tow-ci/debian13}
suite=trixie
preset=debian13
# Written into the chroot as the last step of its setup; a chroot without it is made again.
marker_name=etc/tow-ci-chroot-ready
# The fixed environment of every command run inside the chroot.
chroot_env=(env -i HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
            XDG_RUNTIME_DIR=/run/user/0)

started=$SECONDS
stage="start"
log() { echo "=== test-debian13: $*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "test-debian13.sh: must run as root (debootstrap, mount, chroot)" >&2
    exit 2
fi
case "$root" in
    /*/*) ;;
    *) echo "test-debian13.sh: TOW_DEBIAN13_ROOT must be an absolute path below /: '$root'" >&2
       exit 2 ;;
esac
# Canonical, as /proc/mounts and /proc/PID/root give it.
root=$(realpath -m "$root")

# The mount points below DIR (DIR itself included), deepest first; /proc/mounts writes a space
# as \040.
mounts_under() {
    local dir=$1 point
    while read -r _ point _; do
        point=$(printf '%b' "$point")
        if [ "$point" = "$dir" ] || [[ "$point" == "$dir"/* ]]; then
            printf '%s\n' "$point"
        fi
    done </proc/mounts | sort -r
}

# Ends the processes whose root is the chroot DIR (a daemon a test left behind would keep its
# mounts busy): TERM, then KILL after 5 s.
kill_chroot_processes() {
    local dir=$1 signal proc pids
    for signal in TERM KILL; do
        pids=()
        for proc in /proc/[0-9]*; do
            if [ "$(readlink "$proc/root" 2>/dev/null)" = "$dir" ]; then
                pids+=("${proc#/proc/}")
            fi
        done
        [ ${#pids[@]} -eq 0 ] && return 0
        echo "test-debian13: ending processes left in $dir: ${pids[*]} ($signal)" >&2
        kill -s "$signal" "${pids[@]}" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            sleep 0.5
            kill -0 "${pids[@]}" 2>/dev/null || return 0
        done
    done
}

# Unmounts everything below DIR, deepest first; a mount that stays busy is detached (lazy).
unmount_under() {
    local dir=$1 point
    [ -n "$(mounts_under "$dir")" ] || return 0
    kill_chroot_processes "$dir"
    # A bind mount of a path that is itself mounted twice shows twice: loop until none is left.
    for _ in 1 2 3; do
        while read -r point; do
            [ -n "$point" ] || continue
            umount "$point" 2>/dev/null || umount -l "$point" || true
        done < <(mounts_under "$dir")
        [ -n "$(mounts_under "$dir")" ] || return 0
    done
    echo "test-debian13.sh: could not unmount everything below $dir:" >&2
    mounts_under "$dir" >&2
    return 1
}

# Deletes a chroot directory, after unmounting what is below it; --one-file-system as well, so a
# mount that survived (the source tree, /dev) is never descended into.
remove_tree() {
    local dir=$1
    [ -e "$dir" ] || return 0
    unmount_under "$dir" || true
    # The source tree is on the same file system as the chroot, often: never rm through a mount.
    if [ -n "$(mounts_under "$dir")" ]; then
        echo "test-debian13.sh: not deleting $dir: something is still mounted below it" >&2
        exit 1
    fi
    rm -rf --one-file-system "$dir"
}

on_exit() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    if ! unmount_under "$root" || ! unmount_under "$root.tmp"; then
        [ "$status" -ne 0 ] || status=1
    fi
    local took=$((SECONDS - started))
    if [ "$status" -eq 0 ]; then
        echo "test-debian13: PASS: Debian 13 ($suite, Qt ${qt_version:-?}): configure, build and" \
            "every test passed, in $root (${took} s)"
    else
        echo "test-debian13: FAIL (exit $status) in stage '$stage': Debian 13 ($suite," \
            "Qt ${qt_version:-?}), chroot $root (${took} s)" >&2
    fi
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One run at a time per chroot.
mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
if ! flock -n 9; then
    log "waiting for another run on $root to finish"
    flock 9
fi

# A killed earlier run may have left its mounts.
unmount_under "$root"
unmount_under "$root.tmp"

# The mirror of the host's Debian 12 (the URIs of the bookworm suite), else deb.debian.org.
host_mirror() {
    local mirror=""
    shopt -s nullglob
    local sources=(/etc/apt/sources.list.d/*.sources)
    local lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    shopt -u nullglob
    if [ ${#sources[@]} -gt 0 ]; then
        # deb822: stanzas separated by blank lines; the first URI of a stanza with suite bookworm.
        mirror=$(awk '
            function flush() {
                if (!found && isdeb && hasSuite && uri != "") { print uri; found = 1 }
                uri = ""; hasSuite = 0; isdeb = 1
            }
            BEGIN { isdeb = 1 }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "types:" {
                isdeb = 0; for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1
            }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" {
                for (i = 2; i <= NF; i++) if ($i == "bookworm") hasSuite = 1
            }
            tolower($1) == "enabled:" && tolower($2) == "no" { isdeb = 0 }
            END { flush() }' "${sources[@]}" | head -n 1)
    fi
    if [ -z "$mirror" ] && [ ${#lists[@]} -gt 0 ]; then
        # One-line style: deb [options] URI SUITE COMPONENTS...
        mirror=$(sed -E -e 's/#.*//' -e 's/\[[^]]*\]//' "${lists[@]}" 2>/dev/null |
                     awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')
    fi
    echo "${mirror:-http://deb.debian.org/debian}"
}
mirror=$(host_mirror)
mirror=${mirror%/}

# 1. The chroot: made once, reused after.
if [ ! -f "$root/$marker_name" ]; then
    stage="debootstrap"
    if [ -e "$root" ]; then
        log "$root has no $marker_name (setup never finished): making it again"
        remove_tree "$root"
    fi
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap on the host"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
    fi
    remove_tree "$root.tmp"
    log "debootstrap --variant=minbase $suite $root.tmp $mirror"
    t=$SECONDS
    debootstrap --variant=minbase "$suite" "$root.tmp" "$mirror"
    unmount_under "$root.tmp"  # debootstrap unmounts its own /proc and /sys; to be sure
    date -u +%FT%TZ >"$root.tmp/$marker_name"
    mv -T "$root.tmp" "$root"
    log "debootstrap took $((SECONDS - t)) s"
else
    log "reusing the chroot $root (made $(cat "$root/$marker_name"))"
fi

# 2. Its configuration, checked on every run.
stage="chroot setup"
sp='[[:space:]]'
if ! grep -Eqs "^deb$sp+(\[[^]]*\]$sp+)?[^[:space:]]+$sp+$suite$sp.*\bmain\b" \
        "$root/etc/apt/sources.list"; then
    echo "deb $mirror $suite main" >"$root/etc/apt/sources.list"
fi
# Packages must not start their services (nginx would take port 80 of the host's network).
printf '#!/bin/sh\n# test-debian13.sh: no service starts in this chroot.\nexit 101\n' \
    >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp -L --remove-destination /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/src" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
chmod 1777 "$root/tmp"
install -d -m 700 "$root/run/user/0"

log "mounting /proc, /sys, /dev, /dev/pts, /dev/shm and $src at /src in $root"
# The chroot's / is a mount point of its own, private (nothing mounted in it reaches the host):
# tests that make a mount namespace (unshare -m, the dynamic-route test's resolver) set the
# propagation of /, which only a mount point has.
mount --bind "$root" "$root"
mount --make-private "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
mount --bind "$src" "$root/src"

# Without the lock's descriptor: what a killed run leaves running in the chroot must not hold
# the lock, the next run ends it (kill_chroot_processes).
in_chroot() {
    "${chroot_env[@]}" chroot "$root" /bin/bash -euo pipefail -c "$1" 9>&-
}

# 3. The packages: the project's own list, as on the host.
stage="packages"
log "apt-get update; scripts/install-deps.sh build test"
t=$SECONDS
# dpkg --configure -a: finishes what a killed run's apt-get left half-installed.
in_chroot 'dpkg --configure -a && apt-get update -q &&
           cd /src && scripts/install-deps.sh build test'
qt_version=$(in_chroot "dpkg-query -W -f='\${Version}' qt6-base-dev" | sed 's/[+-].*//')
log "packages took $((SECONDS - t)) s (Qt $qt_version)"

# 4. Configure, build and test, in build/$preset.
stage="configure"
log "cmake --preset $preset"
t=$SECONDS
in_chroot "cd /src && cmake --preset $preset"
log "configure took $((SECONDS - t)) s"

stage="build"
log "cmake --build --preset $preset"
t=$SECONDS
in_chroot "cd /src && cmake --build --preset $preset"
log "build took $((SECONDS - t)) s"

stage="test"
log "ctest --preset $preset"
t=$SECONDS
in_chroot "cd /src && ctest --preset $preset"
log "tests took $((SECONDS - t)) s"
stage="done"
