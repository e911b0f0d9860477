"""The floor: a bare ``websockets`` server writing one pre-encoded frame to
every connection with ``broadcast()`` (no await per socket), beside a
Starlette/uvicorn HTTP listener in the same loop, as Switchboard's node is.

``POST /storm {"due_ms", "queues", "per_queue"}``: the lock storm's control
(``bench lockstorm --floor``). It encodes every lock's frames at once
(``lock_frames``: Switchboard's own ``inbox.updated`` and ``session.locked``
for ``queues`` × ``per_queue`` conversations, queue ``k % queues`` for the
k-th), answers, and at ``due_ms`` writes them to each queue's agents (agent
``i`` of ``/ws?i=I`` is in queue ``i % queues``, as in bench/center.py) in
``STORM_RUN`` locks per loop turn, every socket's frames of a run in one write:
the delivery alone, nothing read, decided, stored or encoded at due time."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.peers import READY, args, frame_text, lock_frames, switchboard_frame

STORM_RUN = 250
"""Locks written per loop turn in a storm (Switchboard's first chunk is 250 too)."""


def _index(ws: ServerConnection) -> int:
    """The agent's index, ``i`` in the socket's URL (-1: none given)."""
    found = parse_qs(urlsplit(ws.request.path if ws.request is not None else "").query).get("i")
    return int(found[0]) if found else -1


async def storm(conns: dict[ServerConnection, int], due_ms: int, queues: int, per_queue: int) -> None:
    """Every lock's two frames, built now, written at ``due_ms`` to its queue's sockets."""
    seqs = [1] * queues
    locks: list[tuple[int, bytes, bytes]] = []
    for k in range(queues * per_queue):
        q = k % queues
        locks.append((q, *lock_frames(q, seqs[q], k, due_ms)))
        seqs[q] += 2
    await asyncio.sleep(max(0.0, due_ms / 1000 - time.time()))
    groups: list[list[ServerConnection]] = [[] for _ in range(queues)]
    for ws, i in conns.items():
        if i >= 0:
            groups[i % queues].append(ws)
    for at in range(0, len(locks), STORM_RUN):
        touched: set[ServerConnection] = set()
        for q, updated, locked in locks[at : at + STORM_RUN]:
            for ws in groups[q]:
                ws.protocol.send_text(updated)
                ws.protocol.send_text(locked)
            touched.update(groups[q])
        for ws in touched:
            ws.send_data()
        await asyncio.sleep(0)


async def main() -> None:
    a = args(__doc__ or "")
    conns: dict[ServerConnection, int] = {}
    seq = 0
    storms: set[asyncio.Task[None]] = set()

    async def handler(ws: ServerConnection) -> None:
        conns[ws] = _index(ws)
        try:
            await ws.send(READY)
            await ws.wait_closed()
        finally:
            conns.pop(ws, None)

    async def publish(request: Request) -> JSONResponse:
        nonlocal seq
        body = await request.json()
        seq += 1
        if a.frame == "switchboard":
            data = switchboard_frame(seq, body["k"], body["t"])
        else:
            data = frame_text(seq, body["k"], body["t"], a.size).encode()
        broadcast(conns, data, text=True)
        return JSONResponse({"seq": seq, "to": len(conns)})

    async def start_storm(request: Request) -> JSONResponse:
        body = await request.json()
        task = asyncio.create_task(storm(conns, int(body["due_ms"]), int(body["queues"]), int(body["per_queue"])))
        storms.add(task)
        task.add_done_callback(storms.discard)
        return JSONResponse({"locks": int(body["queues"]) * int(body["per_queue"]), "to": len(conns)})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/publish", publish, methods=["POST"]),
            Route("/storm", start_storm, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )
    async with serve(handler, "127.0.0.1", a.ws_port, compression=None, max_queue=16):
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=a.port, lifespan="off", log_level="warning"))
        await server.serve()


if __name__ == "__main__":
    asyncio.run(main())
