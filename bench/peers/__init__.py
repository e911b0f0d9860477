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

SWITCHBOARD_FRAME = (
    b'{"type":"event","stream":"queue:q0","seq":1,"event":{"type":"inbox.added","conversation":{"id":"c_01'
    b'a2418223755be7c32979ef.046","version":1,"channel":"whatsapp","touchpoint_id":"tp0","touchpoint_name"'
    b':"+1 555 0000","queue_id":"q0","status":"open","assignee_id":null,"contact":{"id":"whatsapp:+5553103'
    b'90000000","channel":"whatsapp","address":"+555310390000000","display_name":"+55 5310390000000","init'
    b'ials":null,"known":false,"username":null},"created_at":1796395377525,"last_message_at":1796395377000'
    b',"preview":"b1.1796395377497261023.1 Ol\xc3\xa1, preciso de ajuda com meu pedido, por favor me res\xe2\x80\xa6","pr'
    b'eview_direction":"in","unread":1,"session_expires_at":1796481777000,"session_locked":false,"ended_at'
    b'":null,"wrapped_up":false,"can":{"queue:q0":["claim","contact_card"],"role:supervisor":["claim","ass'
    b'ign","end_chat","send","send_template","add_note","contact_card"]},"preview_kind":null,"preview_dura'
    b'tion_ms":null,"offer":null},"counts":{"queue_id":"q0","inbox":1,"oldest_at":1796395377000}}}'
)
"""An ``inbox.added`` as Switchboard's node sent it in ``compare`` (1 queue, a
new WhatsApp customer; 992 bytes)."""


def switchboard_frame(seq: int, k: int, t: int) -> bytes:
    """``SWITCHBOARD_FRAME`` as event ``seq`` of the queue's stream, for message
    ``k`` sent at ``t`` (the marker in its preview, a new conversation id):
    what ``floor --frame switchboard`` sends, so its agents parse and check
    the same frame as Switchboard's (``bench.worker.Agent.on_switchboard``)."""
    return (
        SWITCHBOARD_FRAME.replace(b'"seq":1,', b'"seq":%d,' % seq, 1)
        .replace(b"b1.1796395377497261023.1", f"b{k}.{t}.1".encode(), 1)
        .replace(b"c_01a2418223755be7c32979ef.046", f"c_01a2418223755be7c3{k:010d}".encode(), 1)
    )


LOCK_UPDATED = (
    b'{"type":"event","stream":"queue:q0","seq":2,"event":{"type":"inbox.updated","conversation":{"id":"c_01a24531b0'
    b'034aa3a9d33a39.00a","version":2,"channel":"whatsapp","touchpoint_id":"tp0","touchpoint_name":"+1 555 0000","queu'
    b'e_id":"q0","status":"open","assignee_id":null,"contact":{"id":"whatsapp:+5511000000000","channel":"whatsapp","add'
    b'ress":"+5511000000000","display_name":"+55 11 00000-0000","initials":null,"known":false,"username":null},"created_'
    b'at":1796457213955,"last_message_at":1796457213954,"preview":"oi","preview_direction":"in","unread":1,"session_expi'
    b'res_at":1796460813954,"session_locked":true,"ended_at":null,"wrapped_up":false,"can":{"queue:q0":["claim","contac'
    b't_card"],"role:supervisor":["claim","assign","end_chat","send_template","add_note","contact_card"]},"preview_kind"'
    b':null,"preview_duration_ms":null,"offer":null},"counts":null}}'
)
LOCK_LOCKED = (
    b'{"type":"event","stream":"queue:q0","seq":3,"event":{"type":"session.locked","conversation_id":"c_01a24531b0034aa'
    b'3a9d33a39.00a","expires_at":1796460813954}}'
)
"""What each agent of a conversation's queue gets when its window locks (an
unassigned WhatsApp conversation): ``inbox.updated`` with the summary now
locked, then ``session.locked``; as Switchboard's node wrote them in
``bench.lockprofile``'s setup (queue q0, its first conversation)."""


def lock_frames(queue: int, seq: int, k: int, due_ms: int) -> tuple[bytes, bytes]:
    """``LOCK_UPDATED`` and ``LOCK_LOCKED`` for conversation ``k`` of queue
    ``queue``, events ``seq`` and ``seq + 1`` of the queue's stream, its
    window passed at ``due_ms``: what ``floor`` sends in a lock storm
    (``POST /storm``), so its agents parse and check Switchboard's frames."""
    conv = f"c_01a24531b0{k:014d}.{queue:03d}".encode()
    sub = [
        (b"c_01a24531b0034aa3a9d33a39.00a", conv),
        (b"queue:q0", b"queue:q%d" % queue),
        (b'"queue_id":"q0"', b'"queue_id":"q%d"' % queue),
        (b'"touchpoint_id":"tp0"', b'"touchpoint_id":"tp%d"' % queue),
        (b"1796460813954", b"%d" % due_ms),
    ]
    updated, locked = LOCK_UPDATED.replace(b'"seq":2,', b'"seq":%d,' % seq, 1), LOCK_LOCKED.replace(
        b'"seq":3,', b'"seq":%d,' % (seq + 1), 1
    )
    for old, new in sub:
        updated, locked = updated.replace(old, new), locked.replace(old, new)
    return updated, locked


VARIANTS = {"floor-sbframe": ("floor", ["--frame", "switchboard"])}
"""Compare peers that are another peer with options: ``floor-sbframe``, the
floor sending Switchboard's own frame (same bytes, same parsing at the
agents) instead of a padded one of the same size."""


def args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True, help="HTTP (and websocket unless --ws-port)")
    parser.add_argument("--ws-port", type=int, default=0)
    parser.add_argument("--size", type=int, default=700, help="frame size in bytes")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--frame", choices=("padded", "switchboard"), default="padded",
        help="floor: a padded frame of --size bytes, or Switchboard's inbox.added (switchboard_frame)",
    )
    return parser.parse_args()
