"""The Store contract (server/store/base.py), method by method, run against
every implementation in tests/store/conftest.py's ``STORES``."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from server.core import conversation as rules
from server.core.errors import DomainError
from server.core.fanout import Totals
from server.core.model import Agent, Contact, Conversation, SentRequest, contact_id
from server.store.base import DuplicateMessage, DuplicateRequest, Store, VersionConflict
from tests.store.conftest import DURABLE, STORES
from tests.store.world import ANA, BRUNO, FB, HELLO, POLICIES, SOFIA, WA, WA2, World, ids


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


async def commit_all(store: Store, *outcomes: rules.Outcome, expected_latest: str | None = None) -> list[object]:
    """Commit concurrently; each result is None (won) or the exception raised."""
    return await asyncio.gather(
        *(store.commit(o, expected_latest=expected_latest) for o in outcomes), return_exceptions=True
    )


# --------------------------------------------------------------------------- contacts


async def test_unknown_contact_is_none(store: Store) -> None:
    assert await store.get_contact("whatsapp:000") is None
    assert await store.list_contacts() == []


async def test_put_contact_creates_then_replaces(store: Store) -> None:
    cid = contact_id("whatsapp", "5511987654321")
    first = Contact(id=cid, channel="whatsapp", address="5511987654321", profile_name="joao")
    await store.put_contact(first)
    assert await store.get_contact(cid) == first

    renamed = replace(first, name="João Conceição")
    await store.put_contact(renamed)
    assert await store.get_contact(cid) == renamed
    assert await store.list_contacts() == [renamed]

    forgotten = replace(renamed, name=None, profile_name=None)
    await store.put_contact(forgotten)
    assert await store.get_contact(cid) == forgotten


async def test_list_contacts_is_ordered_by_id_and_limited(store: Store) -> None:
    made = [
        Contact(id=contact_id("whatsapp", "5511900000003"), channel="whatsapp", address="5511900000003"),
        Contact(id=contact_id("messenger", "psid-9"), channel="messenger", address="psid-9", profile_name="Bia"),
        Contact(id=contact_id("whatsapp", "5511900000001"), channel="whatsapp", address="5511900000001", name="Ana"),
    ]
    for c in made:
        await store.put_contact(c)
    by_id = sorted(made, key=lambda c: c.id)
    assert await store.list_contacts() == by_id
    assert await store.list_contacts(limit=2) == by_id[:2]


async def test_get_contacts_reads_many_at_once_and_skips_the_unknown(store: Store) -> None:
    assert await store.get_contacts([]) == {}
    made = [Contact(id=contact_id("whatsapp", f"55119000{n:05d}"), channel="whatsapp", address=f"55119000{n:05d}") for n in range(700)]
    for c in made:
        await store.put_contact(c)
    renamed = replace(made[3], name="Ana")
    await store.put_contact(renamed)
    wanted = [c.id for c in reversed(made)] + ["whatsapp:nobody", made[3].id]  # more than one SQL chunk, a repeat
    found = await store.get_contacts(wanted)
    assert found == {c.id: (renamed if c.id == renamed.id else c) for c in made}


async def test_contact_writes_changes_with_every_contact_written_and_nothing_else(store: Store, world: World) -> None:
    seen = [await store.contact_writes()]
    ana = Contact(id=contact_id("whatsapp", "5511900000001"), channel="whatsapp", address="5511900000001")
    await store.put_contact(ana)
    seen.append(await store.contact_writes())
    await store.put_contact(replace(ana, name="Ana"))  # the same contact again: a write too
    seen.append(await store.contact_writes())
    assert len(set(seen)) == 3
    # Reads, and conversations written, leave it alone.
    await store.get_contacts([ana.id])
    await world.receive("Olá")
    assert await store.contact_writes() == seen[-1]


# --------------------------------------------------------------------------- commit: creating


async def test_first_message_creates_the_conversation(store: Store, world: World) -> None:
    made = await world.receive("Olá, preciso de ajuda", channel_message_id="wamid.1")
    conv, message = made.after, made.message
    assert message is not None
    assert await store.get_conversation(conv.id) == conv
    assert await store.latest_conversation(conv.contact_id, WA.id) == conv
    assert await store.messages(conv.id) == [message]
    assert await store.get_message(message.id) == message
    assert await store.message_by_channel_id("wamid.1") == message
    assert await store.inbox("sales") == [conv]
    assert await store.notes(conv.id) == []


async def test_unknown_ids_read_as_nothing(store: Store) -> None:
    assert await store.get_conversation("c-missing") is None
    assert await store.latest_conversation("whatsapp:1", "wa") is None
    assert await store.conversations_of_contact("whatsapp:1") == []
    assert await store.messages("c-missing") == []
    assert await store.get_message("m-missing") is None
    assert await store.message_by_channel_id("wamid.missing") is None
    assert await store.notes("c-missing") == []
    assert await store.inbox("sales") == []
    assert await store.assigned("ana") == []
    assert await store.unlocked_open() == []
    assert await store.pending_outbound() == []


async def test_creating_against_a_stale_latest_conflicts_and_writes_nothing(store: Store, world: World) -> None:
    first = (await world.receive("first visit")).after
    ended = (await world.end(first.id, SOFIA)).after
    # Two writers both saw the ended conversation as the latest one.
    win = await world.decide_receive("back again", latest=ended)
    lose = await world.decide_receive("back again (other node)", latest=ended)
    await store.commit(win, expected_latest=ended.id)
    with pytest.raises(VersionConflict):
        await store.commit(lose, expected_latest=ended.id)

    assert lose.message is not None
    assert await store.get_conversation(lose.after.id) is None
    assert await store.get_message(lose.message.id) is None
    assert await store.message_by_channel_id(lose.message.channel_message_id or "") is None
    assert await store.latest_conversation(first.contact_id, WA.id) == win.after
    assert ids(await store.conversations_of_contact(first.contact_id)) == [win.after.id, first.id]
    assert await store.inbox("sales") == [win.after]


async def test_creating_when_one_exists_but_none_expected_conflicts(store: Store, world: World) -> None:
    made = await world.receive("hello")
    existing = made.after
    again = await world.decide_receive("hello from a node that saw nothing", latest=None)
    with pytest.raises(VersionConflict):
        await store.commit(again, expected_latest=None)
    assert await store.get_conversation(again.after.id) is None
    assert await store.latest_conversation(existing.contact_id, WA.id) == existing
    assert await store.messages(existing.id) == [made.message]
    assert await store.inbox("sales") == [existing]


async def test_concurrent_creations_for_one_contact_one_wins(store: Store, world: World) -> None:
    a = await world.decide_receive("hi", latest=None)
    b = await world.decide_receive("hi (retry elsewhere)", latest=None)
    results = await commit_all(store, a, b, expected_latest=None)

    assert sum(r is None for r in results) == 1, results
    assert sum(isinstance(r, VersionConflict) for r in results) == 1, results
    winner, loser = (a, b) if results[0] is None else (b, a)
    assert loser.message is not None
    assert await store.latest_conversation(a.after.contact_id, WA.id) == winner.after
    assert await store.get_conversation(loser.after.id) is None
    assert await store.get_message(loser.message.id) is None
    assert await store.inbox("sales") == [winner.after]


async def test_committing_a_creation_twice_conflicts(store: Store, world: World) -> None:
    made = await world.receive("once")
    with pytest.raises(VersionConflict):
        await store.commit(made, expected_latest=made.after.id)
    assert await store.get_conversation(made.after.id) == made.after
    assert await store.messages(made.after.id) == [made.message]


async def test_latest_conversation_per_contact_and_touchpoint(store: Store, world: World) -> None:
    on_wa = (await world.receive("on the main number")).after
    on_wa2 = (await world.receive("on the second number", tp=WA2)).after
    other = (await world.receive("someone else", address="5511900000002")).after
    contact = on_wa.contact_id
    assert await store.latest_conversation(contact, WA.id) == on_wa
    assert await store.latest_conversation(contact, WA2.id) == on_wa2
    assert await store.latest_conversation(other.contact_id, WA.id) == other
    assert await store.latest_conversation(contact, FB.id) is None

    ended = (await world.end(on_wa.id, SOFIA)).after
    assert await store.latest_conversation(contact, WA.id) == ended, "an ended one is still the latest"
    newer = (await world.receive("a new conversation")).after
    assert newer.id != on_wa.id
    assert await store.latest_conversation(contact, WA.id) == newer

    await world.end(newer.id, SOFIA)
    outbound = (await world.start("5511900000001")).after
    assert await store.latest_conversation(contact, WA.id) == outbound


# --------------------------------------------------------------------------- commit: updating


async def test_an_update_is_stored(store: Store, world: World) -> None:
    made = (await world.receive("hello")).after
    claimed = await world.claim(made.id)
    assert claimed.after.version == made.version + 1
    assert await store.get_conversation(made.id) == claimed.after


async def test_stale_version_conflicts_and_writes_nothing(store: Store, world: World) -> None:
    conv = (await world.receive("hello")).after
    ana = rules.claim(conv, ANA)
    bruno = rules.claim(conv, BRUNO)
    await store.commit(ana)
    with pytest.raises(VersionConflict):
        await store.commit(bruno)
    assert await store.get_conversation(conv.id) == ana.after
    assert await store.assigned("bruno") == []


async def test_stale_message_note_and_delivery_write_nothing(store: Store, world: World) -> None:
    first = await world.receive("hello")
    conv = first.after
    claimed = (await world.claim(conv.id)).after
    sent = await world.send(conv.id, "Hi, how can I help?")
    assert sent.message is not None
    # Decided on the current version…
    reply = world.decide_send(sent.after, "a reply decided too late")
    note = rules.add_note(sent.after, ANA, "a note decided too late", note_id="n-late", now=world.tick())
    delivered = await world.decide_delivery(sent.message.id, "sent", channel_message_id="wamid.out.late")
    # …then the contact writes and the version moves on.
    newer = (await world.receive("are you there?")).after
    assert newer.version > claimed.version

    for stale in (reply, note, delivered):
        with pytest.raises(VersionConflict):
            await store.commit(stale)
    assert reply.message is not None
    assert await store.get_conversation(conv.id) == newer
    assert await store.get_message(reply.message.id) is None
    assert [m.seq for m in await store.messages(conv.id)] == [1, 2, 3]
    assert await store.notes(conv.id) == []
    assert await store.get_message(sent.message.id) == sent.message
    assert await store.message_by_channel_id("wamid.out.late") is None
    assert await store.pending_outbound() == [sent.message]


async def test_concurrent_updates_from_one_version_one_wins(store: Store, world: World) -> None:
    conv = (await world.receive("hello")).after
    ana, bruno = rules.claim(conv, ANA), rules.claim(conv, BRUNO)
    results = await commit_all(store, ana, bruno)

    assert sum(r is None for r in results) == 1, results
    assert sum(isinstance(r, VersionConflict) for r in results) == 1, results
    winner = ana if results[0] is None else bruno
    assert await store.get_conversation(conv.id) == winner.after
    assert ids(await store.assigned(winner.after.assignee_id or "")) == [conv.id]
    assert await store.inbox("sales") == []


async def test_updating_a_conversation_never_stored_conflicts(store: Store, world: World) -> None:
    ghost = (await world.decide_receive("never committed", latest=None)).after
    with pytest.raises(VersionConflict):
        await store.commit(rules.claim(ghost, ANA))
    assert await store.get_conversation(ghost.id) is None
    assert await store.assigned("ana") == []


async def test_updating_a_message_never_stored_conflicts(store: Store, world: World) -> None:
    conv = (await world.receive("hello")).after
    claimed = (await world.claim(conv.id)).after
    unsent = world.decide_send(claimed, "never committed")
    assert unsent.message is not None
    # The channel "reports" on it and closes the window: the conversation would lock.
    ghost = rules.delivery(claimed, unsent.message, "failed", error=("131047", "closed"), window_closed=True)
    assert ghost is not None and ghost.after.session_locked
    with pytest.raises(VersionConflict):
        await store.commit(ghost)
    assert await store.get_conversation(conv.id) == claimed
    assert await store.get_message(unsent.message.id) is None


# --------------------------------------------------------------------------- duplicates


async def test_repeated_channel_id_in_an_open_conversation_is_a_duplicate(store: Store, world: World) -> None:
    first = await world.receive("hello", channel_message_id="wamid.X")
    retry = await world.decide_receive("hello", channel_message_id="wamid.X")
    assert retry.before == first.after and retry.message is not None
    with pytest.raises(DuplicateMessage):
        await store.commit(retry)
    assert await store.get_conversation(first.after.id) == first.after
    assert await store.messages(first.after.id) == [first.message]
    assert await store.get_message(retry.message.id) is None
    assert await store.message_by_channel_id("wamid.X") == first.message


async def test_repeated_channel_id_after_end_creates_nothing(store: Store, world: World) -> None:
    first = await world.receive("hello", channel_message_id="wamid.X")
    ended = (await world.end(first.after.id, SOFIA)).after
    retry = await world.decide_receive("hello", channel_message_id="wamid.X")
    assert retry.before is None, "a message after End Chat starts a new conversation"
    with pytest.raises(DuplicateMessage):
        await store.commit(retry, expected_latest=ended.id)
    assert await store.get_conversation(retry.after.id) is None
    assert await store.latest_conversation(ended.contact_id, WA.id) == ended
    assert ids(await store.conversations_of_contact(ended.contact_id)) == [ended.id]
    assert await store.inbox("sales") == []


async def test_delivery_taking_a_stored_channel_id_is_a_duplicate(store: Store, world: World) -> None:
    conv = (await world.receive("hello", channel_message_id="wamid.in")).after
    await world.claim(conv.id)
    sent = await world.send(conv.id, "Hi!")
    assert sent.message is not None
    bad = await world.decide_delivery(sent.message.id, "sent", channel_message_id="wamid.in", window_closed=True)
    assert bad.after.session_locked
    with pytest.raises(DuplicateMessage):
        await store.commit(bad)
    assert await store.get_message(sent.message.id) == sent.message
    assert (await store.message_by_channel_id("wamid.in") or sent.message).direction == "in"
    assert await store.get_conversation(conv.id) == sent.after


# --------------------------------------------------------------------------- inbox and assigned


async def test_inbox_is_open_unassigned_of_the_queue_newest_activity_first(store: Store, world: World) -> None:
    c1 = (await world.receive("one", address="5511900000001")).after
    c2 = (await world.receive("two", address="5511900000002")).after
    fb = (await world.receive("messenger", address="psid-3", tp=FB)).after
    c3 = (await world.receive("three", address="5511900000003")).after
    assert ids(await store.inbox("sales")) == [c3.id, c2.id, c1.id]
    assert await store.inbox("support") == [fb]

    c1 = (await world.receive("one again", address="5511900000001")).after
    assert await store.inbox("sales") == [c1, c3, c2], "new activity moves it to the top, with its new values"


async def test_claim_moves_to_assigned_and_send_to_inbox_moves_back(store: Store, world: World) -> None:
    c1 = (await world.receive("one", address="5511900000001")).after
    c2 = (await world.receive("two", address="5511900000002")).after
    claimed = (await world.claim(c1.id)).after
    assert await store.inbox("sales") == [c2]
    assert await store.assigned("ana") == [claimed]
    assert await store.assigned("bruno") == []

    back = (await world.to_inbox(c1.id)).after
    assert await store.assigned("ana") == []
    assert ids(await store.inbox("sales")) == [c2.id, c1.id]
    assert (await store.inbox("sales"))[1] == back

    reassigned = (await world.change(c2.id, lambda c: rules.assign(c, SOFIA, BRUNO))).after
    assert await store.assigned("bruno") == [reassigned]
    assert ids(await store.inbox("sales")) == [c1.id]


async def test_assigned_many_is_assigned_for_each_agent(store: Store, world: World) -> None:
    c1 = (await world.receive("one", address="5511900000001")).after
    c2 = (await world.receive("two", address="5511900000002")).after
    c3 = (await world.receive("three", address="5511900000003")).after
    assert await store.assigned_many(["ana", "bruno"]) == {"ana": [], "bruno": []}
    await world.claim(c1.id)
    await world.claim(c3.id)
    await world.change(c2.id, lambda c: rules.assign(c, SOFIA, BRUNO))
    many = await store.assigned_many(["ana", "bruno", "nobody"])
    assert many == {"ana": await store.assigned("ana"), "bruno": await store.assigned("bruno"), "nobody": []}
    assert ids(many["ana"]) == [c3.id, c1.id]
    await world.change(c3.id, lambda c: rules.assign(c, SOFIA, BRUNO))  # moved: listed once, under its new holder
    await world.to_inbox(c1.id)
    assert {a: ids(cs) for a, cs in (await store.assigned_many(["ana", "bruno"])).items()} == {
        "ana": [],
        "bruno": ids(await store.assigned("bruno")),
    }
    assert sorted(ids(await store.assigned("bruno"))) == sorted([c2.id, c3.id])
    assert await store.assigned_many([]) == {}


async def test_assigned_is_newest_activity_first(store: Store, world: World) -> None:
    convs = [(await world.receive(f"hi {n}", address=f"551190000000{n}")).after for n in (1, 2, 3)]
    for conv in reversed(convs):  # claiming is not activity: the order stays by last message
        await world.claim(conv.id)
    c1, c2, c3 = (c.id for c in convs)
    assert ids(await store.assigned("ana")) == [c3, c2, c1]

    await world.send(c1, "an answer counts as activity")
    assert ids(await store.assigned("ana")) == [c1, c3, c2]
    await world.receive("and so does the contact writing", address="5511900000002")
    assert ids(await store.assigned("ana")) == [c2, c1, c3]
    assert await store.assigned("ana") == [await world.conv(c) for c in (c2, c1, c3)]


async def test_ended_conversations_leave_inbox_and_assigned(store: Store, world: World) -> None:
    mine = (await world.receive("mine", address="5511900000001")).after
    waiting = (await world.receive("waiting", address="5511900000002")).after
    await world.claim(mine.id)
    await world.end(mine.id)
    await world.end(waiting.id, SOFIA)  # a supervisor may end one straight from the inbox
    assert await store.assigned("ana") == []
    assert await store.inbox("sales") == []

    fresh = (await world.receive("mine again", address="5511900000001")).after
    assert fresh.id != mine.id
    assert await store.inbox("sales") == [fresh]


async def test_inbox_pages_oldest_activity_first_after_a_cursor(store: Store, world: World) -> None:
    convs = [(await world.receive(f"hi {n}", address=f"55119000000{n:02}")).after for n in range(7)]
    await world.receive("support", address="psid-9", tp=FB)  # another queue: never in this one's pages
    key = [(c.last_message_at or c.created_at, c.id) for c in convs]
    first = await store.inbox_page("sales", None, 3)
    assert ids(first) == [c.id for c in convs[:3]]
    second = await store.inbox_page("sales", key[2], 3)
    assert ids(second) == [c.id for c in convs[3:6]]
    assert ids(await store.inbox_page("sales", key[5], 3)) == [convs[6].id]
    assert await store.inbox_page("sales", key[6], 3) == []
    assert await store.inbox_counts("sales") == (7, key[0][0])
    assert await store.inbox_counts("nobody") == (0, None)

    # New activity moves a conversation to the end; a claim takes it out.
    moved = (await world.receive("again", address="5511900000000")).after
    await world.claim(convs[1].id)
    assert ids(await store.inbox_page("sales", None, 10)) == [*(c.id for c in convs[2:]), moved.id]
    assert await store.inbox_counts("sales") == (6, key[2][0])
    assert await store.inbox_page("sales", None, 10) == [await world.conv(c) for c in [*ids(convs[2:]), moved.id]]


# --------------------------------------------------------------------------- commit_many


async def test_commit_many_stores_each_and_refuses_only_the_stale(store: Store, world: World) -> None:
    convs = [(await world.receive("hi", address=a)).after for a in ("5511900000001", "5511900000002", "5511900000003")]
    await world.claim(convs[0].id)
    world.now += 8 * 3_600_000
    stale = rules.expire(convs[0], POLICIES["whatsapp"], world.now, message_id=world.new_id("m", of=convs[0]))  # decided on the version before the claim
    fresh = [rules.expire(await world.conv(c.id), POLICIES["whatsapp"], world.now, message_id=world.new_id("m", of=c)) for c in convs[1:]]
    assert stale is not None and all(o is not None for o in fresh)
    results = await store.commit_many([fresh[0], stale, fresh[1]])  # type: ignore[list-item]
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], VersionConflict)
    assert [(await world.conv(c.id)).session_locked for c in convs] == [False, True, True]
    assert ids(await store.unlocked_open()) == [convs[0].id]
    assert await store.commit_many([]) == []


async def test_commit_many_over_several_chunks_answers_each_in_order(store: Store, world: World) -> None:
    """More than a chunk's worth (Redis: ``IN_FLIGHT`` scripts per pipeline):
    each outcome answered in its place, a stale one in a later chunk refused
    alone, every other stored."""
    addresses = [f"55119{n:08d}" for n in range(75)]
    convs = [(await world.receive("hi", address=a)).after for a in addresses]
    await world.claim(convs[50].id)
    world.now += 8 * 3_600_000
    outcomes = [rules.expire(c, POLICIES["whatsapp"], world.now, message_id=world.new_id("m", of=c)) for c in convs]
    assert all(o is not None for o in outcomes)
    results = await store.commit_many(outcomes)  # type: ignore[arg-type]
    assert [i for i, r in enumerate(results) if r is not None] == [50]
    assert isinstance(results[50], VersionConflict)
    locked = await store.get_conversations([c.id for c in convs])
    assert [locked[c.id].session_locked for c in convs] == [n != 50 for n in range(75)]


# --------------------------------------------------------------------------- reads of many


async def test_get_conversations_and_contacts_read_many_at_once(store: Store, world: World) -> None:
    convs = [(await world.receive("hi", address=f"55119000000{n:02d}")).after for n in range(3)]
    await world.claim(convs[1].id)
    wanted = [convs[2].id, "c_missing", convs[0].id, convs[1].id, convs[2].id]
    assert await store.get_conversations(wanted) == {c.id: await world.conv(c.id) for c in convs}
    assert await store.get_conversations([]) == {}
    contacts = await store.get_contacts([c.contact_id for c in convs] + ["whatsapp:000"])
    assert contacts == {c.contact_id: await store.get_contact(c.contact_id) for c in convs}
    assert all(contacts.values())


# --------------------------------------------------------------------------- lock / unlock timeline entries


def _thread(messages: list[object]) -> list[tuple[int, str, str | None]]:
    return [(m.seq, m.kind, m.meta.get("event")) for m in messages]  # type: ignore[attr-defined]


async def test_a_lock_and_an_unlock_store_their_timeline_entries_with_them(store: Store, world: World) -> None:
    conv = (await world.receive("hi")).after
    locked = await world.expire(conv.id)
    assert locked.message is not None
    assert await store.get_message(locked.message.id) == locked.message
    assert _thread(await store.messages(conv.id)) == [(1, "text", None), (2, "timeline", "locked")]
    renewed = await world.receive("back again")
    assert renewed.entry is not None and renewed.message is not None and not renewed.after.session_locked
    assert await store.get_message(renewed.entry.id) == renewed.entry
    assert await store.get_message(renewed.message.id) == renewed.message
    assert _thread(await store.messages(conv.id)) == [
        (1, "text", None), (2, "timeline", "locked"), (3, "timeline", "unlocked"), (4, "text", None),
    ]
    assert (await world.conv(conv.id)).message_count == 4


async def test_a_refused_unlock_leaves_neither_its_entry_nor_its_message(store: Store, world: World) -> None:
    """The entry and the message are one commit: whatever refuses one
    (here the contact's message is a repeat Meta retried) stores neither."""
    conv = (await world.receive("hi", channel_message_id="wamid.first")).after
    locked = (await world.expire(conv.id)).after
    retry = await world.decide_receive("hi", latest=locked, channel_message_id="wamid.first")
    assert retry.entry is not None
    with pytest.raises(DuplicateMessage):
        await store.commit(retry)
    assert await store.get_message(retry.entry.id) is None
    assert _thread(await store.messages(conv.id)) == [(1, "text", None), (2, "timeline", "locked")]
    assert await world.conv(conv.id) == locked
    stale = await world.decide_receive("again", latest=locked)
    await world.receive("meanwhile")  # the window reopened by another message first
    with pytest.raises(VersionConflict):
        await store.commit(stale)
    assert await store.get_message(stale.entry.id) is None  # type: ignore[union-attr]


async def test_a_lock_refused_in_a_batch_leaves_no_entry(store: Store, world: World) -> None:
    convs = [(await world.receive("hi", address=a)).after for a in ("5511900000001", "5511900000002")]
    await world.claim(convs[0].id)
    world.now += 8 * 3_600_000
    stale, fresh = (
        rules.expire(c, POLICIES["whatsapp"], world.now, message_id=world.new_id("m", of=c)) for c in convs
    )
    assert stale is not None and fresh is not None and stale.message is not None and fresh.message is not None
    results = await store.commit_many([stale, fresh])
    assert isinstance(results[0], VersionConflict) and results[1] is None
    assert await store.get_message(stale.message.id) is None
    assert await store.get_message(fresh.message.id) == fresh.message


# --------------------------------------------------------------------------- the agents' counters


async def recount(store: Store, agent_id: str) -> Totals:
    mine = await store.assigned(agent_id)
    return Totals(len(mine), sum(c.unread for c in mine))


async def test_agent_totals_follow_claims_messages_reads_and_ends(store: Store, world: World) -> None:
    assert await store.agent_totals("ana") == Totals(0, 0)
    c1 = (await world.receive("one", address="5511900000001")).after
    c2 = (await world.receive("two", address="5511900000002")).after
    await world.receive("two again", address="5511900000002")
    assert await store.agent_totals("ana") == Totals(0, 0), "the inbox is nobody's"
    await world.claim(c1.id)
    await world.claim(c2.id)
    assert await store.agent_totals("ana") == Totals(2, 3)
    await world.receive("more", address="5511900000001")
    assert await store.agent_totals("ana") == Totals(2, 4)
    await world.change(c2.id, lambda c: rules.read(c, ANA))
    assert await store.agent_totals("ana") == Totals(1 + 1, 2)
    await world.change(c1.id, lambda c: rules.assign(c, SOFIA, BRUNO))
    assert (await store.agent_totals("ana"), await store.agent_totals("bruno")) == (Totals(1, 0), Totals(1, 2))
    await world.end(c1.id, BRUNO)
    await world.to_inbox(c2.id)
    assert (await store.agent_totals("ana"), await store.agent_totals("bruno")) == (Totals(0, 0), Totals(0, 0))


AGENTS = (ANA, BRUNO)
ADDRESSES = ("5511900000001", "5511900000002")
Op = tuple[str, int, int]
"""(what, which contact, which agent)"""

operations = st.lists(
    st.tuples(
        st.sampled_from(["receive", "receive", "claim", "assign", "to_inbox", "read", "send", "end", "expire"]),
        st.integers(0, len(ADDRESSES) - 1),
        st.integers(0, len(AGENTS) - 1),
    ),
    min_size=4,
    max_size=30,
)


def _decide(world: World, what: str, agent: Agent) -> Callable[[Conversation], rules.Outcome | None]:
    tps = {t.id: t for t in (WA, WA2, FB)}
    return {
        "claim": lambda c: rules.claim(c, agent),
        "assign": lambda c: rules.assign(c, SOFIA, agent),
        "to_inbox": lambda c: rules.send_to_inbox(c, agent, tps[c.touchpoint_id]),
        "read": lambda c: rules.read(c, agent),
        "send": lambda c: world.decide_send(c, "hi", agent),
        "end": lambda c: rules.end(c, agent, world.tick()),
        "expire": lambda c: rules.expire(c, POLICIES[c.channel], world.tick(2 * 3_600_000), message_id=world.new_id("m", of=c)),
    }[what]


async def _run_and_recount(kind: str, plan: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with STORES[kind](Path(tmp)) as store:
            world = World(store)
            for what, who, agent in plan:
                if what == "receive":
                    await world.receive("hello", address=ADDRESSES[who])
                else:
                    contact = await world.contact(ADDRESSES[who])
                    conv = await store.latest_conversation(contact.id, WA.id)
                    if conv is None:
                        continue
                    try:
                        outcome = _decide(world, what, AGENTS[agent])(conv)
                    except DomainError:
                        continue  # refused by the rules: nothing to store
                    if outcome is None or not rules.changes_something(outcome, conv):
                        continue
                    await store.commit(outcome)
                for a in AGENTS:
                    assert await store.agent_totals(a.id) == await recount(store, a.id), (what, a.id)


@pytest.mark.parametrize("kind", list(STORES))
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=operations)
@example(plan=[("receive", 0, 0), ("receive", 1, 0), ("claim", 0, 0), ("claim", 1, 0), ("receive", 0, 0)])
def test_agent_totals_equal_a_recount_after_any_sequence_of_changes(kind: str, plan: list[Op]) -> None:
    asyncio.run(_run_and_recount(kind, plan))


# --------------------------------------------------------------------------- contact history and timers


async def test_conversations_of_contact_newest_first(store: Store, world: World) -> None:
    c1 = (await world.receive("first")).after
    await world.claim(c1.id)
    await world.end(c1.id)
    wrapped = (await world.wrap_up(c1.id, "Sale", "bought the blue one")).after
    c2 = (await world.receive("second")).after
    c3 = (await world.receive("on the other number", tp=WA2)).after
    await world.receive("not theirs", address="5511900000002")

    assert await store.conversations_of_contact(c1.contact_id) == [c3, c2, wrapped]
    assert wrapped.wrap_up is not None and wrapped.wrap_up.disposition == "Sale"


async def test_unlocked_open_lists_the_windows_to_watch(store: Store, world: World) -> None:
    watched = (await world.receive("open window", address="5511900000001")).after
    expired = (await world.receive("will expire", address="5511900000002")).after
    ended = (await world.receive("will end", address="5511900000003")).after
    fb = (await world.receive("messenger", address="psid-4", tp=FB)).after
    assert {c.id for c in await store.unlocked_open()} == {watched.id, expired.id, ended.id, fb.id}

    locked = (await world.expire(expired.id)).after
    assert locked.session_locked
    await world.end(ended.id, SOFIA)
    outbound = (await world.start("5511900000005")).after
    assert outbound.session_locked, "no inbound yet: only a template may go out"
    assert {c.id for c in await store.unlocked_open()} == {watched.id, fb.id}

    renewed = (await world.receive("I'm back", address="5511900000002")).after
    assert not renewed.session_locked
    unlocked = {c.id: c for c in await store.unlocked_open()}
    assert set(unlocked) == {watched.id, fb.id, expired.id}
    assert unlocked[expired.id] == renewed


# --------------------------------------------------------------------------- messages


async def test_messages_page_backwards_in_ascending_order(store: Store, world: World) -> None:
    conv = (await world.receive("m1")).after
    await world.claim(conv.id)
    thread = [(await store.messages(conv.id))[0]]
    for n in range(2, 8):
        made = await (world.send(conv.id, f"m{n}") if n % 2 else world.receive(f"m{n}"))
        assert made.message is not None
        thread.append(made.message)
    other = await world.receive("elsewhere", address="5511900000002")

    assert [m.seq for m in thread] == [1, 2, 3, 4, 5, 6, 7]
    assert await store.messages(conv.id) == thread
    assert await store.messages(conv.id, limit=3) == thread[4:]
    assert await store.messages(conv.id, before=5, limit=3) == thread[1:4]
    assert await store.messages(conv.id, before=2, limit=3) == thread[:1]
    assert await store.messages(conv.id, before=1) == []
    assert await store.messages(conv.id, before=100, limit=50) == thread
    assert await store.messages(conv.id, limit=0) == []
    assert await store.messages(other.after.id) == [other.message]


async def test_get_message_and_by_channel_id(store: Store, world: World) -> None:
    inbound = await world.receive("hello", channel_message_id="wamid.A")
    await world.claim(inbound.after.id)
    outbound = await world.send(inbound.after.id, "hi")
    assert inbound.message is not None and outbound.message is not None
    assert await store.get_message(inbound.message.id) == inbound.message
    assert await store.get_message(outbound.message.id) == outbound.message
    assert await store.message_by_channel_id("wamid.A") == inbound.message
    assert await store.message_by_channel_id("wamid.B") is None


async def test_delivery_updates_are_stored(store: Store, world: World) -> None:
    conv = (await world.receive("hello")).after
    await world.claim(conv.id)
    first = await world.send(conv.id, "first")
    second = await world.send(conv.id, "second")
    assert first.message is not None and second.message is not None

    sent = await world.deliver(first.message.id, "sent", channel_message_id="wamid.out.1")
    assert sent.updated_message is not None and sent.updated_message.status == "sent"
    assert await store.get_message(first.message.id) == sent.updated_message
    assert await store.message_by_channel_id("wamid.out.1") == sent.updated_message
    read = await world.deliver(first.message.id, "read")
    assert read.updated_message is not None
    assert (await store.get_message(first.message.id)) == read.updated_message
    page = await store.messages(conv.id)
    assert [m.seq for m in page] == [1, 2, 3]
    assert page[1] == read.updated_message and page[1].status == "read"

    failed = await world.deliver(
        second.message.id, "failed", error=("131047", "Re-engagement message"), window_closed=True
    )
    stored = await store.get_message(second.message.id)
    assert stored is not None and stored.status == "failed"
    assert (stored.error_code, stored.error_message) == ("131047", "Re-engagement message")
    assert (await store.messages(conv.id))[2] == stored
    assert await store.get_conversation(conv.id) == failed.after and failed.after.session_locked


async def test_pending_outbound_is_oldest_first_until_the_channel_accepts(store: Store, world: World) -> None:
    a = (await world.receive("a", address="5511900000001")).after
    b = (await world.receive("b", address="5511900000002")).after
    await world.claim(a.id)
    await world.claim(b.id)
    m1 = (await world.send(a.id, "to a")).message
    m2 = (await world.send(b.id, "to b")).message
    m3 = (await world.send(a.id, "to a again")).message
    m4 = (await world.start("5511900000003")).message
    assert m1 and m2 and m3 and m4
    assert await store.pending_outbound() == [m1, m2, m3, m4], "inbound messages are never pending"

    await world.deliver(m1.id, "sent", channel_message_id="wamid.out.1")
    assert await store.pending_outbound() == [m2, m3, m4]
    await world.deliver(m2.id, "failed", error=("500", "channel down"))
    assert await store.pending_outbound() == [m3, m4]
    await world.deliver(m4.id, "delivered")
    assert await store.pending_outbound() == [m3]


# --------------------------------------------------------------------------- idempotency keys


def keyed(outcome: rules.Outcome, key: str, *, agent: Agent = ANA, ttl_ms: int = 60_000) -> rules.Outcome:
    assert outcome.message is not None
    request = SentRequest(agent_id=agent.id, key=key, message_id=outcome.message.id, at=outcome.message.at, ttl_ms=ttl_ms)
    return replace(outcome, request=request)


async def test_a_send_key_is_stored_with_its_message_and_refuses_a_repeat(store: Store, world: World) -> None:
    conv = (await world.receive("hello")).after
    await world.claim(conv.id)
    first = keyed(world.decide_send(await world.conv(conv.id), "once"), "k-1")
    await store.commit(first)
    assert first.message is not None
    now = world.tick(0)
    assert await store.sent_request(conv.contact_id, conv.touchpoint_id, ANA.id, "k-1", now) == first.message.id

    stored = await world.conv(conv.id)
    with pytest.raises(DuplicateRequest) as refused:
        await store.commit(keyed(world.decide_send(stored, "once"), "k-1"))
    assert refused.value.message_id == first.message.id
    assert await world.conv(conv.id) == stored, "nothing of the repeat is written"
    assert [m.text for m in await store.messages(conv.id) if m.direction == "out"] == ["once"]

    # Another key, or the same key of another agent or thread, is another send.
    await store.commit(keyed(world.decide_send(stored, "twice"), "k-2"))
    assert await store.sent_request(conv.contact_id, conv.touchpoint_id, BRUNO.id, "k-1", now) is None
    assert await store.sent_request(conv.contact_id, conv.touchpoint_id, ANA.id, "k-3", now) is None
    other = (await world.receive("hi", address="5511900000002")).after
    assert await store.sent_request(other.contact_id, other.touchpoint_id, ANA.id, "k-1", now) is None


async def test_a_start_key_holds_across_the_conversations_of_the_thread(store: Store, world: World) -> None:
    contact = await world.contact("5511900000009")

    async def start(key: str) -> rules.Outcome:
        latest = await store.latest_conversation(contact.id, WA.id)
        outcome = rules.start(
            latest, new_conversation_id=world.new_id("c", of=(contact, WA)), message_id=world.new_id("m", of=(contact, WA)),
            actor=ANA, touchpoint=WA, contact=contact, policy=POLICIES["whatsapp"], now=world.tick(),
            template=HELLO, params=["Maria"],
        )
        await store.commit(keyed(outcome, key), expected_latest=latest.id if latest else None)
        return outcome

    first = await start("s-1")
    await world.end(first.after.id)
    with pytest.raises(DuplicateRequest) as refused:
        await start("s-1")
    assert first.message is not None and refused.value.message_id == first.message.id
    assert await store.latest_conversation(contact.id, WA.id) == await world.conv(first.after.id)
    assert (await start("s-2")).after.id != first.after.id


async def test_a_send_key_expires_after_its_ttl(store: Store, world: World) -> None:
    conv = (await world.receive("hello")).after
    await world.claim(conv.id)
    first = keyed(world.decide_send(await world.conv(conv.id), "once"), "k-1", ttl_ms=200)
    await store.commit(first)
    assert first.message is not None and first.request is not None
    expiry = first.request.expires_at
    assert await store.sent_request(conv.contact_id, conv.touchpoint_id, ANA.id, "k-1", expiry - 1) == first.message.id
    # Redis expires by its own clock (PX): wait for it there; the others take ``now``.
    deadline = asyncio.get_running_loop().time() + 5
    while await store.sent_request(conv.contact_id, conv.touchpoint_id, ANA.id, "k-1", expiry) is not None:
        assert asyncio.get_running_loop().time() < deadline, "the key never expired"
        await asyncio.sleep(0.05)
    world.tick(200)
    again = keyed(world.decide_send(await world.conv(conv.id), "once more"), "k-1")
    assert again.request is not None and again.request.at >= expiry
    await store.commit(again)
    assert [m.text for m in await store.messages(conv.id) if m.direction == "out"] == ["once", "once more"]


# --------------------------------------------------------------------------- notes and wrap-up


async def test_notes_in_the_order_written(store: Store, world: World) -> None:
    conv = (await world.receive("hello")).after
    other = (await world.receive("someone else", address="5511900000002")).after
    await world.claim(conv.id)
    await world.claim(other.id)
    # Written within one millisecond, with ids that do not sort in writing
    # order (the service's ids are a timestamp plus random hex).
    written = [
        (await world.note(conv.id, "VIP customer", note_id="n_0001f3")).note,
        (await world.note(conv.id, "asked for a refund", note_id="n_0001a0")).note,
    ]
    await world.note(other.id, "not this thread")
    world.tick()
    await world.end(conv.id)
    written.append((await world.note(conv.id, "after End Chat, while wrapping up", note_id="n_0000ff")).note)

    assert await store.notes(conv.id) == written
    assert [n.text for n in await store.notes(other.id)] == ["not this thread"]


async def test_a_note_leaves_the_conversation_as_it_was(store: Store, world: World) -> None:
    conv = (await world.receive("hello")).after
    claimed = (await world.claim(conv.id)).after
    noted = await world.note(conv.id, "note")
    assert noted.after == claimed
    assert await store.get_conversation(conv.id) == claimed


async def test_wrap_up_is_stored_with_the_conversation(store: Store, world: World) -> None:
    conv = (await world.receive("hello")).after
    await world.claim(conv.id)
    await world.end(conv.id)
    first = (await world.wrap_up(conv.id, "Spam", "")).after
    corrected = (await world.wrap_up(conv.id, "Resolved", "refund sent")).after
    stored = await store.get_conversation(conv.id)
    assert stored == corrected and stored.wrap_up is not None
    assert (stored.wrap_up.disposition, stored.wrap_up.note) == ("Resolved", "refund sent")
    assert corrected.version == first.version + 1


async def test_to_wrap_up_lists_ended_whatsapp_conversations_until_wrapped_up(store: Store, world: World) -> None:
    first = (await world.receive("one", address="5511900000001")).after
    second = (await world.receive("two", address="5511900000002")).after
    messenger = (await world.receive("three", tp=FB, address="psid-3")).after
    for conv in (first, second):
        await world.claim(conv.id)
    await world.claim(messenger.id, BRUNO)
    assert await store.to_wrap_up("ana") == []  # open: nothing owed yet
    await world.end(second.id)
    await world.end(first.id)
    await world.end(messenger.id, BRUNO)  # Messenger has no wrap-up phase
    assert await store.to_wrap_up("ana") == [await world.conv(c) for c in (second.id, first.id)]  # ended first first
    assert await store.to_wrap_up("bruno") == []
    await world.wrap_up(second.id, "Resolved", "")
    assert ids(await store.to_wrap_up("ana")) == [first.id]
    await world.wrap_up(second.id, "Sale", "corrected")  # a correction does not bring it back
    assert ids(await store.to_wrap_up("ana")) == [first.id]


# --------------------------------------------------------------------------- durability


@pytest.mark.parametrize("kind", sorted(DURABLE))
async def test_everything_survives_close_and_reopen(kind: str, tmp_path: Path) -> None:
    async with STORES[kind](tmp_path) as store:
        world = World(store)
        await world.contact("5511900000001", name="João Conceição")
        first = await world.receive("olá", channel_message_id="wamid.keep")
        conv = first.after
        await world.claim(conv.id)
        sent = await world.send(conv.id, "oi!")
        assert sent.message is not None
        await world.deliver(sent.message.id, "sent", channel_message_id="wamid.out.keep")
        pending = await world.send(conv.id, "still pending")
        await world.note(conv.id, "VIP")
        ended = (await world.receive("bye", address="5511900000002")).after
        await world.end(ended.id, SOFIA)
        await world.wrap_up(ended.id, "Resolved", "", SOFIA)
        watched = (await world.receive("watch me", address="5511900000003")).after
        stale = rules.claim(watched, BRUNO)
        await world.claim(watched.id)
        before = await read_everything(store, [conv.id, ended.id, watched.id])

    async with STORES[kind](tmp_path) as reopened:
        assert await read_everything(reopened, [conv.id, ended.id, watched.id]) == before
        assert await reopened.pending_outbound() == [pending.message]
        assert before["latest"][0] is not None and before["latest"][0].id == conv.id
        # The guarantees hold on the reopened data too.
        with pytest.raises(VersionConflict):
            await reopened.commit(stale)
        retry = await World(reopened, first_serial=1000).decide_receive("olá", channel_message_id="wamid.keep")
        assert retry.message is not None and first.message is not None and retry.message.id != first.message.id
        with pytest.raises(DuplicateMessage):
            await reopened.commit(retry)


async def test_a_sqlite_file_from_before_the_counters_gets_them_counted(tmp_path: Path) -> None:
    import sqlite3

    from server.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "s.sqlite3")
    world = World(store)
    c1 = (await world.receive("one", address="5511900000001")).after
    c2 = (await world.receive("two", address="5511900000002")).after
    await world.claim(c1.id)
    await world.claim(c2.id, BRUNO)
    await world.receive("again", address="5511900000002")
    await store.close()
    old = sqlite3.connect(tmp_path / "s.sqlite3")
    old.execute("DROP TABLE agent_totals")  # as written by a version without counters
    old.close()

    reopened = SqliteStore(tmp_path / "s.sqlite3")
    try:
        assert await reopened.agent_totals("ana") == Totals(1, 1)
        assert await reopened.agent_totals("bruno") == Totals(1, 2)
    finally:
        await reopened.close()


async def test_a_sqlite_file_from_before_the_wrap_up_list_gets_it_filled(tmp_path: Path) -> None:
    import sqlite3

    from server.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "s.sqlite3")
    world = World(store)
    owed = (await world.receive("one", address="5511900000001")).after
    done = (await world.receive("two", address="5511900000002")).after
    for conv in (owed, done):
        await world.claim(conv.id)
        await world.end(conv.id)
    await world.wrap_up(done.id)
    await store.close()
    old = sqlite3.connect(tmp_path / "s.sqlite3")
    old.execute("DROP TABLE to_wrap_up")  # as written by a version without the list
    old.close()

    reopened = SqliteStore(tmp_path / "s.sqlite3")
    try:
        assert ids(await reopened.to_wrap_up("ana")) == [owed.id]
    finally:
        await reopened.close()


async def read_everything(store: Store, conv_ids: list[str]) -> dict[str, object]:
    contact = contact_id("whatsapp", "5511900000001")
    return {
        "contacts": await store.list_contacts(),
        "conversations": [await store.get_conversation(c) for c in conv_ids],
        "messages": [await store.messages(c) for c in conv_ids],
        "notes": [await store.notes(c) for c in conv_ids],
        "latest": [await store.latest_conversation(contact, WA.id)],
        "history": await store.conversations_of_contact(contact),
        "inbox": await store.inbox("sales"),
        "assigned": await store.assigned("ana"),
        "to_wrap_up": await store.to_wrap_up("ana"),
        "totals": [await store.agent_totals(a) for a in ("ana", "bruno", "sofia")],
        "unlocked": sorted(await store.unlocked_open(), key=lambda c: c.id),
        "pending": await store.pending_outbound(),
        "by_channel_id": [await store.message_by_channel_id(x) for x in ("wamid.keep", "wamid.out.keep")],
    }


# --------------------------------------------------------------------------- token revocations


async def test_revocations_are_recorded_and_keep_the_larger_value(store: Store) -> None:
    assert await store.revocations(["token:a", "agent:ana"]) == {}
    await store.revoke("token:a", 100)
    await store.revoke("agent:ana", 50)
    await store.revoke("agent:ana", 40)  # an older revocation never narrows a newer one
    assert await store.revocations(["token:a", "token:b", "agent:ana"]) == {"token:a": 100, "agent:ana": 50}
    await store.revoke("agent:ana", 60)
    assert await store.revocations(["agent:ana"]) == {"agent:ana": 60}
    assert await store.revocations([]) == {}
