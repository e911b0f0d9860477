"""A lock storm in one pass (Intake.expire_many): every due window locked,
each ``session.locked`` published exactly once, also when the same
conversation is fired twice in one batch (the second decision conflicts and
goes through the compare-and-set loop, which finds it locked)."""

from __future__ import annotations

from server.core.model import Inbound
from tests.app.test_changes import build

DAY_MS = 25 * 3600 * 1000


async def test_expire_many_locks_each_once_and_publishes_once() -> None:
    app, broker, metrics = build()
    convs = []
    for n in range(3):
        inbound = Inbound(kind="text", text="oi", at=app.clock())
        made = await app.intake.receive("wa", f"55119111122{n:02d}", inbound)
        assert made is not None
        convs.append(made.after.id)
    now = app.clock()
    app.intake.clock = lambda: now + DAY_MS  # a day later: every window closed
    heard: list[tuple[str, str]] = []
    broker.on_publication = lambda stream, seq, kind, data: heard.append((stream, kind))

    failed = await app.intake.expire_many([convs[0], convs[1], "c_missing", convs[2], convs[0]])

    assert failed == []
    for conv_id in convs:
        stored = await app.intake.store.get_conversation(conv_id)
        assert stored is not None and stored.session_locked
    assert sorted(s for s, kind in heard if kind == "session.locked") == sorted(
        [f"conv:{c}" for c in convs] + ["queue:sales"] * 3
    )
    assert metrics.session_locks.value() == 3
    assert await app.intake.expire_many(convs) == []  # fired again: nothing left to lock
    assert sum(1 for _, kind in heard if kind == "session.locked") == 6
