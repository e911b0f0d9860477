"""python-socketio's ASGI server with AsyncRedisManager (the documented way
to run several nodes), on uvicorn: ``emit`` to every client goes through
Redis pub/sub and back to this process, which sends it to each socket."""

from __future__ import annotations

import socketio as sio_lib
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.peers import args, frame

a = args(__doc__ or "")
# 42["ev",…] is 8 bytes of Socket.IO framing around the JSON object.
sio = sio_lib.AsyncServer(async_mode="asgi", client_manager=sio_lib.AsyncRedisManager(a.redis), cors_allowed_origins=[])
seq = 0


async def publish(request: Request) -> JSONResponse:
    global seq
    body = await request.json()
    seq += 1
    await sio.emit("ev", frame(seq, body["k"], body["t"], a.size, overhead=8))
    return JSONResponse({"seq": seq})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


http = Starlette(routes=[Route("/publish", publish, methods=["POST"]), Route("/healthz", healthz)])
app = sio_lib.ASGIApp(sio, other_asgi_app=http)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=a.port, lifespan="off", log_level="warning", ws_per_message_deflate=False)
