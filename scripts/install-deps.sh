#!/usr/bin/env bash
# Installs the Debian packages a task needs, only those missing; non-interactive, idempotent.
# Debian 12 and 13 (scripts/test-debian13.sh runs it in a trixie chroot) use the same names but
# for the SVG plugins.
# Usage: scripts/install-deps.sh build [test] [icons] [windows-check]
set -euo pipefail

packages=(cmake ninja-build g++ qt6-base-dev qt6-base-dev-tools qt6-websockets-dev
          qt6-httpserver-dev)
for group in "$@"; do
    case "$group" in
        build)
            # Qt's SVG image and icon plugins, which draw the tray app's icons: in libqt6svg6 on
            # Debian 12, in a package of their own from Debian 13 on.
            packages+=(libqt6svg6)
            if apt-cache show qt6-svg-plugins >/dev/null 2>&1; then
                packages+=(qt6-svg-plugins)
            fi
            # QtKeychain: the profiles' secrets in the platform's keychain (CMake's
            # TOW_KEYCHAIN); libsecret-1-0: its way to the Secret Service, loaded at run time.
            packages+=(qtkeychain-qt6-dev libsecret-1-0)
            # Qt's LinguistTools: its CMake package (qt6-tools-dev) and lrelease/lupdate
            # (qt6-l10n-tools), which build the tray app's translations (its plural forms).
            packages+=(qt6-tools-dev qt6-l10n-tools)
            # Qt's private network headers: one TLS context shared by many connections
            # (core/net/sharedtlscontext.cpp uses QSslSocketPrivate's context sharing).
            packages+=(qt6-base-private-dev)
            ;;
        # python3-websockets: a third-party WebSocket peer; prometheus: promtool for /metrics.
        # socat, websockify: the baselines the benchmark (and its --quick smoke test) runs.
        test) packages+=(python3-websockets prometheus socat websockify)
              # openssl: certificates for the TLS tests.
              packages+=(openssl)
              # dpkg-dev (dpkg-shlibdeps), fakeroot, file: CPack builds the DEB in the installer
              # tests; nginx: the example site, the upstream of two servers and the TLS reverse
              # proxy of the client tests, run on loopback; systemd: systemd-analyze verify on the
              # server's unit; desktop-file-utils: desktop-file-validate on the .desktop entry;
              # python3-yaml: the Kubernetes example.
              packages+=(dpkg-dev fakeroot file nginx systemd desktop-file-utils python3-yaml)
              # tinyproxy: an HTTP CONNECT proxy with Basic auth for the client's proxy tests.
              packages+=(tinyproxy)
              # microsocks: a SOCKS5 proxy with user/password for the client's proxy tests.
              packages+=(microsocks)
              # curl: --socks5-hostname through the client's own SOCKS5 proxy.
              packages+=(curl)
              # xvfb, xauth, trayer: a real X display with a system tray for the desktop test of
              # the tray icon; imagemagick: its `import` saves the screenshot the test keeps.
              packages+=(xvfb xauth trayer imagemagick)
              # gnome-keyring, dbus-daemon (dbus-run-session): a real Secret Service on a D-Bus
              # session of the keychain tests' own; libsecret-tools: secret-tool, which reads
              # what the program stored as another client would.
              packages+=(gnome-keyring dbus-daemon libsecret-tools)
              # iproute2: `ip link set lo up` in the network namespace where the dynamic-route
              # tests run their own DNS server.
              packages+=(iproute2) ;;
        # librsvg2-bin: rsvg-convert renders the application icon's PNGs and .ico
        # (installer/render-icons.sh); the results are committed, so builds do not need it.
        icons) packages+=(librsvg2-bin imagemagick) ;;
        # MinGW-w64's g++ (POSIX threads, as std::thread and std::mutex need): the Windows compile
        # check, scripts/check-windows-compile.sh.
        windows-check) packages+=(g++-mingw-w64-x86-64-posix) ;;
        *) echo "install-deps.sh: unknown group '$group' (expected build, test, icons or windows-check)" >&2; exit 2 ;;
    esac
done

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing Debian packages: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
