#!/usr/bin/env python3
"""A SOCKS5 client (RFC 1928, RFC 1929) for the SOCKS5 proxy tests, standard library only.

Prints what the proxy answered, one line each: "method XX", "auth XX", "reply XX", then, after
a success with --get, "body SHA256" of an HTTP/1.0 response's body, and "closed" when the proxy
closed the connection after a refusal. Each field can be set to something a proxy must refuse.
"""
import argparse
import hashlib
import ipaddress
import socket
import struct
import sys


def read_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def closed_after(sock):
    """Whether the proxy closes the connection without sending anything more."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("proxy_port", type=int)
    parser.add_argument("--methods", default=None, help="hex bytes, e.g. 00 or 0002")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--command", type=int, default=1)
    parser.add_argument("--atyp", type=int, default=None, help="1, 3, 4 or anything else")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--get", help="a path: GET it through the tunnel (HTTP/1.0)")
    parser.add_argument("--pipeline", action="store_true",
                        help="send the GET in the same write as the CONNECT request, "
                             "before the reply")
    args = parser.parse_args()

    methods = bytes.fromhex(args.methods) if args.methods is not None else (
        b"\x02" if args.user is not None else b"\x00")
    sock = socket.create_connection(("127.0.0.1", args.proxy_port), timeout=60)
    out = []

    def report(line):
        out.append(line)
        print(line, flush=True)

    sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
    answer = read_exactly(sock, 2)
    if answer is None:
        report("closed")
        return
    report("method %02x" % answer[1])
    if answer[1] == 0xFF:
        if closed_after(sock):
            report("closed")
        return
    if answer[1] == 0x02:
        user = (args.user or "").encode()
        password = (args.password or "").encode()
        sock.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
        auth = read_exactly(sock, 2)
        if auth is None:
            report("closed")
            return
        report("auth %02x" % auth[1])
        if auth[1] != 0:
            if closed_after(sock):
                report("closed")
            return

    atyp = args.atyp
    if atyp is None:
        try:
            atyp = 4 if ipaddress.ip_address(args.host).version == 6 else 1
        except ValueError:
            atyp = 3
    if atyp == 1:
        address = ipaddress.IPv4Address(args.host).packed
    elif atyp == 4:
        address = ipaddress.IPv6Address(args.host).packed
    elif atyp == 3:
        address = bytes([len(args.host)]) + args.host.encode()
    else:
        address = ipaddress.IPv4Address(args.host).packed
    request = b"\x05" + bytes([args.command, 0, atyp]) + address + struct.pack(">H", args.port)
    get = b""
    if args.get:
        get = ("GET %s HTTP/1.0\r\nHost: %s:%d\r\n\r\n" % (args.get, args.host, args.port)).encode()
    sock.sendall(request + get if args.pipeline else request)
    reply = read_exactly(sock, 10)
    if reply is None:
        report("closed")
        return
    report("reply %02x" % reply[1])
    if reply[1] != 0:
        if closed_after(sock):
            report("closed")
        return
    if not args.get:
        return
    if not args.pipeline:
        sock.sendall(get)
    response = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    report("status %s" % head.split(b"\r\n")[0].split(b" ")[1].decode())
    report("body %s" % hashlib.sha256(body).hexdigest())


if __name__ == "__main__":
    sys.exit(main())
