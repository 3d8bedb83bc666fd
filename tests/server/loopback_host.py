"""One call, server and caller in this process; prints what happened as JSON.

Usage: ``python -m tests.server.loopback_host MODEL`` (the tests run it in a network namespace
that has nothing but ``lo``: see :mod:`tests.server.netns`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

from tests.server.harness import Caller, ice_addresses, running_server, started_engine


async def main(model: str) -> dict[str, object]:
    async with started_engine(model) as engine, running_server(engine) as server:
        caller = Caller.sending(limit=300)
        await caller.connect(server)
        await caller.wait_frames(5, limit=40)
        session = server.registry.get(caller.session_id)
        result = {
            "interfaces": sorted(name for _, name in socket.if_nameindex()),
            "received": caller.received,
            "server_addresses": ice_addresses(session.pc),
        }
        await caller.close()
        return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(asyncio.wait_for(main(sys.argv[1]), 120))), flush=True)
