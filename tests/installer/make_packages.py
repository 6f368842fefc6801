#!/usr/bin/python3
"""Test fixture: makes the DEB and TGZ with CPack into --output. With --headless-from SOURCE it
first configures a TOW_BUILD_UI=OFF tree of SOURCE in --build-dir (the executable alone, no
tests), the way the server packages are meant to be made. The executable of --build-dir is
brought up to date before packing.
"""
import argparse
import glob
import os
import shutil

from installertest import check, run, run_main


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpack", required=True)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--headless-from")
    parser.add_argument("--cmake", required=True)
    parser.add_argument("--generator")
    parser.add_argument("--cxx-compiler")
    args = parser.parse_args()

    for tool, package in (("dpkg-shlibdeps", "dpkg-dev"), ("fakeroot", "fakeroot"),
                          ("file", "file")):
        check(shutil.which(tool), f"'{tool}' not found: install the Debian package {package} "
                                  "(scripts/install-deps.sh build test)")

    if args.headless_from:
        run([args.cmake, "-S", args.headless_from, "-B", args.build_dir, "-G", args.generator,
             f"-DCMAKE_CXX_COMPILER={args.cxx_compiler}", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
             "-DTOW_BUILD_UI=OFF", "-DTOW_BUILD_TESTS=OFF"])
        with open(os.path.join(args.build_dir, "CMakeCache.txt")) as cache:
            check("TOW_BUILD_UI:BOOL=OFF" in cache.read(),
                  f"{args.build_dir} is not a TOW_BUILD_UI=OFF tree")
    # CPack packs what is built: bring the executable up to date first (a no-op after a build).
    # The first time it compiles the headless tree whole, which takes what a loaded machine
    # gives it: the test's own timeout (CMakeLists.txt) bounds it, not the default of a step.
    print(run([args.cmake, "--build", args.build_dir, "--target", "tcp-over-websocket"],
              timeout=None))

    shutil.rmtree(args.output, ignore_errors=True)
    os.makedirs(args.output)
    print(run([args.cpack, "-G", "DEB;TGZ", "-B", args.output,
               "--config", os.path.join(args.build_dir, "CPackConfig.cmake")],
              cwd=args.build_dir))
    debs = glob.glob(os.path.join(args.output, "*.deb"))
    tgzs = glob.glob(os.path.join(args.output, "*.tar.gz"))
    check(len(debs) == 1 and len(tgzs) == 1,
          f"expected one .deb and one .tar.gz in {args.output}, found {debs + tgzs}")


if __name__ == "__main__":
    run_main(main)
