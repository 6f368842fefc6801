#!/usr/bin/env bash
# Runs a test program on a real X display with a system tray: starts Xvfb on a free display
# number and trayer (a freedesktop.org tray host) on it, runs the program, stops both.
# Usage: run-under-xvfb.sh PROGRAM [ARGS...]
set -euo pipefail

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "run-under-xvfb.sh: '$1' is missing; install the Debian package $2" \
             "(scripts/install-deps.sh build test)" >&2
        exit 1
    fi
}
need Xvfb xvfb
need trayer trayer
need import imagemagick

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# Starts Xvfb on display $1; true once its socket exists (at most 30 s on a loaded machine).
start_xvfb() {
    Xvfb ":$1" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 300); do
        if [ -e "/tmp/.X11-unix/X$1" ] && kill -0 "$pid" 2>/dev/null; then
            pids+=("$pid")
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1 # taken meanwhile (e.g. a parallel test)
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    return 1
}

display=""
for n in $(seq 90 190); do
    if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ] && start_xvfb "$n"; then
        display=$n
        break
    fi
done
if [ -z "$display" ]; then
    echo "run-under-xvfb.sh: could not start Xvfb on any display between :90 and :190" >&2
    exit 1
fi
export DISPLAY=":$display"

# A plain, opaque panel at the top right; the test waits until it owns the tray selection.
trayer --edge top --align right --widthtype request --height 32 --transparent false \
       --tint 0x404040 --SetDockType true --expand true >/dev/null 2>&1 &
pids+=($!)

export QT_QPA_PLATFORM=xcb
unset WAYLAND_DISPLAY
"$@"
