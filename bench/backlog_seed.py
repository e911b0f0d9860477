"""A backlog written before the node starts: N waiting WhatsApp conversations
spread over the queues of a ``bench.center.Center`` (touchpoint ``tp{q}`` →
queue ``q{q}``), in the SQLite file the node is then started on
(``serve --data FILE``).

``seed(workdir, n, queues)`` writes them through the store's own commit
(``SqliteStore.commit_many``, the same rows, indexes and counters a webhook
would leave), in batches, so 50,000 conversations take seconds, not the
minutes 50,000 signed webhooks would. Conversation k (0-based) is in queue
``q{k % queues}``, from contact ``whatsapp:+1999{k:08d}`` named "Backlog
customer k", with one inbound text; the oldest is k = 0 and each is
``spacing_ms`` newer than the last, the newest ``newest_age_ms`` ago, so the
Inbox's order (oldest waiting first) is k = 0, 1, 2, …

Used by ``python -m bench backlog`` (bench/backlog.py) and the browser
figures (``python -m bench backlog-web``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from server.app.minting import new_id
from server.core.conversation import Outcome
from server.core.model import Contact, Conversation, Message, contact_id
from server.store.sqlite import SqliteStore

BATCH = 1000
"""Conversations per ``commit_many`` (one transaction)."""


def contact_address(k: int) -> str:
    """The phone of backlog customer ``k`` (never one bench/customers.py uses)."""
    return f"+1999{k:08d}"


def seed(
    workdir: Path,
    n: int,
    queues: int,
    *,
    data: Path | None = None,
    spacing_ms: int = 50,
    newest_age_ms: int = 60_000,
    text: str = "Olá, preciso de ajuda com meu pedido (backlog)",
) -> Path:
    """Write ``n`` waiting conversations over ``queues`` queues into ``data``
    (default ``workdir/backlog-{n}.sqlite3``, created fresh) and return its
    path, ready for ``serve --data``. The conversations' reply windows are
    open (the last inbound ``newest_age_ms`` to ``n * spacing_ms`` ago), as on
    a busy morning: start the node with a ``window_seconds`` longer than that
    (the bench's Center uses a day) or the node locks them all at start."""
    path = data or workdir / f"backlog-{n}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    asyncio.run(_seed(path, n, queues, spacing_ms, newest_age_ms, text))
    return path


async def _seed(path: Path, n: int, queues: int, spacing_ms: int, newest_age_ms: int, text: str) -> None:
    store = SqliteStore(path)
    await store.start()
    try:
        now = time.time_ns() // 1_000_000
        oldest = now - newest_age_ms - max(0, n - 1) * spacing_ms
        for start in range(0, n, BATCH):
            outcomes: list[Outcome] = []
            for k in range(start, min(n, start + BATCH)):
                q = k % max(1, queues)
                address = contact_address(k)
                contact = Contact(
                    id=contact_id("whatsapp", address), channel="whatsapp", address=address,
                    phone=address, profile_name=f"Backlog customer {k}",
                )
                await store.put_contact(contact)
                at = oldest + k * spacing_ms
                conv = Conversation(
                    id=new_id("c"), version=1, channel="whatsapp", touchpoint_id=f"tp{q}", queue_id=f"q{q}",
                    contact_id=contact.id, created_at=at, message_count=1, last_message_at=at,
                    preview=text, preview_direction="in", unread=1, last_inbound_at=at, session_locked=False,
                )
                message = Message(
                    id=new_id("m"), conversation_id=conv.id, seq=1, direction="in", kind="text", text=text,
                    at=at, status="received", channel_message_id=f"wamid.backlog.{k}",
                )
                outcomes.append(Outcome(before=None, after=conv, message=message))
            failed = [e for e in await store.commit_many(outcomes) if e is not None]
            if failed:
                raise RuntimeError(f"seeding the backlog failed: {failed[0]!r}")
    finally:
        await store.close()
