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

display=""
for n in $(seq 90 190); do
    if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then
        display=$n
        break
    fi
done
if [ -z "$display" ]; then
    echo "run-under-xvfb.sh: no free X display number between 90 and 190" >&2
    exit 1
fi

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

Xvfb ":$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
# The server is ready when its socket exists (at most 30 s on a loaded machine).
for _ in $(seq 300); do
    [ -e "/tmp/.X11-unix/X$display" ] && break
    if ! kill -0 "${pids[0]}" 2>/dev/null; then
        echo "run-under-xvfb.sh: Xvfb :$display exited at start" >&2
        exit 1
    fi
    sleep 0.1
done
if [ ! -e "/tmp/.X11-unix/X$display" ]; then
    echo "run-under-xvfb.sh: Xvfb :$display did not start within 30 s" >&2
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
