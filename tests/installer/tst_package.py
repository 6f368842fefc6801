#!/usr/bin/python3
"""The DEB and TGZ of one flavour (desktop: tcp-over-websocket, server:
tcp-over-websocket-server): control fields and dependencies, contents, maintainer scripts that
never enable the service, the unpacked binary's --version and a real tunnel on loopback, and the
desktop package's tray module: loaded from the unpacked tree, the only one to link Qt Widgets.
"""
import argparse
import glob
import os
import re
import subprocess

from installertest import (EchoServer, TowProcess, Tunnel, check, fail, metric, require_program,
                           run, run_main, temp_dir)

NAMES = {"desktop": "tcp-over-websocket", "server": "tcp-over-websocket-server"}
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)
# The desktop package's tray app, which the executable loads only to run it.
TRAY_MODULE = "usr/lib/tcp-over-websocket/tcp-over-websocket-tray.so"
# The desktop package's keychain (QtKeychain), which the executable loads only for
# `client --profile`.
KEYCHAIN_MODULE = "usr/lib/tcp-over-websocket/tcp-over-websocket-keychain.so"
MODULES = (TRAY_MODULE, KEYCHAIN_MODULE)


def one(pattern):
    found = glob.glob(pattern)
    check(len(found) == 1, f"expected one file matching {pattern}, found {found}")
    return found[0]


def control_fields(deb):
    fields = {}
    name = None
    for line in run(["dpkg-deb", "-f", deb]).splitlines():
        if not line.strip():
            continue
        if line.startswith(" ") and name:
            fields[name] += "\n" + line
        else:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def installed_version(package):
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                            stdout=subprocess.PIPE, text=True)
    check(result.returncode == 0 and result.stdout, f"{package} is not installed")
    return result.stdout


def needed_libraries(binary):
    output = run(["readelf", "-d", binary])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", output), output


def check_control(deb, flavour, version):
    name = NAMES[flavour]
    other = NAMES["server" if flavour == "desktop" else "desktop"]
    fields = control_fields(deb)
    print(f"control fields: {fields}")
    expected = {"Package": name, "Version": version, "Section": "net", "Priority": "optional",
                "Architecture": run(["dpkg", "--print-architecture"]).strip(),
                "Conflicts": other, "Replaces": other,
                # The desktop package does all the server package does, not the reverse.
                "Provides": other if flavour == "desktop" else None,
                "Homepage": "https://github.com/tcp-over-websocket/tcp-over-websocket"}
    for field, value in expected.items():
        check(fields.get(field) == value, f"{field}: {fields.get(field)!r}, expected {value!r}")
    check(re.match(r".+ <[^@ ]+@[^> ]+>$", fields.get("Maintainer", "")),
          f"Maintainer is not 'Name <address>': {fields.get('Maintainer')!r}")
    description = fields.get("Description", "")
    check(description.startswith("Carry TCP connections inside WebSocket connections\n")
          and len(description.splitlines()) >= 4,
          f"Description lacks its summary or long text: {description!r}")

    # dpkg-shlibdeps: Debian pins Qt WebSockets' private ABI to the exact version we built with.
    depends = [d.strip() for d in fields.get("Depends", "").split(",")]
    # (Debian 12's libqt6websockets6 provides that pin; Debian 13's has no private ABI to pin.)
    websockets_version = installed_version("libqt6websockets6").split("-")[0]
    provides = subprocess.run(["dpkg-query", "-W", "-f=${Provides}", "libqt6websockets6"],
                              stdout=subprocess.PIPE, text=True).stdout
    if "qt6-websockets-abi" in provides:
        check(f"qt6-websockets-abi (= {websockets_version})" in depends,
              f"Depends lacks qt6-websockets-abi (= {websockets_version}): {depends}")
    for library in ("libqt6core6", "libqt6network6", "libqt6websockets6", "libqt6httpserver6",
                    "libc6", "libstdc++6"):
        # Debian 13 renamed libraries for 64-bit time_t (libqt6core6t64).
        names = (library, library + "t64")
        check(any(d.split(" ")[0] in names for d in depends),
              f"Depends lacks {library}: {depends}")
    if flavour == "desktop":
        # The tray icons need Qt's SVG icon engine, a plugin (loaded, not linked): its package
        # (libqt6svg6 on Debian 12, qt6-svg-plugins on Debian 13) must be a dependency.
        plugin = subprocess.run(["dpkg-query", "-S", "*/qt6/plugins/iconengines/libqsvgicon.so"],
                                stdout=subprocess.PIPE, text=True).stdout
        owner = plugin.split(":")[0].strip()
        check(owner, "no installed package holds Qt's SVG icon engine plugin")
        check(any(d.split(" ")[0] == owner for d in depends),
              f"Depends lacks {owner} (Qt's SVG icon engine plugin): {depends}")
        # The keychain: QtKeychain (linked) and libsecret (which QtKeychain loads at run time).
        for package in ("libqt6keychain1", "libsecret-1-0"):
            check(any(d.split(" ")[0] == package for d in depends),
                  f"Depends lacks {package} (the keychain): {depends}")
    # Every dependency is satisfiable on this Debian system (apt resolves, installs nothing).
    apt = require_program("apt-get", "apt")
    simulation = run([apt, "install", "--simulate", "--no-install-recommends", deb])
    check(re.search(rf"^Inst {re.escape(name)} ", simulation, re.M),
          f"apt-get would not install {name}:\n{simulation}")
    return depends


def check_contents(deb, flavour):
    name = NAMES[flavour]
    listing = run(["dpkg-deb", "-c", deb])
    paths = {line.split()[-1] for line in listing.splitlines()}
    required = ["./usr/bin/tcp-over-websocket",
                "./usr/lib/systemd/system/tcp-over-websocket.service",
                "./usr/lib/systemd/system/tcp-over-websocket@.service",
                "./etc/default/tcp-over-websocket",
                f"./usr/share/doc/{name}/copyright", f"./usr/share/doc/{name}/README.md",
                f"./usr/share/doc/{name}/docs/wire-format.md",
                f"./usr/share/doc/{name}/examples/nginx/tcp-over-websocket.conf",
                f"./usr/share/doc/{name}/examples/nginx-upstream.conf",
                f"./usr/share/doc/{name}/examples/kubernetes.yaml"]
    desktop_files = ["./usr/share/applications/tcp-over-websocket.desktop",
                     "./usr/share/icons/hicolor/scalable/apps/tcp-over-websocket.svg"] + [
        f"./usr/share/icons/hicolor/{s}x{s}/apps/tcp-over-websocket.png" for s in ICON_SIZES]
    if flavour == "desktop":
        required += desktop_files + [f"./{module}" for module in MODULES]
    missing = [path for path in required if path not in paths]
    check(not missing, f"{deb} lacks {missing}:\n{listing}")
    if flavour == "server":
        extra = [path for path in paths
                 if "/applications/" in path or "/icons/" in path or "/lib/tcp-over-websocket/" in path]
        check(not extra, f"the server package carries desktop files: {extra}")
    files = [line.split()[-1] for line in listing.splitlines() if line.startswith("-")]
    outside = [p for p in files
               if not re.match(r"\./(usr/bin|usr/lib/systemd/system|usr/share|etc/default)/", p)
               and p not in [f"./{module}" for module in MODULES]]
    check(not outside, f"files outside /usr/bin, /usr/share, the unit directory, "
                       f"/etc/default and the tray and keychain modules: {outside}")
    # Enabling is the admin's choice: no [Install] symlinks shipped.
    check(not any(p.startswith("./etc/systemd") for p in paths),
          "the package ships links under /etc/systemd (the service would start enabled)")
    check(re.search(r"^-rwxr-xr-x root/root .* \./usr/bin/tcp-over-websocket$", listing, re.M),
          "/usr/bin/tcp-over-websocket is not an executable owned by root")


def check_maintainer_scripts(deb, work):
    control = os.path.join(work, "control")
    run(["dpkg-deb", "-e", deb, control])
    with open(os.path.join(control, "conffiles")) as conffiles:
        check("/etc/default/tcp-over-websocket" in conffiles.read().split(),
              "/etc/default/tcp-over-websocket is not a conffile (upgrades would overwrite it)")
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(control, script)
        check(os.access(path, os.X_OK), f"{script} missing or not executable")
        run(["sh", "-n", path])
        text = open(path).read()
        enabling = re.findall(r"^[^#\n]*\b(systemctl|deb-systemd-helper|deb-systemd-invoke)\b"
                              r"[^\n]*\b(enable|start|reenable|preset|unmask)\b", text, re.M)
        check(not enabling, f"{script} enables or starts the service: {enabling}")


def check_elf(path, kind, depends):
    """Stripped, no RPATH, and every Qt library it links is a dependency of the package.
    Returns the libraries it links."""
    run(["file", path])
    description = run(["file", "-b", path])
    check("ELF" in description and ", stripped" in description,
          f"the packaged {kind} is not a stripped ELF file: {description}")
    libraries, dynamic = needed_libraries(path)
    check(not re.search(r"R(UN)?PATH", dynamic), f"the packaged {kind} keeps an RPATH:\n{dynamic}")
    for library in libraries:
        match = re.match(r"libQt6(\w+)\.so\.6$", library)
        if match:
            package = f"libqt6{match.group(1).lower()}6"
            # Debian 13 renamed libraries for 64-bit time_t (libqt6core6t64).
            check(any(d.split()[0] in (package, package + "t64") for d in depends),
                  f"the {kind} links {library} but Depends lacks {package}")
    return libraries


def check_binary(binary, flavour, depends, version):
    libraries = check_elf(binary, "binary", depends)
    # Server and client never map Qt Widgets or Qt Gui, in either package: the desktop package
    # keeps the tray app in a module of its own.
    gui = [lib for lib in libraries if re.match(r"libQt6(Widgets|Gui)\.so", lib)]
    check(not gui, f"the executable links {gui}")
    # Nor QtKeychain and D-Bus: only `client --profile` loads the keychain module.
    keychain = [lib for lib in libraries if re.match(r"lib(qt6keychain|Qt6DBus|dbus-1)\.so", lib)]
    check(not keychain, f"the executable links {keychain}")
    output = run([binary, "--version"])
    check(output == f"tcp-over-websocket {version}\n", f"--version printed {output!r}")


def check_tunnel(binary):
    """A real tunnel with the packaged binary: client and server on loopback, bytes both ways."""
    echo = EchoServer()
    server = TowProcess(binary, ["server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                                 f"127.0.0.1:{echo.port}"])
    client = None
    try:
        client = TowProcess(binary, ["client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                                     f"ws://127.0.0.1:{server.port}/"])
        tunnel = Tunnel(client.port)
        tunnel.round_trip()
        tunnel.close()
        check(metric(server.port, 'http_to_tcp_connections{type="tcp"}') == 1,
              "the server did not count exactly one tunnel")
        check(echo.connections == 1, f"the remote saw {echo.connections} connections, not 1")
    finally:
        codes = [process.stop() for process in (client, server) if process]
        echo.close()
    check(codes == [0, 0], f"exit codes after SIGTERM (client, server): {codes}\n"
                           f"{server.log()}{client.log() if client else ''}")


def check_tray_module(root, depends):
    module = os.path.join(root, TRAY_MODULE)
    libraries = check_elf(module, "tray module", depends)
    check("libQt6Widgets.so.6" in libraries, f"the tray module does not link Qt Widgets: {libraries}")
    # Its copies of core and ui stay inside: the entry point is its only strong export (weak
    # ones are inline code of Qt's headers, e.g. the type info the sanitizers ask for).
    symbols = run(["nm", "-D", "--defined-only", module]).split("\n")
    linker = {"_edata", "_end", "__bss_start"}  # the linker's marks, in every shared object
    exported = sorted(line.split()[-1] for line in symbols
                      if re.match(r"^[0-9a-f]+ [^UwWvV] ", line) and line.split()[-1] not in linker)
    check(exported == ["towRunTray"], f"the tray module exports {exported[:20]}")


def check_keychain_module(root, depends):
    module = os.path.join(root, KEYCHAIN_MODULE)
    libraries = check_elf(module, "keychain module", depends)
    check("libqt6keychain.so.1" in libraries,
          f"the keychain module does not link QtKeychain: {libraries}")
    gui = [lib for lib in libraries if re.match(r"libQt6(Widgets|Gui)\.so", lib)]
    check(not gui, f"the keychain module links {gui}")
    symbols = run(["nm", "-D", "--defined-only", module]).split("\n")
    linker = {"_edata", "_end", "__bss_start"}
    exported = sorted(line.split()[-1] for line in symbols
                      if re.match(r"^[0-9a-f]+ [^UwWvV] ", line) and line.split()[-1] not in linker)
    check(exported == ["towCreateKeychainVault"], f"the keychain module exports {exported[:20]}")


def check_tray_starts(binary, work):
    """The unpacked executable finds its tray module and runs the tray app (offscreen, no
    system tray: it shows the tunnels window), until SIGTERM ends it normally."""
    home = os.path.join(work, "home")
    os.makedirs(home)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=home, XDG_CONFIG_HOME=home,
               XDG_RUNTIME_DIR=home)
    tray = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        tray.wait(timeout=3)
        fail(f"the tray app ended at once ({tray.returncode}):\n{tray.stdout.read()}")
    except subprocess.TimeoutExpired:
        pass
    tray.terminate()
    output = tray.communicate(timeout=10)[0]
    check(tray.returncode == 0, f"the tray app ended with {tray.returncode}:\n{output}")
    check("showing the tunnels window" in output, f"the tray app did not start:\n{output}")


def check_desktop_files(root):
    validate = require_program("desktop-file-validate", "desktop-file-utils")
    entry = os.path.join(root, "usr/share/applications/tcp-over-websocket.desktop")
    run([validate, entry])
    text = open(entry).read()
    check(re.search(r"^Exec=tcp-over-websocket$", text, re.M), "the .desktop Exec is not the tray")
    check(re.search(r"^Icon=tcp-over-websocket$", text, re.M), "the .desktop Icon is not ours")
    for size in ICON_SIZES:
        icon = os.path.join(root, f"usr/share/icons/hicolor/{size}x{size}/apps/tcp-over-websocket.png")
        kind = run(["file", "-b", icon])
        check(f"PNG image data, {size} x {size}," in kind, f"{icon}: {kind}")


def check_tgz(tgz, flavour, version, work):
    top = f"{NAMES[flavour]}-{version}-Linux"
    check(os.path.basename(tgz) == f"{top}.tar.gz", f"unexpected archive name {tgz}")
    listing = run(["tar", "tzf", tgz]).split()
    paths = ["bin/tcp-over-websocket", "etc/default/tcp-over-websocket",
             "lib/systemd/system/tcp-over-websocket.service",
             f"share/doc/{NAMES[flavour]}/copyright"]
    if flavour == "desktop":
        paths += [module.removeprefix("usr/") for module in MODULES]
    for path in paths:
        check(f"{top}/{path}" in listing, f"{tgz} lacks {top}/{path}")
    check(all(p.startswith(top + "/") for p in listing), f"{tgz} has files outside {top}/")
    extracted = os.path.join(work, "tgz")
    os.makedirs(extracted)
    run(["tar", "xzf", tgz, "-C", extracted])
    output = run([os.path.join(extracted, top, "bin/tcp-over-websocket"), "--version"])
    check(output == f"tcp-over-websocket {version}\n", f"TGZ --version printed {output!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", required=True)
    parser.add_argument("--flavour", choices=NAMES, required=True)
    parser.add_argument("--version", required=True)
    args = parser.parse_args()
    require_program("dpkg-deb", "dpkg")
    require_program("readelf", "binutils")
    require_program("file", "file")

    deb = one(os.path.join(args.packages, "*.deb"))
    check(os.path.basename(deb).startswith(f"{NAMES[args.flavour]}_{args.version}_"),
          f"unexpected package file name {deb}")
    work = temp_dir("package")
    depends = check_control(deb, args.flavour, args.version)
    check_contents(deb, args.flavour)
    check_maintainer_scripts(deb, work)

    root = os.path.join(work, "root")
    run(["dpkg-deb", "-x", deb, root])
    binary = os.path.join(root, "usr/bin/tcp-over-websocket")
    check_binary(binary, args.flavour, depends, args.version)
    check_tunnel(binary)
    if args.flavour == "desktop":
        check_tray_module(root, depends)
        check_keychain_module(root, depends)
        check_tray_starts(binary, work)
        check_desktop_files(root)
    check_tgz(one(os.path.join(args.packages, "*.tar.gz")), args.flavour, args.version, work)
    run(["rm", "-rf", work])


if __name__ == "__main__":
    run_main(main)
