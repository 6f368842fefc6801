#!/usr/bin/python3
"""The server package's systemd units (tcp-over-websocket.service and the template
tcp-over-websocket@.service): systemd-analyze verify and its offline security score, the
hardening and settings they must keep, and their ExecStart, expanded from the packaged
/etc/default/tcp-over-websocket as systemd does, running a real server that carries a tunnel.
"""
import argparse
import glob
import os
import re
import shlex
import subprocess

from installertest import (EchoServer, TowProcess, Tunnel, check, fail, free_port,
                           require_program, run, run_main, temp_dir)

UNIT = "tcp-over-websocket.service"
TEMPLATE = "tcp-over-websocket@.service"
REQUIRED = ["DynamicUser=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
            "AmbientCapabilities=", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
            "PrivateDevices=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
            "SystemCallFilter=@system-service", "Restart=on-failure",
            "EnvironmentFile=/etc/default/tcp-over-websocket", "WantedBy=multi-user.target"]
# Messages of systemd-analyze that mean it cannot work in this environment (no /proc, no
# namespaces in a locked-down container) rather than that the unit is wrong.
ENVIRONMENT_FAILURE = re.compile(r"Failed to (initialize|allocate|set up) manager|"
                                 r"Failed to (mount|create) .*(namespace|/proc)|"
                                 r"System has not been booted with systemd")
# systemd-analyze security's overall exposure, 0-100 (shown as 0.0-10.0); ours is 1.4 today.
MAX_EXPOSURE = 20


def directives(text):
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith(("#", ";", "["))]


def check_contents(name, text):
    lines = directives(text)
    missing = [line for line in REQUIRED if line not in lines]
    check(not missing, f"{name} lacks {missing}")
    check(any(line.startswith("SystemCallFilter=~") and "@privileged" in line for line in lines),
          f"{name} does not deny @privileged system calls")
    forbidden = {"CAP_": "grants a capability", "User=root": "runs as root",
                 "PermissionsStartOnly": "runs commands with privileges",
                 "ProcSubset=pid": "hides /proc/stat, which /metrics reads"}
    for directive, why in forbidden.items():
        check(not any(directive in line for line in lines), f"{name} {why} ({directive})")
    check(re.search(r"^#ExecStart=/usr/bin/tcp-over-websocket server --config \S+$", text, re.M),
          f"{name} lost the commented ExecStart line for --config")


def verify(analyze, units):
    """systemd-analyze verify on copies whose ExecStart names the unpacked binary (verify checks
    that the command exists; /usr/bin/tcp-over-websocket is not installed on this machine)."""
    result = subprocess.run([analyze, "verify", *units], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=120)
    print(f"systemd-analyze verify: exit {result.returncode}\n{result.stdout}")
    if result.returncode != 0 and ENVIRONMENT_FAILURE.search(result.stdout):
        fail("systemd-analyze verify cannot run in this environment (the unit contents were "
             f"checked, the verification was not):\n{result.stdout}")
    check(result.returncode == 0, f"systemd-analyze verify failed:\n{result.stdout}")
    # Warnings (unknown keys, bad values) leave the exit code at 0: any line about our units
    # is a failure.
    ours = [line for line in result.stdout.splitlines() if "tcp-over-websocket" in line]
    check(not ours, "systemd-analyze verify warns about the units:\n" + "\n".join(ours))
    for unit in units:
        run([analyze, "security", "--offline=yes", f"--threshold={MAX_EXPOSURE}", unit])


def environment_file(path):
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (no quotes used in ours)."""
    values = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def exec_start(text, environment, instance=None):
    """The ExecStart command line, expanded as systemd does: ${VAR} is one word, $VAR splits on
    white space, %i is the instance."""
    lines = [line for line in directives(text) if line.startswith("ExecStart=")]
    check(len(lines) == 1, f"expected one ExecStart, found {lines}")
    words = []
    for word in shlex.split(lines[0][len("ExecStart="):]):
        if instance is not None:
            word = word.replace("%i", instance)
        check("%" not in word, f"unexpanded specifier in ExecStart word {word!r}")
        whole = re.fullmatch(r"\$(\w+)", word)
        if whole:
            words += environment.get(whole.group(1), "").split()
            continue

        def braced(match):
            check(match.group(1) in environment,
                  f"ExecStart uses ${{{match.group(1)}}}, not set in /etc/default")
            return environment[match.group(1)]
        words.append(re.sub(r"\$\{(\w+)\}", braced, word))
    return words


def run_exec_start(words, binary):
    check(words[0] == "/usr/bin/tcp-over-websocket", f"ExecStart runs {words[0]}")
    process = TowProcess(binary, words[1:])
    try:
        tunnel_client = TowProcess(binary, ["client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                                            f"ws://127.0.0.1:{process.port}/"])
        try:
            tunnel = Tunnel(tunnel_client.port)
            tunnel.round_trip(64 * 1024)
            tunnel.close()
        finally:
            tunnel_client.stop()
    finally:
        code = process.stop()
    check(code == 0, f"the unit's server exited {code} after SIGTERM:\n{process.log()}")
    return process.port


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", required=True)
    args = parser.parse_args()
    analyze = require_program("systemd-analyze", "systemd")
    require_program("dpkg-deb", "dpkg")

    debs = glob.glob(os.path.join(args.packages, "*.deb"))
    check(len(debs) == 1, f"expected one .deb in {args.packages}, found {debs}")
    work = temp_dir("systemd")
    root = os.path.join(work, "root")
    run(["dpkg-deb", "-x", debs[0], root])
    binary = os.path.join(root, "usr/bin/tcp-over-websocket")
    unit_dir = os.path.join(root, "usr/lib/systemd/system")
    texts = {name: open(os.path.join(unit_dir, name)).read() for name in (UNIT, TEMPLATE)}
    for name, text in texts.items():
        check_contents(name, text)

    copies = []
    for name, copy_name in ((UNIT, UNIT), (TEMPLATE, "tcp-over-websocket@8081.service")):
        text, count = re.subn(r"^ExecStart=/usr/bin/tcp-over-websocket ",
                              f"ExecStart={binary} ", texts[name], flags=re.M)
        check(count == 1, f"{name}: ExecStart does not run /usr/bin/tcp-over-websocket")
        copies.append(os.path.join(work, copy_name))
        with open(copies[-1], "w") as copy:
            copy.write(text)
    verify(analyze, copies)

    # The command lines systemd would run, with the packaged settings: they must be today's
    # flags. The listening address and the remote are moved to loopback test ports.
    settings = environment_file(os.path.join(root, "etc/default/tcp-over-websocket"))
    for key in ("LISTEN_WS", "REMOTE_TCP", "KEEPALIVE", "EXTRA_ARGS"):
        check(key in settings, f"/etc/default/tcp-over-websocket does not set {key}")
    check(settings["LISTEN_WS"].startswith("127.0.0.1:"),
          "the default LISTEN_WS is not loopback (nginx is meant to be in front)")
    echo = EchoServer()
    try:
        settings.update(LISTEN_WS="127.0.0.1:0", REMOTE_TCP=f"127.0.0.1:{echo.port}")
        run_exec_start(exec_start(texts[UNIT], settings), binary)
        port = free_port()
        used = run_exec_start(exec_start(texts[TEMPLATE], settings, str(port)), binary)
        check(used == port, f"the template instance {port} listened on {used}")
        check(echo.connections == 2, f"the remote saw {echo.connections} tunnels, expected 2")
    finally:
        echo.close()
    run(["rm", "-rf", work])


if __name__ == "__main__":
    run_main(main)
