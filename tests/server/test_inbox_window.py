"""The Inbox as counts plus a window (issue 18), held together through real
sockets: a snapshot that does not grow with the Inbox, pages by cursor with
filters answered by the server, counts kept right live, a resync that reloads
the window."""

from __future__ import annotations

import asyncio

from protocol import errors
from protocol import messages as p
from server.app.reads import INBOX_WINDOW
from server.core.model import Agent
from tests.conftest import Running, token
from tests.wsagent import CommandError, WsAgent

N = INBOX_WINDOW + 30  # more than a snapshot's window


def order(rows: list[p.ConversationSummary]) -> list[tuple[int, str]]:
    return [(r.last_message_at or r.created_at, r.id) for r in rows]


async def fill(running: Running) -> list[str]:
    made = []
    for n in range(N):
        made.append((await running.inbound(f"hi {n}", address=f"5511900{n:06}"))["conversation_id"])
    await running.inbound("support", address="psid-77", touchpoint="fb")
    return made


async def all_pages(agent: WsAgent, **filters: object) -> list[p.ConversationSummary]:
    rows: list[p.ConversationSummary] = []
    cursor = None
    while True:
        page = await agent.call(p.InboxPage, cursor=cursor, limit=25, **filters)
        rows.extend(page.conversations)
        cursor = page.cursor
        if cursor is None:
            return rows


async def test_snapshot_is_counts_and_a_window_and_pages_continue_it(running: Running) -> None:
    made = await fill(running)
    ana = await running.agent("ana")
    snap = ana.snapshot
    assert snap is not None
    assert len(snap.inbox) == INBOX_WINDOW and snap.inbox_cursor is not None
    assert order(snap.inbox) == sorted(order(snap.inbox)), "oldest waiting first"
    [sales] = snap.inbox_counts
    assert (sales.queue_id, sales.inbox) == ("sales", N)
    assert sales.oldest_at == order(snap.inbox)[0][0]

    rest = await ana.call(p.InboxPage, cursor=snap.inbox_cursor, limit=500)
    assert rest.cursor is None
    assert {r.id for r in snap.inbox} | {r.id for r in rest.conversations} == set(made)
    assert order(snap.inbox + rest.conversations) == sorted(order(snap.inbox + rest.conversations))

    bruno = await running.agent("bruno")  # sales + support: the two queues merged in order
    assert bruno.snapshot is not None
    assert sorted((c.queue_id, c.inbox) for c in bruno.snapshot.inbox_counts) == [("sales", N), ("support", 1)]
    everything = await all_pages(bruno)
    assert len(everything) == N + 1 and order(everything) == sorted(order(everything))

    # The REST endpoint pages the same way.
    headers = {"Authorization": f"Bearer {token('ana')}"}
    r = await running.http.get(f"{running.base}/api/queues/sales/inbox?limit=100", headers=headers)
    assert [c["id"] for c in r.json()] == [c.id for c in snap.inbox]
    r2 = await running.http.get(
        f"{running.base}/api/queues/sales/inbox", params={"cursor": r.headers["X-Next-Cursor"]}, headers=headers
    )
    assert [c["id"] for c in r2.json()] == [c.id for c in rest.conversations]
    assert "X-Next-Cursor" not in r2.headers

    with_bad = await running.http.get(f"{running.base}/api/queues/sales/inbox?cursor=nope", headers=headers)
    assert with_bad.status_code == 400 and with_bad.json()["code"] == errors.INVALID_ARGUMENT
    try:
        await ana.call(p.InboxPage, cursor="not-ours")
        raise AssertionError("a made-up cursor was accepted")
    except CommandError as e:
        assert e.code == errors.INVALID_ARGUMENT
    try:
        await ana.call(p.InboxPage, queue_id="support")  # not hers
        raise AssertionError("a queue she does not see was paged")
    except CommandError as e:
        assert e.code == errors.NOT_FOUND


async def test_claim_from_page_3_and_counts_right_on_two_screens(running: Running) -> None:
    await fill(running)
    ana = await running.agent("ana")
    bruno1 = await running.agent("bruno")
    bruno2 = await running.agent("bruno")
    first = await ana.call(p.InboxPage, limit=20)
    second = await ana.call(p.InboxPage, cursor=first.cursor, limit=20)
    third = await ana.call(p.InboxPage, cursor=second.cursor, limit=20)
    target = third.conversations[5].id
    other = third.conversations[6].id

    # Two claims at once from two agents: every screen ends with the right count.
    await asyncio.gather(
        ana.call(p.Claim, conversation_id=target), bruno1.call(p.Claim, conversation_id=other)
    )
    for screen in (ana, bruno1, bruno2):
        removed = [
            await screen.event(p.InboxRemoved, lambda e, c=c: e.conversation_id == c) for c in (target, other)
        ]
        assert all(r.counts is not None and r.counts.queue_id == "sales" for r in removed)
        assert min(r.counts.inbox for r in removed if r.counts) == N - 2  # the later of the two: the count now
    # A new conversation: counts on the added event.
    made = (await running.inbound("late", address="5511999999999"))["conversation_id"]
    for screen in (ana, bruno1, bruno2):
        added = await screen.event(p.InboxAdded, lambda e: e.conversation.id == made)
        assert added.counts == p.QueueCounts(queue_id="sales", inbox=N - 1, oldest_at=added.counts.oldest_at)
    # The claimed ones are gone from the pages; the window re-read agrees with the counts.
    rows = await all_pages(ana)
    assert target not in {r.id for r in rows} and other not in {r.id for r in rows}
    assert len(rows) == N - 1


async def test_filters_and_a_resync_with_a_filter_on(running: Running) -> None:
    made = await fill(running)
    bruno = await running.agent("bruno")
    by_number = await all_pages(bruno, query="551190000012")  # +55 11 900000120…129
    assert sorted(r.contact.address for r in by_number) == [f"+5511900000{n}" for n in range(120, 130)]
    messenger = await all_pages(bruno, channel="messenger")
    assert [r.channel for r in messenger] == ["messenger"]
    only_sales = await all_pages(bruno, queue_id="sales", channel="messenger")
    assert only_sales == []

    # Claim one of the filtered rows elsewhere, then bruno's resume fails
    # (an epoch the node never had): resync, a fresh snapshot, the same filter
    # reloads a window without it.
    ana = await running.agent("ana")
    await ana.call(p.Claim, conversation_id=by_number[0].id)
    stale = p.Resume(epoch="not-this-node", streams=dict(bruno.positions))
    await bruno.close()
    again = await WsAgent.connect(running.ws_url, token("bruno"), resume=stale, name="bruno")
    running.agents.append(again)
    assert again.snapshot is not None and len(again.snapshot.inbox) == INBOX_WINDOW
    assert next(c.inbox for c in again.snapshot.inbox_counts if c.queue_id == "sales") == N - 1
    reloaded = await all_pages(again, query="551190000012")
    assert [r.id for r in reloaded] == [r.id for r in by_number[1:]]
    assert by_number[0].id in made


async def test_snapshots_at_once_are_bounded_and_served_in_arrival_order(running: Running) -> None:
    reads = running.node.app.reads
    reads.snapshot_slots = asyncio.Semaphore(2)
    building = 0
    most = 0
    served: list[int] = []
    build = reads._snapshot

    async def counted(agent: Agent) -> p.Snapshot:
        nonlocal building, most
        building += 1
        most = max(most, building)
        await asyncio.sleep(0)  # a build that yields: without the bound all 20 would overlap
        try:
            return await build(agent)
        finally:
            building -= 1

    reads._snapshot = counted  # type: ignore[method-assign]
    ana = reads.catalog.agent("ana")

    async def one(n: int) -> None:
        await reads.snapshot(ana)
        served.append(n)

    await asyncio.gather(*(one(n) for n in range(20)))
    assert most == 2
    assert served == list(range(20))
