"""What the harness's agents spend per frame they receive, Switchboard's frame
beside a peer's, in-process (no sockets): the worker's own frame handler
(``Agent.on_switchboard`` / ``Agent.on_peer``: decode, sequence check,
marker, latency record), timed and its Python calls counted.

    python -m bench.clientcost

Both frames are 992 bytes, as in ``compare``: Switchboard's ``inbox.added``
(a whole conversation summary, captured from a run: ``bench.peers.SWITCHBOARD_FRAME``)
and the floor's padded ``{"type":"ev",...}`` (``bench.peers.frame_text``). What a worker
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
from bench.peers import SWITCHBOARD_FRAME, frame_text


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
