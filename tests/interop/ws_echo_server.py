#!/usr/bin/python3
"""A third-party WebSocket server (python3-websockets) standing in for a tunnel server whose
remote echoes: every binary message comes back as is, empty keep-alives are dropped. Our client
connects to it. Prints "listening on 127.0.0.1:PORT" once ready and runs until killed.

With an argument (a subprotocol name, e.g. binary) it selects that subprotocol when a client
offers it; without, it selects none. Prints "subprotocol: NAME" (or "subprotocol: none") for each
connection.
"""
import asyncio
import sys

import websockets


async def handler(ws, path=None):
    print(f"subprotocol: {ws.subprotocol or 'none'}", file=sys.stderr, flush=True)
    async for message in ws:
        if isinstance(message, str):
            await ws.close(1003, "text")
            return
        if message:
            await ws.send(message)


async def main():
    subprotocols = sys.argv[1:] or None
    async with websockets.serve(
        handler, "127.0.0.1", 0, max_size=None, subprotocols=subprotocols
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
