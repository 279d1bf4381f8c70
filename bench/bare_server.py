"""The idle-socket floor: a bare websockets server (same options as the gateway) that does nothing.

Run as ``python -m bench.bare_server PORT``; it prints ``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve


async def _idle(websocket: ServerConnection) -> None:
    await websocket.wait_closed()


async def main(port: int) -> None:
    async with serve(_idle, "127.0.0.1", port, compression=None, max_size=1 << 20, ping_interval=20, ping_timeout=20):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
