#!/usr/bin/env bash
# Renders the application icon's PNG sizes and the Windows .ico from the SVG. The results are
# committed; run this after editing resources/icons/app/tcp-over-websocket.svg.
# Needs: scripts/install-deps.sh icons (librsvg2-bin, imagemagick).
set -euo pipefail
cd "$(dirname "$0")/../resources/icons/app"

sizes=(16 24 32 48 64 128 256)
for size in "${sizes[@]}"; do
    rsvg-convert --width "$size" --height "$size" tcp-over-websocket.svg \
        --output "tcp-over-websocket-$size.png"
done
convert tcp-over-websocket-{16,24,32,48,64,128,256}.png ../../windows/tcp-over-websocket.ico
