#!/usr/bin/env python3
"""A tiny DNS server for the dynamic-route tests (standard library only).

Usage: rebindingdns.py ADDRESS PORT LOGFILE RECORD...

RECORD is NAME=ADDR[,ADDR...] (always these A records, in this order) or NAME=FIRST/LATER
(FIRST on the first A query for NAME, LATER on every later one: a DNS-rebinding attempt) or
NAME=silent (no answer at all, as from a DNS server that never answers, until SIGUSR1: then
NXDOMAIN to every query held and every later one, and "released" on stdout). A NAME "*.SUFFIX" stands for every name
under SUFFIX. AAAA queries for a known name get no records; unknown names get NXDOMAIN. Each
query is logged to LOGFILE as "TYPE NAME" on its own line. Prints "ready" once it listens.
"""
import signal
import socket
import struct
import sys

TYPE_A = 1
TYPE_AAAA = 28


def parse_name(packet, offset):
    labels = []
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            break
        labels.append(packet[offset:offset + length].decode("ascii", "replace"))
        offset += length
    return ".".join(labels).lower(), offset


def answer(packet, addresses, rcode):
    ident, _flags, qdcount = struct.unpack("!HHH", packet[:6])
    _name, end = parse_name(packet, 12)
    question = packet[12:end + 4]
    flags = 0x8000 | 0x0400 | 0x0100 | 0x0080 | rcode  # response, authoritative, RD, RA
    head = struct.pack("!HHHHHH", ident, flags, 1, len(addresses), 0, 0)
    body = question
    for address in addresses:
        # A pointer to the question's name, type A, class IN, TTL 0, four bytes.
        body += struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, 0, 4) + socket.inet_aton(address)
    return head + body


def main():
    host, port, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fixed, rebinding, silent = {}, {}, []
    for record in sys.argv[4:]:
        name, value = record.split("=", 1)
        if value == "silent":
            silent.append(name.lower())
        elif "/" in value:
            rebinding[name.lower()] = value.split("/", 1)
        else:
            fixed[name.lower()] = value.split(",")
    a_queries = {}
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((host, port))
    log = open(log_path, "a", buffering=1)
    held = []
    released = []

    def release(_signum, _frame):
        released.append(True)
        for packet, client in held:
            server.sendto(answer(packet, [], 3), client)  # NXDOMAIN
        held.clear()
        if _signum is not None:
            print("released", flush=True)

    signal.signal(signal.SIGUSR1, release)
    print("ready", flush=True)
    while True:
        packet, client = server.recvfrom(4096)
        if len(packet) < 17:
            continue
        name, end = parse_name(packet, 12)
        qtype = struct.unpack("!H", packet[end:end + 2])[0]
        log.write("%s %s\n" % ({TYPE_A: "A", TYPE_AAAA: "AAAA"}.get(qtype, str(qtype)), name))
        if not released and any(
                name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:]))
                for pattern in silent):
            held.append((packet, client))
            if released:  # released while this one was on its way in
                release(None, None)
            continue
        if name not in fixed and name not in rebinding:
            server.sendto(answer(packet, [], 3), client)  # NXDOMAIN
            continue
        addresses = []
        if qtype == TYPE_A:
            if name in fixed:
                addresses = fixed[name]
            else:
                count = a_queries.get(name, 0)
                a_queries[name] = count + 1
                addresses = [rebinding[name][0] if count == 0 else rebinding[name][1]]
        server.sendto(answer(packet, addresses, 0), client)


if __name__ == "__main__":
    main()
