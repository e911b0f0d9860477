"""Starlette + encode/broadcaster with its Redis backend: each socket
subscribes to the channel and awaits ``send_text`` for every message the
subscription yields; publish goes through Redis pub/sub."""

from __future__ import annotations

import contextlib

import uvicorn
from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from bench.peers import READY, args, frame_text

a = args(__doc__ or "")
broadcast = Broadcast(a.redis)
seq = 0


async def ws_endpoint(ws: WebSocket) -> None:
    await ws.accept()
    async with broadcast.subscribe(channel="fanout") as subscriber:
        await ws.send_text(READY)
        try:
            async for event in subscriber:
                await ws.send_text(event.message)
        except Exception:  # noqa: BLE001 - the client went away
            pass


async def publish(request: Request) -> JSONResponse:
    global seq
    body = await request.json()
    seq += 1
    await broadcast.publish(channel="fanout", message=frame_text(seq, body["k"], body["t"], a.size))
    return JSONResponse({"seq": seq})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
    await broadcast.connect()
    # broadcaster 0.3.1's Redis listener races its first subscribe (with
    # redis-py 5+ it can see "not subscribed yet", stop listening and wait
    # forever). A channel subscribed for the process's whole life, then the
    # listener woken once more, keeps it listening; nothing else changes.
    backend = broadcast._backend
    await backend.subscribe("bench-keepalive")  # type: ignore[attr-defined]
    backend._ready.set()  # type: ignore[attr-defined]
    yield
    await broadcast.disconnect()


app = Starlette(
    routes=[Route("/publish", publish, methods=["POST"]), Route("/healthz", healthz), WebSocketRoute("/ws", ws_endpoint)],
    lifespan=lifespan,
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning", ws_per_message_deflate=False)
