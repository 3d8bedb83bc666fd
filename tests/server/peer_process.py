"""A caller in its own process, so a test can kill it outright (a lost peer, not a polite hang-up).

Usage: ``python -m tests.server.peer_process URL``; prints ``SESSION <id>`` once frames flow.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from tests.server.harness import Caller, Server


async def main(url: str) -> None:
    caller = Caller.sending(limit=100_000)
    async with aiohttp.ClientSession() as http:
        server = Server(url, None, http)  # type: ignore[arg-type]
        await caller.connect(server)
        await caller.wait_frames(2)
        print(f"SESSION {caller.session_id}", flush=True)
        await asyncio.sleep(3600)  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
