"""The floor: a bare ``websockets`` server writing one pre-encoded frame to
every connection with ``broadcast()`` (no await per socket), beside a
Starlette/uvicorn HTTP listener in the same loop, as Switchboard's node is."""

from __future__ import annotations

import asyncio

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.peers import READY, args, frame_text, switchboard_frame


async def main() -> None:
    a = args(__doc__ or "")
    conns: set[ServerConnection] = set()
    seq = 0

    async def handler(ws: ServerConnection) -> None:
        conns.add(ws)
        try:
            await ws.send(READY)
            await ws.wait_closed()
        finally:
            conns.discard(ws)

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

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/publish", publish, methods=["POST"]), Route("/healthz", healthz)])
    async with serve(handler, "127.0.0.1", a.ws_port, compression=None, max_queue=16):
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=a.port, lifespan="off", log_level="warning"))
        await server.serve()


if __name__ == "__main__":
    asyncio.run(main())
