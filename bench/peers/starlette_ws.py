"""A Starlette websocket endpoint on uvicorn: the publish handler awaits
``send_text`` on each socket in turn (the ASGI path, no broadcast)."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.peers import READY, args, frame_text

a = args(__doc__ or "")
clients: set[WebSocket] = set()
seq = 0


async def ws_endpoint(ws: WebSocket) -> None:
    await ws.accept()
    clients.add(ws)
    try:
        await ws.send_text(READY)
        while True:
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        clients.discard(ws)


async def publish(request: Request) -> JSONResponse:
    global seq
    body = await request.json()
    seq += 1
    data = frame_text(seq, body["k"], body["t"], a.size)
    for ws in list(clients):
        try:
            await ws.send_text(data)
        except Exception:  # noqa: BLE001 - a closed socket leaves the set
            clients.discard(ws)
    return JSONResponse({"seq": seq, "to": len(clients)})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = Starlette(
    routes=[Route("/publish", publish, methods=["POST"]), Route("/healthz", healthz), WebSocketRoute("/ws", ws_endpoint)]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=a.port, lifespan="off", log_level="warning", ws_per_message_deflate=False)
