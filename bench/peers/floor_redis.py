"""The floor of a cluster: bare ``websockets`` servers sharing one
redis-server through plain pub/sub, as thin as that can be (the control of
``python -m bench soakdiag``).

Each agent joins one of ``--queues`` rooms (``?i=N`` in its URL: room
N mod queues). ``POST /publish {"k", "t"}`` numbers the event in room
k mod queues and publishes it, in one Lua script (``INCR`` then ``PUBLISH``:
one round trip, and every node sees a room's numbers in order). Every node
subscribes to every room's channel and, per message, builds the frame once
and ``broadcast()``s it to its own sockets in that room (no await per socket).

Beside it, for the diagnosis only: a loop-lag probe (a task that sleeps
50 ms and records how late it woke) and the garbage collector's pauses,
read and reset by ``GET /lag`` (``{"lag_max", "gc_max", "gc_seconds",
"messages"}``), as the Switchboard node's /metrics has them."""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.peers import READY, frame_text

PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], seq .. ' ' .. ARGV[1])
return seq
"""


class Probe:
    """Loop lateness and GC pauses since the last read."""

    def __init__(self) -> None:
        self.lag_max = self.gc_max = self.gc_seconds = 0.0
        self.messages = 0
        self._gc_start = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_start
            self.gc_seconds += pause
            self.gc_max = max(self.gc_max, pause)

    async def run(self, every: float = 0.05) -> None:
        while True:
            asked = time.perf_counter() + every
            await asyncio.sleep(every)
            self.lag_max = max(self.lag_max, time.perf_counter() - asked)

    def read(self) -> dict[str, float]:
        out = {"lag_max": self.lag_max, "gc_max": self.gc_max, "gc_seconds": self.gc_seconds, "messages": self.messages}
        self.lag_max = self.gc_max = 0.0
        return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ws-port", type=int, required=True)
    ap.add_argument("--size", type=int, default=700)
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--redis", required=True)
    a = ap.parse_args()
    rooms: list[set[ServerConnection]] = [set() for _ in range(a.queues)]
    probe = Probe()
    r = aioredis.from_url(a.redis)
    sub = aioredis.from_url(a.redis)
    script = r.register_script(PUBLISH)

    async def handler(ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "/").query)
        room = rooms[int(query.get("i", ["0"])[0]) % a.queues]
        room.add(ws)
        try:
            await ws.send(READY)
            await ws.wait_closed()
        finally:
            room.discard(ws)

    async def reader() -> None:
        ps = sub.pubsub()
        await ps.subscribe(*(f"fq:{q}" for q in range(a.queues)))
        async for msg in ps.listen():
            if msg["type"] != "message":
                continue
            probe.messages += 1
            q = int(msg["channel"][3:])
            seq, k, t = msg["data"].split(b" ")
            broadcast(rooms[q], frame_text(int(seq), int(k), int(t), a.size).encode(), text=True)

    async def publish(request: Request) -> JSONResponse:
        body = await request.json()
        q = body["k"] % a.queues
        seq = await script(keys=[f"fseq:{q}", f"fq:{q}"], args=[f"{body['k']} {body['t']}"])
        return JSONResponse({"seq": seq})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def lag(request: Request) -> JSONResponse:
        return JSONResponse(probe.read())

    app = Starlette(
        routes=[Route("/publish", publish, methods=["POST"]), Route("/healthz", healthz), Route("/lag", lag)]
    )
    tasks = [asyncio.create_task(reader()), asyncio.create_task(probe.run())]
    async with serve(handler, "127.0.0.1", a.ws_port, compression=None, max_queue=16):
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=a.port, lifespan="off", log_level="warning"))
        await server.serve()
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
