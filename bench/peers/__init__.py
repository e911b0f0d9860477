"""Minimal equivalent servers for the side-by-side runs.

Every peer does the same job as Switchboard's fan-out scenario, nothing more:
``POST /publish {"k", "t"}`` numbers the event (``seq``: 1, 2, 3…), builds one
JSON frame padded to ``--size`` bytes (the size of Switchboard's inbox event
in the same run) and sends it to every connected websocket; a new socket gets
``{"type":"ready"}`` once it is subscribed. ``GET /healthz`` answers 200 when
the server is up. Each runs as one process (``python -m bench.peers.NAME``).

    floor        (floor.py) websockets server, broadcast() of the pre-encoded frame
    starlette    (starlette_ws.py) Starlette websocket endpoint on uvicorn, awaited send per socket
    broadcaster  (broadcaster_peer.py) Starlette + encode/broadcaster (Redis pub/sub backend)
    socketio     (socketio_peer.py) python-socketio ASGI server with AsyncRedisManager, on uvicorn
    channels     (channels_peer.py) Django Channels consumer + channels_redis group_send, on uvicorn

Not a compare peer: ``floor_redis.py``, two floors sharing one redis-server
through plain pub/sub, agents in rooms (``python -m bench soakdiag``'s control).
"""

from __future__ import annotations

import argparse
import json

MODULES = {
    "floor": "bench.peers.floor",
    "starlette": "bench.peers.starlette_ws",
    "broadcaster": "bench.peers.broadcaster_peer",
    "socketio": "bench.peers.socketio_peer",
    "channels": "bench.peers.channels_peer",
}
REDIS = {"broadcaster", "socketio", "channels"}
"""Peers that need a Redis server (and get the same one)."""


def frame(seq: int, k: int, t: int, size: int, overhead: int = 0) -> dict[str, object]:
    """The event as a dict whose JSON encoding (plus ``overhead`` bytes of
    framing added by the transport) is ``size`` bytes long."""
    body: dict[str, object] = {"type": "ev", "seq": seq, "k": k, "t": t, "pad": ""}
    missing = size - overhead - len(json.dumps(body, separators=(",", ":")))
    body["pad"] = "x" * max(0, missing)
    return body


def frame_text(seq: int, k: int, t: int, size: int) -> str:
    return json.dumps(frame(seq, k, t, size), separators=(",", ":"))


READY = '{"type":"ready"}'


def args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True, help="HTTP (and websocket unless --ws-port)")
    parser.add_argument("--ws-port", type=int, default=0)
    parser.add_argument("--size", type=int, default=700, help="frame size in bytes")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    return parser.parse_args()
