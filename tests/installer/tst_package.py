#!/usr/bin/python3
"""The DEB and TGZ of one flavour (desktop: tcp-over-websocket, server:
tcp-over-websocket-server): control fields and dependencies, contents, maintainer scripts that
never enable the service, and the unpacked binary's --version and a real tunnel on loopback.
"""
import argparse
import glob
import os
import re
import subprocess

from installertest import (EchoServer, TowProcess, Tunnel, check, metric, require_program, run,
                           run_main, temp_dir)

NAMES = {"desktop": "tcp-over-websocket", "server": "tcp-over-websocket-server"}
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


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
    websockets_version = installed_version("libqt6websockets6").split("-")[0]
    check(f"qt6-websockets-abi (= {websockets_version})" in depends,
          f"Depends lacks qt6-websockets-abi (= {websockets_version}): {depends}")
    for library in ("libqt6core6", "libqt6network6", "libqt6websockets6", "libqt6httpserver6",
                    "libc6", "libstdc++6"):
        check(any(d.startswith(library + " ") or d == library for d in depends),
              f"Depends lacks {library}: {depends}")
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
                f"./usr/share/doc/{name}/examples/nginx/tcp-over-websocket.conf",
                f"./usr/share/doc/{name}/examples/nginx-upstream.conf",
                f"./usr/share/doc/{name}/examples/kubernetes.yaml"]
    desktop_files = ["./usr/share/applications/tcp-over-websocket.desktop",
                     "./usr/share/icons/hicolor/scalable/apps/tcp-over-websocket.svg"] + [
        f"./usr/share/icons/hicolor/{s}x{s}/apps/tcp-over-websocket.png" for s in ICON_SIZES]
    if flavour == "desktop":
        required += desktop_files
    missing = [path for path in required if path not in paths]
    check(not missing, f"{deb} lacks {missing}:\n{listing}")
    if flavour == "server":
        extra = [path for path in paths if "/applications/" in path or "/icons/" in path]
        check(not extra, f"the server package carries desktop files: {extra}")
    files = [line.split()[-1] for line in listing.splitlines() if line.startswith("-")]
    outside = [p for p in files
               if not re.match(r"\./(usr/bin|usr/lib/systemd/system|usr/share|etc/default)/", p)]
    check(not outside, f"files outside /usr/bin, /usr/share, the unit directory and "
                       f"/etc/default: {outside}")
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


def check_binary(binary, flavour, depends, version):
    run(["file", binary])
    description = run(["file", "-b", binary])
    check("ELF" in description and ", stripped" in description,
          f"the packaged binary is not a stripped ELF executable: {description}")
    libraries, dynamic = needed_libraries(binary)
    check(not re.search(r"R(UN)?PATH", dynamic), f"the packaged binary keeps an RPATH:\n{dynamic}")
    # Every Qt library the binary links is a dependency of the package.
    for library in libraries:
        match = re.match(r"libQt6(\w+)\.so\.6$", library)
        if match:
            package = f"libqt6{match.group(1).lower()}6"
            check(any(d.split()[0] == package for d in depends),
                  f"the binary links {library} but Depends lacks {package}")
    if flavour == "server":
        gui = [lib for lib in libraries if re.match(r"libQt6(Widgets|Gui)\.so", lib)]
        check(not gui, f"the headless server binary links {gui}")
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
    for path in ("bin/tcp-over-websocket", "etc/default/tcp-over-websocket",
                 "lib/systemd/system/tcp-over-websocket.service",
                 f"share/doc/{NAMES[flavour]}/copyright"):
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
        check_desktop_files(root)
    check_tgz(one(os.path.join(args.packages, "*.tar.gz")), args.flavour, args.version, work)
    run(["rm", "-rf", work])


if __name__ == "__main__":
    run_main(main)
