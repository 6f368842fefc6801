#!/usr/bin/env bash
# Builds the project and runs every test, in the normal build and under AddressSanitizer +
# UndefinedBehaviorSanitizer. Works from a bare checkout on Debian 12: installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build test

for preset in release asan; do
    echo "=== $preset: configure, build, test"
    cmake --preset "$preset"
    cmake --build --preset "$preset"
    ctest --preset "$preset"
done
