"""One publication to N open sockets, in-process: the hub of whichever tree
is first on the path, or bare ``websockets.broadcast()`` (the floor's call).

    PYTHONPATH=TREE python -P bench/fanoutcost.py --mode hub --sockets 200 --events 50
    PYTHONPATH=TREE valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python -P bench/fanoutcost.py --mode hub --sockets 100 --events 25     (instructions, deterministic)

Real ``websockets`` server connections on loopback; the clients do not read
(``--events`` × ``--size`` must stay under the kernel's receive buffer, so
no server-side buffer fills). Prints the main thread's CPU time per
delivery; under callgrind, run it once more with ``--events 0`` and
subtract to get instructions per delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve


class _Listener:
    """What the hub needs of a connection (server/ws/hub.py Listener)."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.backlog: list[tuple[str, int, bytes]] | None = None

    def transport_buffered(self) -> int:
        return self.ws.transport.get_write_buffer_size()

    def drop_slow(self) -> None:
        raise AssertionError("no socket here is slow")

    def abandon(self) -> None:
        raise AssertionError("no socket here is closing")


async def main(mode: str, sockets: int, events: int, size: int) -> None:
    conns: list[ServerConnection] = []
    ready = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        conns.append(ws)
        if len(conns) == sockets:
            ready.set()
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None, max_queue=16, write_limit=2**15) as server:
        port = server.sockets[0].getsockname()[1]
        from websockets.asyncio.client import connect

        clients = [await connect(f"ws://127.0.0.1:{port}", compression=None) for _ in range(sockets)]
        await ready.wait()
        for c in clients:  # the kernel's receive buffers hold what they get: no client work in the count
            c.transport.pause_reading()
        data = b'{"type":"event","stream":"queue:q","seq":1,"event":' + b'"' + b"x" * size + b'"}'
        hub: Any = None
        if mode == "hub":
            from server.metrics import Metrics
            from server.ws.hub import Hub

            try:
                hub = Hub(max_buffer=1 << 20, metrics=Metrics(), pauses_at=2**15)
            except TypeError:  # a tree whose hub does not take it
                hub = Hub(max_buffer=1 << 20, metrics=Metrics())
            for ws in conns:
                listener = _Listener(ws)
                hub.join(listener)
                hub.attach(listener, "queue:q")
        spent = 0
        for seq in range(1, events + 1):
            t0 = time.thread_time_ns()
            if hub is not None:
                hub.deliver("queue:q", seq, "inbox.added", data)
            else:
                broadcast(conns, data, text=True)
            spent += time.thread_time_ns() - t0
            await asyncio.sleep(0)
        print(f"{mode}: {spent / max(1, events * sockets) / 1000:.2f} µs of main-thread CPU per delivery")
        for c in clients:
            c.transport.abort()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("hub", "broadcast"), default="hub")
    ap.add_argument("--sockets", type=int, default=200)
    ap.add_argument("--events", type=int, default=50)
    ap.add_argument("--size", type=int, default=900)
    a = ap.parse_args()
    asyncio.run(main(a.mode, a.sockets, a.events, a.size))
