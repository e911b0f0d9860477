"""A lock storm in one pass (Intake.expire_many): every due window locked,
each ``session.locked`` published exactly once, also when the same
conversation is fired twice in one batch (the second decision conflicts and
goes through the compare-and-set loop, which finds it locked)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import msgspec
import pytest

from server.app import App
from server.app import intake as intake_mod
from server.core.conversation import Outcome
from server.core.model import Conversation, Inbound
from server.store.base import StoreError
from tests.app.test_changes import build

DAY_MS = 25 * 3600 * 1000


async def opened_a_day_ago(app: App, n: int, prefix: str) -> list[str]:
    """``n`` new conversations (numbers ``prefix`` + 2 digits), then the
    intake's clock a day later: every one's window has closed."""
    convs = []
    for i in range(n):
        made = await app.intake.receive("wa", f"{prefix}{i:02d}", Inbound(kind="text", text="oi", at=app.clock()))
        assert made is not None
        convs.append(made.after.id)
    now = app.clock()
    app.intake.clock = lambda: now + DAY_MS
    return convs


async def test_expire_many_locks_each_once_and_publishes_once() -> None:
    app, broker, metrics = build()
    convs = await opened_a_day_ago(app, 3, "55119111122")
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


async def _storm(one_at_a_time: bool, prepared: bool = False) -> dict[str, list[bytes]]:
    """Eight conversations (three claimed by Ana, five in the sales inbox)
    whose windows pass together; returns every frame each stream got from
    the storm. Ids and clock are deterministic, so two runs can be compared
    byte for byte. ``prepared``: the timers' ``prepare`` (``Intake.warm``)
    told of them first, before their windows pass."""
    app, broker, _ = build()
    serial = itertools.count()
    app.intake.mint.new = lambda prefix: f"{prefix}_{next(serial):012x}0000"
    start = 1_795_620_000_000
    app.intake.clock = lambda: start
    convs = []
    for n in range(8):
        made = await app.intake.receive("wa", f"55119111122{n:02d}", Inbound(kind="text", text=f"oi {n}", at=start))
        assert made is not None
        convs.append(made.after.id)
    for conv_id in convs[::3]:
        await app.commands.claim(app.catalog.agents["ana"], conv_id)
    if prepared:
        await app.intake.warm(convs)
    app.intake.clock = lambda: start + DAY_MS
    heard: dict[str, list[bytes]] = {}
    broker.on_publication = lambda stream, seq, kind, data: heard.setdefault(stream, []).append(data)
    if one_at_a_time:
        for conv_id in convs:
            assert await app.intake.expire(conv_id)
    else:
        assert await app.intake.expire_many(convs) == []
    return heard


@pytest.mark.parametrize("chunk", [2000, 3, 1])
async def test_a_batch_publishes_the_same_frames_as_one_at_a_time_in_the_same_stream_order(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake_mod, "EXPIRE_CHUNK", chunk)
    batch, single = await _storm(False), await _storm(True)
    assert batch == single
    assert await _storm(False, prepared=True) == single  # decided ahead: the same frames, byte for byte
    kinds = [msgspec.json.decode(f)["event"]["type"] for f in batch["queue:sales"]]
    assert kinds == ["inbox.updated", "session.locked"] * 5
    assert [msgspec.json.decode(f)["event"]["type"] for f in batch["agent:ana"]] == [
        "assigned.updated", "session.locked"
    ] * 3
    thread = [msgspec.json.decode(f)["event"] for f in next(v for k, v in batch.items() if k.startswith("conv:"))]
    assert [e["type"] for e in thread] == ["session.locked", "message.created"]
    assert thread[1]["message"]["kind"] == "timeline" and thread[1]["message"]["meta"] == {"event": "locked"}


async def test_a_storm_publishes_a_chunk_while_the_next_one_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks overlap: while a chunk commits (the store works: the writer
    thread, Redis), the loop reads and decides the next one and publishes
    the one before; the chunks are published in order, each lock once."""
    monkeypatch.setattr(intake_mod, "EXPIRE_CHUNK", 3)
    app, broker, metrics = build()
    convs = await opened_a_day_ago(app, 8, "55119111133")
    log: list[str] = []
    store = app.intake.store
    real_read, real_commit_many, real_publish_many = store.get_conversations, store.commit_many, broker.publish_many

    async def get_conversations(ids: Sequence[str]) -> dict[str, Conversation]:
        log.append(f"read {[convs.index(i) for i in ids]}")
        return await real_read(ids)

    async def commit_many(outcomes: Sequence[Outcome]) -> list[StoreError | None]:
        which = [convs.index(o.after.id) for o in outcomes]
        log.append(f"commit {which}")
        await asyncio.sleep(0)  # a store that answers later (the writer thread, Redis)
        results = await real_commit_many(outcomes)
        log.append(f"committed {which}")
        return results

    async def publish_many(publications: Sequence[tuple[str, object]]) -> None:
        log.append(f"publish {sorted({convs.index(s[5:]) for s, _ in publications if s.startswith('conv:')})}")
        await real_publish_many(publications)  # type: ignore[arg-type]

    store.get_conversations = get_conversations  # type: ignore[method-assign]
    store.commit_many = commit_many  # type: ignore[method-assign]
    broker.publish_many = publish_many  # type: ignore[method-assign]
    published_before = {k: metrics.published.value(k) for k in ("queue", "conv")}
    assert await app.intake.expire_many(convs) == []
    assert log == [
        "read [0, 1, 2]", "commit [0, 1, 2]",
        "read [3, 4, 5]", "committed [0, 1, 2]", "commit [3, 4, 5]", "publish [0, 1, 2]",
        "read [6, 7]", "committed [3, 4, 5]", "commit [6, 7]", "publish [3, 4, 5]",
        "committed [6, 7]", "publish [6, 7]",
    ]  # fmt: skip
    assert metrics.session_locks.value() == 8
    # Each lock: inbox.updated and session.locked on the queue, session.locked and message.created on the thread.
    assert {k: metrics.published.value(k) - v for k, v in published_before.items()} == {"queue": 16, "conv": 16}


async def test_the_garbage_collector_is_paused_through_a_storm_and_resumed_after() -> None:
    """A storm's live objects are not scanned over and over (collector.paused):
    no automatic collection while it commits and publishes; on again after,
    also when the store fails."""
    import gc

    app, broker, _ = build()
    (conv_id,) = await opened_a_day_ago(app, 1, "55119111144")
    seen: list[bool] = []
    broker.on_publication = lambda stream, seq, kind, data: seen.append(gc.isenabled())
    assert gc.isenabled()
    assert await app.intake.expire_many([conv_id]) == []
    assert seen and not any(seen)
    assert gc.isenabled()

    async def broken(ids: Sequence[str]) -> dict[str, Conversation]:
        raise RuntimeError("store down")

    app.intake.store.get_conversations = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await app.intake.expire_many([conv_id])
    assert gc.isenabled()


async def test_a_storm_starts_with_a_small_chunk_then_doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first locks leave after a small first chunk (EXPIRE_FIRST), the
    chunks then doubling up to EXPIRE_CHUNK; each window read once."""
    monkeypatch.setattr(intake_mod, "EXPIRE_FIRST", 2)
    monkeypatch.setattr(intake_mod, "EXPIRE_CHUNK", 5)
    app, _, metrics = build()
    convs = await opened_a_day_ago(app, 15, "55119111155")
    sizes: list[int] = []
    store = app.intake.store
    real_read = store.get_conversations

    async def get_conversations(ids: Sequence[str]) -> dict[str, Conversation]:
        sizes.append(len(ids))
        return await real_read(ids)

    store.get_conversations = get_conversations  # type: ignore[method-assign]
    assert await app.intake.expire_many(convs) == []
    assert sizes == [2, 4, 5, 4]
    assert metrics.session_locks.value() == 15


async def test_warming_ahead_of_a_storm_formats_the_phone_numbers_and_changes_nothing() -> None:
    """``Intake.warm`` (the timers' ``prepare``): each window's summary built
    ahead, so the contacts' numbers are formatted for people before the
    storm (``identity.format_phone``'s cache); nothing stored or published."""
    from server.core import identity, views

    app, broker, _ = build()
    convs = []
    for n in range(3):
        made = await app.intake.receive("wa", f"55119111166{n:02d}", Inbound(kind="text", text="oi", at=app.clock()))
        assert made is not None
        convs.append(made.after)
    heard: list[str] = []
    broker.on_publication = lambda stream, seq, kind, data: heard.append(kind)
    identity.format_phone.cache_clear()
    views._shown.cache_clear()  # the contacts' views too (summaries keep them per contact)
    await app.intake.warm([c.id for c in convs])
    assert identity.format_phone.cache_info().currsize == 3
    assert heard == []
    assert await app.intake.store.get_conversations([c.id for c in convs]) == {c.id: c for c in convs}


async def _decided_ahead(n: int, prefix: str) -> tuple[App, list[str], list[tuple[str, dict[str, object]]], int]:
    """``n`` new conversations, told to the timers' ``prepare`` (``Intake.warm``)
    before their windows pass, the clock then a day later; every event the
    storm publishes is collected (stream, event)."""
    app, broker, _ = build()
    start = app.clock()
    app.intake.clock = lambda: start
    convs = []
    for i in range(n):
        made = await app.intake.receive("wa", f"{prefix}{i:02d}", Inbound(kind="text", text="oi", at=start))
        assert made is not None
        convs.append(made.after.id)
    await app.intake.warm(convs)
    heard: list[tuple[str, dict[str, object]]] = []
    broker.on_publication = lambda stream, seq, kind, data: heard.append((stream, msgspec.json.decode(data)["event"]))
    return app, convs, heard, start


def _count_reads(app: App, method: str) -> list[list[str]]:
    """The ids each call of the store's ``method`` (``get_contacts``, ``get_conversations``) asks for, from now on."""
    store = app.intake.store
    real_read = getattr(store, method)
    reads: list[list[str]] = []

    async def counted(ids: Sequence[str]) -> dict[str, object]:
        reads.append(list(ids))
        return dict(await real_read(ids))

    setattr(store, method, counted)
    return reads


async def test_a_storm_decided_ahead_reads_no_conversation_and_no_contact_when_it_is_due() -> None:
    app, convs, heard, start = await _decided_ahead(4, "55119111177")
    real_read = app.intake.store.get_conversations
    reads = _count_reads(app, "get_conversations")
    contact_reads = _count_reads(app, "get_contacts")
    app.intake.clock = lambda: start + DAY_MS
    assert await app.intake.expire_many(convs) == []
    assert reads == []
    assert contact_reads == []  # no contact written since they were read ahead
    for conv_id in convs:
        stored = await real_read([conv_id])
        assert stored[conv_id].session_locked
    locks = [(s, e["conversation_id"]) for s, e in heard if e["type"] == "session.locked"]
    assert sorted(locks) == sorted([("queue:sales", c) for c in convs] + [(f"conv:{c}", c) for c in convs])
    entries = [e["message"] for s, e in heard if e["type"] == "message.created"]
    assert [m["at"] for m in entries] == [start + DAY_MS] * 4  # stamped when it locked, not when it was decided
    assert app.intake._prepared == {}


async def test_a_conversation_claimed_after_its_lock_was_decided_ahead_is_locked_as_it_is_now() -> None:
    app, convs, heard, start = await _decided_ahead(2, "55119111178")
    await app.commands.claim(app.catalog.agents["ana"], convs[0])
    heard.clear()
    app.intake.clock = lambda: start + DAY_MS
    assert await app.intake.expire_many(convs) == []
    # The claimed one: its lock goes to Ana's list, with the summary as it is now.
    assert ("queue:sales", "inbox.updated") not in {(s, e["type"]) for s, e in heard if e.get("conversation", {}).get("id") == convs[0]}  # type: ignore[union-attr]
    ana = [e for s, e in heard if s == "agent:ana"]
    assert [e["type"] for e in ana] == ["assigned.updated", "session.locked"]
    summary = ana[0]["conversation"]
    assert summary["assignee_id"] == "ana" and summary["session_locked"] is True  # type: ignore[index]
    assert sum(1 for s, e in heard if e["type"] == "session.locked") == 4  # each once, on its list and its thread
    for conv_id in convs:
        stored = await app.intake.store.get_conversation(conv_id)
        assert stored is not None and stored.session_locked


async def test_a_window_renewed_after_its_lock_was_decided_ahead_stays_open() -> None:
    app, convs, heard, start = await _decided_ahead(2, "55119111179")
    window = int(app.catalog.policy("whatsapp").window_seconds * 1000)
    later = start + window // 2
    app.intake.clock = lambda: later
    await app.intake.receive("wa", "5511911117901", Inbound(kind="text", text="still here", at=later))
    heard.clear()
    app.intake.clock = lambda: start + window + 1  # the first window's moment passed; the renewed one's has not
    assert await app.intake.expire_many(convs) == []
    kept, renewed = await app.intake.store.get_conversation(convs[0]), await app.intake.store.get_conversation(convs[1])
    assert kept is not None and kept.session_locked
    assert renewed is not None and not renewed.session_locked
    assert {e["conversation_id"] for s, e in heard if e["type"] == "session.locked"} == {convs[0]}


async def test_a_contact_renamed_after_the_storm_was_decided_ahead_is_shown_with_the_new_name() -> None:
    app, convs, heard, start = await _decided_ahead(2, "55119111180")
    await app.contacts.put(app.catalog.agents["sofia"], "whatsapp", "+55 11 91111-8001", "Maria")
    heard.clear()
    contact_reads = _count_reads(app, "get_contacts")
    app.intake.clock = lambda: start + DAY_MS
    assert await app.intake.expire_many(convs) == []
    stored = await app.intake.store.get_conversations(convs)
    assert sorted(i for ids in contact_reads for i in ids) == sorted(c.contact_id for c in stored.values())  # read again
    names = {
        e["conversation"]["id"]: e["conversation"]["contact"]["display_name"]  # type: ignore[index]
        for s, e in heard
        if e["type"] == "inbox.updated"
    }
    assert names[convs[1]] == "Maria"
    assert names[convs[0]] != "Maria"


async def test_locks_decided_ahead_are_bounded_and_dropped_when_they_never_fire(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intake_mod, "PREPARED_MAX", 3)
    app, convs, heard, start = await _decided_ahead(5, "55119111181")
    assert len(app.intake._prepared) == 3  # the others fire all the same, read when due
    app.intake.clock = lambda: start + DAY_MS
    assert await app.intake.expire_many(convs) == []
    assert sum(1 for s, e in heard if e["type"] == "session.locked") == 10
    # Decided ahead, never fired (renewed, or fired by another node): gone a while after their moment.
    app2, _, _, start2 = await _decided_ahead(2, "55119111182")
    assert len(app2.intake._prepared) == 2
    due = start2 + int(app2.catalog.policy("whatsapp").window_seconds * 1000)
    app2.intake.clock = lambda: due + intake_mod.PREPARED_KEEP_MS
    assert await app2.intake.expire_many([]) == []
    assert len(app2.intake._prepared) == 2  # not yet
    app2.intake.clock = lambda: due + intake_mod.PREPARED_KEEP_MS + 1
    await app2.intake.warm([])
    assert app2.intake._prepared == {}
