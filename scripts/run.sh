#!/usr/bin/env bash
# Builds tcp-over-websocket (release) and runs it. Without arguments it starts a server on
# 127.0.0.1:8080 that tunnels to this machine's SSH (127.0.0.1:22); any arguments are passed on,
# e.g. scripts/run.sh client -listen_tcp :2222 -remote_ws ws://127.0.0.1:8080/
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build
cmake --preset release >/dev/null
cmake --build --preset release --target tcp-over-websocket

if [ $# -eq 0 ]; then
    set -- server -listen_ws 127.0.0.1:8080 -remote_tcp 127.0.0.1:22
fi
exec build/release/bin/tcp-over-websocket "$@"
