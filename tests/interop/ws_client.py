#!/usr/bin/python3
"""A third-party WebSocket client (python3-websockets) talking to our server.

Modes:
  echo URL SIZE [CAFILE]
                  send SIZE random bytes as binary messages of varied sizes (1 KiB like the
                  original Go client, up to 256 KiB), with empty keep-alive messages between,
                  and check the echo that comes back through the tunnel. A wss:// URL is
                  verified against CAFILE (a PEM bundle) when given.
  text URL        send a text message; the server must close with 1003.
  status URL [HEADER]
                  open a WebSocket (with an optional "Name: value" header) and print the
                  HTTP status of the answer: 101 when it opened, else the refusal's status.
Exit status 0 on success; a one-line reason on stderr otherwise.
"""
import asyncio
import os
import ssl
import sys

import websockets


async def echo(url, size, cafile):
    data = os.urandom(size)
    # Without a CA file, websockets uses the default context (the system's CAs) for wss://.
    tls = {"ssl": ssl.create_default_context(cafile=cafile)} if cafile else {}
    async with websockets.connect(url, max_size=None, **tls) as ws:
        async def send():
            offset, step = 0, 1024
            while offset < size:
                await ws.send(data[offset:offset + step])
                offset += step
                step = 1024 if step >= 256 * 1024 else step * 2
                await ws.send(b"")  # keep-alive: must not reach the remote
        sender = asyncio.create_task(send())
        received = bytearray()
        while len(received) < size:
            message = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(message, str):
                raise SystemExit("unexpected text message")
            received += message
        await sender
        if bytes(received) != data:
            raise SystemExit("echo differs from what was sent")


async def text(url):
    async with websockets.connect(url) as ws:
        await ws.send("text is a protocol error")
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed:
            pass
        if ws.close_code != 1003:
            raise SystemExit(f"expected close code 1003, got {ws.close_code}")


# websockets 14 (Debian 13 has 15) renamed the request headers' argument and the refusal's
# exception; Debian 12 has 10.4.
NEW_API = int(websockets.__version__.split(".")[0]) >= 14


async def status(url, header):
    extra = [tuple(part.strip() for part in header.split(":", 1))] if header else None
    headers = {"additional_headers" if NEW_API else "extra_headers": extra}
    try:
        async with websockets.connect(url, **headers) as ws:
            await ws.send(b"ping")
            if await asyncio.wait_for(ws.recv(), 10) != b"ping":
                raise SystemExit("the tunnel did not echo")
            print(101)
    except websockets.exceptions.InvalidHandshake as refused:
        if NEW_API and isinstance(refused, websockets.exceptions.InvalidStatus):
            print(refused.response.status_code)
        elif not NEW_API and isinstance(refused, websockets.exceptions.InvalidStatusCode):
            print(refused.status_code)
        else:
            raise


def main():
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "echo":
        asyncio.run(echo(url, int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None))
    elif mode == "text":
        asyncio.run(text(url))
    elif mode == "status":
        asyncio.run(status(url, sys.argv[3] if len(sys.argv) > 3 else None))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
