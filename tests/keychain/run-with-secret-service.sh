#!/usr/bin/env bash
# Runs a test program against a real Secret Service: a D-Bus session bus of its own
# (dbus-run-session) with GNOME Keyring's secrets component on it, its login keyring created and
# unlocked with a throw-away password. HOME and the XDG directories point into a temporary
# directory, so the person's own keyring and profiles are never touched. No display: nothing may
# prompt. All of it ends with the program (dbus-run-session stops the bus, the keyring daemon
# leaves with it).
# Usage: run-with-secret-service.sh PROGRAM [ARGS...]
set -euo pipefail

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "run-with-secret-service.sh: '$1' is missing; install the Debian package $2" \
             "(scripts/install-deps.sh build test)" >&2
        exit 1
    fi
}
need dbus-run-session dbus-daemon
need gnome-keyring-daemon gnome-keyring

home=$(mktemp -d "${TMPDIR:-/tmp}/tow-keychain-test.XXXXXX")
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/data" "$home/config" "$home/cache" "$home/runtime"
chmod 700 "$home/runtime"
export HOME="$home" XDG_DATA_HOME="$home/data" XDG_CONFIG_HOME="$home/config" \
       XDG_CACHE_HOME="$home/cache" XDG_RUNTIME_DIR="$home/runtime"
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL

# Inside the session: the daemon reads the password on stdin, creates the login keyring with it
# and unlocks it, forks, and returns once it serves org.freedesktop.secrets.
# shellcheck disable=SC2016
dbus-run-session -- bash -c '
    set -euo pipefail
    printf "%s" "tow-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    exec "$@"' run-with-secret-service "$@"
