"""What the harness's agents spend per frame they receive, Switchboard's frame
beside a peer's, in-process (no sockets): the worker's own frame handler
(``Agent.on_switchboard`` / ``Agent.on_peer``: decode, sequence check,
marker, latency record), timed and its Python calls counted.

    python -m bench.clientcost

Both frames are 992 bytes, as in ``compare``: Switchboard's ``inbox.added``
(a whole conversation summary, captured from a run) and the floor's
padded ``{"type":"ev",...}`` (``bench.peers.frame_text``). What a worker
spends besides (the wakeup, ``recv``, the frame parse in ``bench/wire.py``)
is the same for both: ``compare`` counts one ``recvfrom`` and one TCP
segment per frame for every server (``wire_per_delivery``).
"""

from __future__ import annotations

import cProfile
import json
import pstats
import timeit
from typing import Any

from bench import worker
from bench.peers import frame_text

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
"""An ``inbox.added`` as the node sent it in ``compare`` (1 queue, a new WhatsApp customer)."""


def _agent(dialect: str) -> worker.Agent:
    w = worker.Worker.__new__(worker.Worker)
    worker.Worker.__init__(w, None, {"dialect": dialect, "ws_urls": ["ws://127.0.0.1/ws"], "agents": [["a1", "t", 0, 1]]})  # type: ignore[arg-type]
    return w.agents[0]


def measure(dialect: str, payload: bytes, n: int = 100_000) -> dict[str, Any]:
    agent = _agent(dialect)
    handle = agent.on_switchboard if dialect == "switchboard" else agent.on_peer

    def one() -> None:
        agent.positions.clear()  # every frame a new event (seq 1), not a duplicate
        agent.lastk.clear()
        handle(payload, 0)

    us = min(timeit.repeat(one, number=n, repeat=5)) / n * 1e6
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(1000):
        one()
    profile.disable()
    calls = pstats.Stats(profile).total_calls / 1000  # type: ignore[attr-defined]
    return {"frame_bytes": len(payload), "handler_us": round(us, 2), "calls_per_frame": round(calls, 1)}


def main() -> None:
    peer = frame_text(1, 1, 1_796_395_380_808_063_662, len(SWITCHBOARD_FRAME)).encode()
    out = {"switchboard": measure("switchboard", SWITCHBOARD_FRAME), "floor": measure("floor", peer)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
