#!/usr/bin/python3
"""Installs, replaces and purges the two DEBs with the real dpkg, into a temporary root (its own
dpkg database; maintainer scripts run chrootless with DPKG_ROOT, so they must not touch this
system): the server package installs disabled, the desktop package replaces it keeping the
admin's /etc/default/tcp-over-websocket, purging the leftover server package keeps that file,
and purging the desktop package leaves nothing behind.
"""
import argparse
import glob
import os
import shutil
import subprocess

from installertest import check, require_program, run, run_main, temp_dir

SETTINGS = "etc/default/tcp-over-websocket"


class Dpkg:
    def __init__(self, root):
        self.root = root
        admin = os.path.join(root, "var/lib/dpkg")
        os.makedirs(os.path.join(admin, "info"))
        os.makedirs(os.path.join(admin, "updates"))
        open(os.path.join(admin, "status"), "w").close()
        # The Qt and C++ libraries are not in the temporary root's database: --force-depends.
        # tst_package checks the dependencies against this system with apt-get --simulate.
        self.command = [require_program("dpkg", "dpkg"), f"--root={root}",
                        f"--admindir={admin}", f"--log={os.path.join(root, 'dpkg.log')}",
                        "--force-script-chrootless", "--force-depends", "--force-not-root",
                        "--force-confdef", "--force-confold"]

    def __call__(self, *args):
        output = run(self.command + list(args), stdin=subprocess.DEVNULL)
        print(output)
        return output

    def status(self, package):
        result = subprocess.run(["dpkg-query", f"--admindir={self.root}/var/lib/dpkg", "-W",
                                 "-f=${db:Status-Abbrev}", package],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return result.stdout.strip() if result.returncode == 0 else "not known"

    def files(self):
        found = []
        for directory, _, names in os.walk(self.root):
            relative = os.path.relpath(directory, self.root)
            if relative.startswith("var/lib/dpkg"):
                continue
            found += [os.path.join(relative, name) for name in names if name != "dpkg.log"]
        return sorted(found)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", required=True)
    args = parser.parse_args()
    debs = {}
    for flavour in ("server", "desktop"):
        found = glob.glob(os.path.join(args.packages, flavour, "*.deb"))
        check(len(found) == 1, f"expected one {flavour} .deb, found {found}")
        debs[flavour] = found[0]

    work = temp_dir("dpkg")
    dpkg = Dpkg(os.path.join(work, "root"))
    settings = os.path.join(dpkg.root, SETTINGS)

    dpkg("--install", debs["server"])
    check(dpkg.status("tcp-over-websocket-server") == "ii",
          f"the server package is {dpkg.status('tcp-over-websocket-server')!r}, not installed")
    check(os.access(os.path.join(dpkg.root, "usr/bin/tcp-over-websocket"), os.X_OK),
          "/usr/bin/tcp-over-websocket was not installed")
    check(not os.path.exists(os.path.join(dpkg.root, "etc/systemd")),
          "installing enabled the service (/etc/systemd was written)")
    with open(settings) as original:
        edited = original.read().replace("REMOTE_TCP=127.0.0.1:22", "REMOTE_TCP=127.0.0.1:2222")
    check("REMOTE_TCP=127.0.0.1:2222" in edited, "the settings lack REMOTE_TCP=127.0.0.1:22")
    with open(settings, "w") as admin_edit:
        admin_edit.write(edited)

    # The desktop package takes the server package's place (Conflicts + Replaces).
    output = dpkg("--install", debs["desktop"])
    check("will remove tcp-over-websocket-server in favour of tcp-over-websocket" in output,
          "dpkg did not replace the server package by the desktop package")
    check(dpkg.status("tcp-over-websocket") == "ii", "the desktop package is not installed")
    # Replaced, it keeps only its record of the conffile the desktop package took over.
    check(dpkg.status("tcp-over-websocket-server") in ("ic", "rc", "un", "not known"),
          f"the server package is {dpkg.status('tcp-over-websocket-server')!r} after the "
          "desktop package replaced it")
    check(open(settings).read() == edited, "replacing the package lost the admin's settings")
    check(os.path.exists(os.path.join(dpkg.root,
                                      "usr/share/applications/tcp-over-websocket.desktop")),
          "the desktop entry was not installed")

    if dpkg.status("tcp-over-websocket-server") in ("ic", "rc"):
        dpkg("--purge", "tcp-over-websocket-server")
        check(open(settings).read() == edited,
              "purging the replaced server package removed the desktop package's settings")

    dpkg("--purge", "tcp-over-websocket")
    left = dpkg.files()
    check(not left, f"purging left files behind: {left}")
    shutil.rmtree(work)


if __name__ == "__main__":
    run_main(main)
