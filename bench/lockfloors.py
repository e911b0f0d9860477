"""The floor of each part of a lock storm, each part alone, in one process:
what 20,000 locks cost at the least on this machine, whatever the code
around them does.

    python -m bench.lockfloors [--locks 20000] [--out FILE]

Parts (CPU, ``time.process_time``; each run once to warm, then measured):
the core's decision (``rules.expire``); the lock's summary
(``views.summary``); its publications (``fanout.publications``: 4 per
lock); JSON-encoding the batch's distinct events once (``encoded_once``: 3
per lock); the broker's Event frames around them (``frame_bytes``: 4 per
lock); the websocket framing of the queue's frames, once for every socket
(``_text_frame``); writing each of 200 sockets (10 agents per queue, 20
queues, as ``bench lockstorm``) its frames in one ``send`` (socket pairs
with 32 MiB buffers: the kernel's copy, nobody reading). Then SQLite alone,
on a file with the store's schema: 20,000 conversation UPDATEs (as a lock
writes them) and 20,000 message INSERTs (its timeline entry) in one
transaction, one statement and savepoint per lock (before) vs one
``executemany`` per statement (after), in any order and in the
conversations' order (what ``commit_many`` does)."""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from server.broker import encoded_once, frame_bytes
from server.core import conversation as rules
from server.core import fanout
from server.core.model import Contact, Conversation, Touchpoint, WindowPolicy
from server.core.views import summary
from server.store.sqlite import SCHEMA
from server.ws.hub import _text_frame

T = TypeVar("T")
WA = Touchpoint(id="wa", channel="whatsapp", name="+1 555 0100", queue_id="q0")
POLICY = WindowPolicy(window_seconds=24 * 3600, templates=True)
T0 = 1_700_000_000_000
LOCK_UPDATE = "UPDATE conversations SET version = ?, body = ?, session_locked = ? WHERE id = ? AND version = ?"


def _cpu(fn: Callable[[], T]) -> tuple[float, T]:
    fn()
    c0 = time.process_time()
    out = fn()
    return time.process_time() - c0, out


def loop_parts(n: int) -> dict[str, float]:
    convs = [
        Conversation(
            id=f"c_{i:08d}{os.urandom(4).hex()}", version=3, channel="whatsapp", touchpoint_id="wa", queue_id=f"q{i % 20}",
            contact_id=f"whatsapp:5511{i:09d}", created_at=T0, last_message_at=T0, last_inbound_at=T0,
            preview="Hello, I would like to know about my order", preview_direction="in", unread=1, message_count=1,
            session_locked=False,
        )
        for i in range(n)
    ]  # fmt: skip
    contacts = [Contact(id=c.contact_id, channel="whatsapp", address=c.contact_id.removeprefix("whatsapp:")) for c in convs]
    us: dict[str, float] = {}
    cpu, maybe = _cpu(lambda: [rules.expire(c, POLICY, T0 + 25 * 3600_000, message_id=f"m_{i:08d}") for i, c in enumerate(convs)])
    outcomes = [o for o in maybe if o is not None]
    us["decide (rules.expire)"] = cpu
    cpu, sums = _cpu(lambda: [summary(o.after, k, WA, POLICY) for o, k in zip(outcomes, contacts, strict=True)])
    us["summary (views.summary)"] = cpu
    cpu, pubs = _cpu(lambda: [pub for o, s in zip(outcomes, sums, strict=True) for pub in fanout.publications(o, None, s, {})])
    us["publications (fanout.publications, 4 per lock)"] = cpu
    cpu, encoded = _cpu(lambda: encoded_once(pubs))
    us["JSON encoding (encoded_once, 3 events per lock)"] = cpu
    cpu, _ = _cpu(lambda: [frame_bytes(s, i, d) for i, (s, _k, d) in enumerate(encoded)])
    us["Event frames (frame_bytes, 4 per lock)"] = cpu
    queue_frames = [(s, frame_bytes(s, i, d)) for i, (s, _k, d) in enumerate(encoded) if s.startswith("queue:")]
    cpu, wire = _cpu(lambda: [_text_frame(f) for _, f in queue_frames])
    us["websocket framing, once per frame (_text_frame, 2 per lock)"] = cpu
    by_queue: dict[str, list[bytes]] = {}
    for (stream, _), w in zip(queue_frames, wire, strict=True):
        by_queue.setdefault(stream, []).append(w)
    pairs = [socket.socketpair() for _ in range(200)]
    try:
        for a, b in pairs:
            a.setblocking(False)
            a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 << 20)
            b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        queues = sorted(by_queue)

        def write() -> int:
            sent = 0
            for i, (a, _) in enumerate(pairs):
                try:
                    sent += a.send(b"".join(by_queue[queues[i % len(queues)]]))
                except BlockingIOError:
                    pass
            return sent

        def drain() -> None:
            for _, b in pairs:
                b.setblocking(False)
                try:
                    while b.recv(1 << 24):
                        pass
                except BlockingIOError:
                    pass

        write()
        drain()
        c0 = time.process_time()
        sent = write()
        us[f"socket writes: 200 sockets, 10 x {n:,} deliveries, {sent / 2**20:.0f} MiB (join + send)"] = time.process_time() - c0
        drain()
    finally:
        for a, b in pairs:
            a.close()
            b.close()
    return {k: round(v / n * 1e6, 1) for k, v in us.items()}


def sqlite_parts(n: int, workdir: Path) -> dict[str, float]:
    db = sqlite3.connect(workdir / "floor.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    body = os.urandom(420)
    ids = [f"c_{os.urandom(8).hex()}" for _ in range(n)]
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(c, 3, f"whatsapp:{i}", f"q{i % 20}", None, "open", 0, T0 + i, T0 + i, body) for i, c in enumerate(ids)],
    )
    db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)", [(f"m_{os.urandom(8).hex()}", c, 1, f"wamid.{c}", "received", body[:300]) for c in ids])
    db.execute("COMMIT")
    random.shuffle(ids)  # due in no particular order (neither the rows' order nor the ids')
    seq = [1]

    def run(how: str) -> float:
        seq[0] += 1
        updates = [(4, body, 1, c, 3) for c in ids]
        entries = [(f"m_{os.urandom(8).hex()}", c, seq[0], None, "received", body[:300]) for c in ids]
        if how == "grouped, conversations' order":
            updates.sort(key=lambda r: str(r[3]))
            entries.sort(key=lambda r: str(r[1]))
        c0 = time.process_time()
        db.execute("BEGIN IMMEDIATE")
        if how == "per lock, savepoint each (before)":
            for u, m in zip(updates, entries, strict=True):
                db.execute("SAVEPOINT one")
                db.execute(LOCK_UPDATE, u)
                db.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)", m)
                db.execute("RELEASE one")
        else:
            db.executemany(LOCK_UPDATE, updates)
            db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)", entries)
        db.execute("COMMIT")
        cpu = time.process_time() - c0
        db.execute("UPDATE conversations SET version = 3, session_locked = 0")
        return cpu

    hows = ["per lock, savepoint each (before)", "grouped, any order", "grouped, conversations' order"]
    out: dict[str, list[float]] = {h: [] for h in hows}
    for _ in range(2):
        for how in hows:
            out[how].append(round(run(how) / n * 1e6, 1))
    db.close()
    return {f"SQLite {n:,} UPDATE + {n:,} INSERT, one transaction: {h}": min(v) for h, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.lockfloors")
    ap.add_argument("--locks", type=int, default=20000)
    ap.add_argument("--out", type=Path, default=None)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result: dict[str, Any] = {"locks": opts.locks, "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
        result["cpu_us_per_lock"] = {**loop_parts(opts.locks), **sqlite_parts(opts.locks, Path(tmp))}
        result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    if opts.out:
        opts.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
