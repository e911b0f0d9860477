"""The floor: a bare ``websockets`` server writing one pre-encoded frame to
every connection with ``broadcast()`` (no await per socket), beside a
Starlette/uvicorn HTTP listener in the same loop, as Switchboard's node is.

``POST /storm {"due_ms", "queues", "per_queue", "framing"}``: the lock
storm's control (``bench lockstorm --floor``). It encodes every lock's frames
at once (``lock_frames``: Switchboard's own ``inbox.updated`` and
``session.locked`` for ``queues`` × ``per_queue`` conversations, queue
``k % queues`` for the k-th) before it answers, and at ``due_ms`` writes
them to each queue's agents (agent ``i`` of ``/ws?i=I`` is in queue
``i % queues``, as in bench/center.py), ``STORM_RUN`` locks per loop turn,
one write per socket per run. ``framing``: ``"broadcast"`` frames each
message for each socket with the library's own code (what ``broadcast()``
does per connection), ``"raw"`` frames each message once and writes the
same bytes to every socket of its queue (what Switchboard's hub does): the
delivery alone, nothing read, decided, stored or encoded at due time."""

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


def build_storm(due_ms: int, queues: int, per_queue: int) -> list[tuple[int, bytes, bytes]]:
    """(queue, inbox.updated, session.locked) of every lock, in the order they fire."""
    seqs = [1] * queues
    locks: list[tuple[int, bytes, bytes]] = []
    for k in range(queues * per_queue):
        q = k % queues
        locks.append((q, *lock_frames(q, seqs[q], k, due_ms)))
        seqs[q] += 2
    return locks


def _text_frame(data: bytes) -> bytes:
    """An unmasked, unfragmented text frame (server to client, RFC 6455 5.2)."""
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + data
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + data


async def storm(conns: dict[ServerConnection, int], locks: list[tuple[int, bytes, bytes]], due_ms: int, queues: int, framing: str) -> None:
    """Write ``locks`` at ``due_ms`` to their queues' sockets (see the module's docstring)."""
    await asyncio.sleep(max(0.0, due_ms / 1000 - time.time()))
    groups: list[list[ServerConnection]] = [[] for _ in range(queues)]
    for ws, i in conns.items():
        if i >= 0:
            groups[i % queues].append(ws)
    for at in range(0, len(locks), STORM_RUN):
        run = locks[at : at + STORM_RUN]
        if framing == "raw":
            per_queue: dict[int, list[bytes]] = {}
            for q, updated, locked in run:
                per_queue.setdefault(q, []).extend((_text_frame(updated), _text_frame(locked)))
            for q, frames in per_queue.items():
                data = b"".join(frames)
                for ws in groups[q]:
                    ws.transport.write(data)
        else:
            touched: set[ServerConnection] = set()
            for q, updated, locked in run:
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
        due_ms, queues, framing = int(body["due_ms"]), int(body["queues"]), str(body.get("framing", "broadcast"))
        t0 = time.process_time()
        locks = build_storm(due_ms, queues, int(body["per_queue"]))
        task = asyncio.create_task(storm(conns, locks, due_ms, queues, framing))
        storms.add(task)
        task.add_done_callback(storms.discard)
        return JSONResponse({"locks": len(locks), "to": len(conns), "build_cpu_s": time.process_time() - t0})

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
