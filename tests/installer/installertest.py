"""Shared helpers of the installer tests: failing with a clear message, required programs, our
executable as a real process on loopback, an echo endpoint, tunnels with bytes checked both
ways, /metrics, and nginx under a temporary prefix.
"""
import atexit
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

TIMEOUT_S = 30  # generous: the machine may be loaded; nothing here measures speed


class Failure(Exception):
    pass


def fail(message):
    raise Failure(message)


def check(condition, message):
    if not condition:
        fail(message)


def run_main(main):
    """Runs main(), prints FAIL and exits 1 on a Failure, PASS and 0 otherwise."""
    try:
        main()
    except Failure as failure:
        print(f"FAIL: {failure}", flush=True)
        sys.exit(1)
    print("PASS", flush=True)


def require_program(name, package):
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    check(path is not None,
          f"'{name}' not found: install the Debian package {package} "
          f"(scripts/install-deps.sh build test)")
    return path


def run(command, **kwargs):
    """Runs a command to completion; fails with its output if it does not exit 0."""
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=kwargs.pop("timeout", 600), **kwargs)
    check(result.returncode == 0,
          f"{' '.join(map(str, command))} exited {result.returncode}:\n{result.stdout}")
    return result.stdout


def temp_dir(prefix):
    directory = tempfile.mkdtemp(prefix=f"tow-{prefix}-")
    os.chmod(directory, 0o755)  # nginx's workers run as another user when we are root
    return directory


def free_port():
    """A port on 127.0.0.1 for nginx, which cannot report a port 0 of its own.

    A port only free a moment ago may be taken by another test running at the same time (its
    listen on port 0, or the local end of one of its connections) before nginx binds it. This
    one is left holding a connection in TIME_WAIT, closed from the port's side: for 60 s Linux
    passes over it when anyone asks for a port, as long as it has others free, while nginx
    (SO_REUSEADDR) listens on it. As reserveLoopbackPort() in tests/support does."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the side that closes first is the one left in TIME_WAIT
            client.recv(1)  # the close has arrived; closing completes it
        return port


class EchoServer:
    """A TCP echo endpoint on 127.0.0.1 that counts the connections it accepted."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._echo, args=(connection,), daemon=True).start()

    @staticmethod
    def _echo(connection):
        with connection:
            while True:
                try:
                    data = connection.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                connection.sendall(data)

    def close(self):
        self.listener.close()


class TowProcess:
    """Our executable as a real process; learns its port from "listening on HOST:PORT"."""

    LISTENING = re.compile(r"listening on \S*:(\d+)")

    def __init__(self, executable, arguments, env=None):
        self.command = [executable] + arguments
        descriptor, self.log_path = tempfile.mkstemp(prefix="tow-log-")
        self.log_file = os.fdopen(descriptor, "w+")
        atexit.register(lambda path=self.log_path: os.path.exists(path) and os.remove(path))
        self.process = subprocess.Popen(self.command, stdout=self.log_file,
                                        stderr=subprocess.STDOUT, env=env)
        self.port = None
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            match = self.LISTENING.search(self.log())
            if match:
                self.port = int(match.group(1))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        fail(f"{' '.join(self.command)} did not report listening:\n{self.log()}")

    def log(self):
        with open(self.log_path) as log:
            return log.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        return self.process.returncode


class Tunnel:
    """One TCP connection through a client tunnel; sends random bytes, expects them echoed."""

    def __init__(self, port):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)

    def round_trip(self, size=256 * 1024):
        payload = secrets.token_bytes(size)
        sender = threading.Thread(target=self.socket.sendall, args=(payload,))
        sender.start()
        received = bytearray()
        try:
            while len(received) < size:
                data = self.socket.recv(65536)
                if not data:
                    break
                received += data
        except socket.timeout:
            pass
        sender.join(TIMEOUT_S)
        check(bytes(received) == payload,
              f"tunnel returned {len(received)} of {size} bytes"
              + ("" if len(received) < size else ", with different content"))

    def close(self):
        self.socket.close()


def http_get(port, path, certificate=None):
    """An HTTP/1.0 GET on 127.0.0.1, over TLS trusting only certificate if one is given;
    returns (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as plain:
        connection = plain
        if certificate:
            context = ssl.create_default_context(cafile=certificate)
            connection = context.wrap_socket(plain, server_hostname="127.0.0.1")
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Connection: close\r\n\r\n".encode())
        response = bytearray()
        length = None
        while True:
            head, separator, body = bytes(response).partition(b"\r\n\r\n")
            if separator and length is None:
                match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                length = int(match.group(1)) if match else -1
            if separator and 0 <= length <= len(body):
                break
            data = connection.recv(65536)
            if not data:
                break
            response += data
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else 0
    return status, body.decode(errors="replace")


def metric(port, name_and_labels):
    """The value of one sample of the server's /metrics, e.g. 'http_to_tcp_connections{type="tcp"}'."""
    status, body = http_get(port, "/metrics")
    check(status == 200, f"/metrics on port {port} answered {status}")
    for line in body.splitlines():
        if line.startswith(name_and_labels + " "):
            return float(line.split()[-1])
    fail(f"/metrics on port {port} has no sample {name_and_labels}:\n{body}")


def self_signed_certificate(directory):
    """A key and certificate for 127.0.0.1 made by openssl; returns (certificate, key)."""
    openssl = require_program("openssl", "openssl")
    certificate = os.path.join(directory, "server.crt")
    key = os.path.join(directory, "server.key")
    run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", certificate])
    return certificate, key


def substitute(text, pattern, replacement, what):
    """re.subn that fails when the pattern is absent, so a changed example cannot go untested."""
    result, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    check(count > 0, f"the example no longer contains {what} ({pattern!r})")
    return result


def loopback_site(site_text, port, certificate, key):
    """An example nginx site rewritten for a test: TLS on 127.0.0.1:port with a test
    certificate; the IPv6 wildcard listen line dropped."""
    text = substitute(site_text, r"^\s*listen 443 ssl;", f"    listen 127.0.0.1:{port} ssl;",
                      "'listen 443 ssl;'")
    text = substitute(text, r"^\s*listen \[::\]:443 ssl;\n", "", "'listen [::]:443 ssl;'")
    text = substitute(text, r"ssl_certificate\s+\S+;", f"ssl_certificate {certificate};",
                      "ssl_certificate")
    return substitute(text, r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};",
                      "ssl_certificate_key")


class Nginx:
    """A real nginx with everything (pid, logs, temp files) under a temporary prefix."""

    def __init__(self, directory, site_text):
        self.binary = require_program("nginx", "nginx")
        self.directory = directory
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temp_paths = "".join(f"    {kind}_temp_path {directory}/{kind}_temp;\n"
                             for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(os.path.join(directory, "site.conf"), "w") as site:
            site.write(site_text)
        self.config = os.path.join(directory, "nginx.conf")
        with open(self.config, "w") as config:
            config.write(f"{user}worker_processes 1;\n"
                         f"pid {directory}/nginx.pid;\n"
                         f"error_log {directory}/error.log info;\n"
                         "events { worker_connections 256; }\n"
                         "http {\n"
                         f"    access_log {directory}/access.log;\n"
                         f"{temp_paths}"
                         f"    include {directory}/site.conf;\n"
                         "}\n")
        self.process = None

    def command(self, *extra):
        return [self.binary, "-p", self.directory, "-c", self.config,
                "-e", os.path.join(self.directory, "error.log"), *extra]

    def test_config(self):
        return run(self.command("-t"))

    def start(self, port):
        self.process = subprocess.Popen(self.command("-g", "daemon off;"),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                fail(f"nginx exited {self.process.returncode}: {self.process.stdout.read()}"
                     f"{self.error_log()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        fail(f"nginx did not listen on 127.0.0.1:{port}:\n{self.error_log()}")

    def error_log(self):
        path = os.path.join(self.directory, "error.log")
        return open(path).read() if os.path.exists(path) else ""

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
