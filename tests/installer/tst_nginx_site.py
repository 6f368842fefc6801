#!/usr/bin/python3
"""The example nginx site (installer/nginx/): the same as README's, `nginx -t` accepts it, and,
run by a real nginx on loopback (TLS with a test certificate), it carries a tunnel from our
client (wss:// at /ssh/) to our server, and hides /ssh/metrics.
"""
import argparse
import re
import shutil

from installertest import (EchoServer, Nginx, TowProcess, Tunnel, check, free_port, http_get,
                           loopback_site, run_main, self_signed_certificate, substitute,
                           temp_dir)


def server_block(text):
    match = re.search(r"^server \{\n.*?^\}$", text, re.M | re.S)
    check(match, "no server { ... } block found")
    return match.group(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", required=True)
    parser.add_argument("--readme", required=True)
    parser.add_argument("--executable", required=True)
    args = parser.parse_args()
    site = open(args.site).read()

    # Every line of README's server block is in the example (which may add to it).
    readme_block = server_block(re.search(r"```nginx\n(.*?)```", open(args.readme).read(),
                                          re.S).group(1))
    example_lines = {line.strip() for line in site.splitlines()}
    missing = [line.strip() for line in readme_block.splitlines()
               if line.strip() and line.strip() not in example_lines]
    check(not missing, f"the example differs from README's nginx block: {missing}")

    work = temp_dir("nginx-site")
    certificate, key = self_signed_certificate(work)
    port = free_port()
    echo = EchoServer()
    server = TowProcess(args.executable, ["server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                                          f"127.0.0.1:{echo.port}"])
    nginx = client = None
    try:
        text = loopback_site(site, port, certificate, key)
        text = substitute(text, r"proxy_pass http://127\.0\.0\.1:8080/;",
                          f"proxy_pass http://127.0.0.1:{server.port}/;", "proxy_pass to :8080")
        nginx = Nginx(work, text)
        print(nginx.test_config())
        nginx.start(port)
        client = TowProcess(args.executable, ["client", "-listen_tcp", "127.0.0.1:0", "-insecure",
                                              "-remote_ws", f"wss://127.0.0.1:{port}/ssh/"])
        tunnel = Tunnel(client.port)
        tunnel.round_trip()
        tunnel.close()
        check(echo.connections == 1, f"the remote saw {echo.connections} tunnels, expected 1")
        status, _ = http_get(port, "/ssh/metrics", certificate)
        check(status == 404, f"/ssh/metrics through nginx answered {status}, expected 404")
        status, _ = http_get(port, "/ssh/healthz", certificate)
        check(status == 200, f"/ssh/healthz through nginx answered {status}, expected 200")
    finally:
        for process in (client, server):
            if process:
                process.stop()
        if nginx:
            nginx.stop()
        echo.close()
    shutil.rmtree(work)


if __name__ == "__main__":
    run_main(main)
