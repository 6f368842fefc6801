#!/usr/bin/python3
"""Horizontal scale on loopback: two server instances behind a real nginx running the example
upstream (installer/examples/nginx-upstream.conf, TLS with a test certificate). Two tunnels
open at once through nginx land one on each instance (least_conn), as each instance's /metrics
shows, and carry their bytes.
"""
import argparse
import shutil

from installertest import (EchoServer, Nginx, TowProcess, Tunnel, check, free_port, http_get,
                           loopback_site, metric, run_main, self_signed_certificate, substitute,
                           temp_dir)

TUNNELS = 'http_to_tcp_connections{type="tcp"}'


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", required=True)
    parser.add_argument("--executable", required=True)
    args = parser.parse_args()

    work = temp_dir("nginx-upstream")
    certificate, key = self_signed_certificate(work)
    port = free_port()
    echo = EchoServer()
    servers = []
    nginx = client = None
    tunnels = []
    try:
        for _ in range(2):
            servers.append(TowProcess(args.executable, [
                "server", "-listen_ws", "127.0.0.1:0", "-remote_tcp", f"127.0.0.1:{echo.port}"]))
        text = loopback_site(open(args.site).read(), port, certificate, key)
        text = substitute(text, r"least_conn;", "least_conn;", "least_conn")
        for example_port, server in zip((8081, 8082), servers):
            text = substitute(text, rf"server 127\.0\.0\.1:{example_port}\b",
                              f"server 127.0.0.1:{server.port}", f"upstream server :{example_port}")
        nginx = Nginx(work, text)
        print(nginx.test_config())
        nginx.start(port)
        client = TowProcess(args.executable, ["client", "-listen_tcp", "127.0.0.1:0", "-insecure",
                                              "-remote_ws", f"wss://127.0.0.1:{port}/ssh/"])
        # The first tunnel stays open while the second is made, so least_conn must choose the
        # other instance for it.
        for _ in range(2):
            tunnels.append(Tunnel(client.port))
            tunnels[-1].round_trip()
        counts = [metric(server.port, TUNNELS) for server in servers]
        check(counts == [1, 1], f"tunnels per instance {counts}, expected [1, 1]")
        for tunnel in tunnels:
            tunnel.round_trip(16 * 1024)  # both still carry bytes
        check(echo.connections == 2, f"the remote saw {echo.connections} tunnels, expected 2")
        status, _ = http_get(port, "/ssh/metrics", certificate)
        check(status == 404, f"/ssh/metrics through nginx answered {status}, expected 404")
    finally:
        for tunnel in tunnels:
            tunnel.close()
        for process in [client] + servers:
            if process:
                process.stop()
        if nginx:
            nginx.stop()
        echo.close()
    shutil.rmtree(work)


if __name__ == "__main__":
    run_main(main)
