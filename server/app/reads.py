"""What an agent reads: the snapshot, a thread, older pages, search, the
contact card, a queue's inbox. Every read of a conversation goes through the
core's access rule (``require_view``); nothing here changes state."""

from __future__ import annotations

import asyncio
import heapq
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from protocol import errors
from protocol import messages as p
from server.app.canned import CannedResponses
from server.app.catalog import Catalog
from server.app.directory import Directory
from server.app.routing import Router
from server.app.sharedparts import EncodedViews, raw
from server.broker import Broker
from server.core import conversation as rules
from server.core import fanout, text, views
from server.core.errors import DomainError
from server.core.model import Agent, Conversation
from server.store.base import Store

MAX_PAGE = 200
INBOX_WINDOW = 100
"""Conversations of the Inbox in a snapshot (the oldest waiting), and an
``inbox_page``'s default."""
MAX_INBOX_PAGE = 500
SCAN_LIMIT = 2000
"""Conversations one filtered ``inbox_page`` looks at, at most: a search
through a huge Inbox answers in bounded steps, each with a cursor."""
MIN_QUEUE_PAGE = 4
"""Rows a merged Inbox window first reads from each queue (then twice as many each time)."""
WINDOWS_KEPT = 256
"""Shared Inbox windows kept (one per set of queues agents see), least recently used dropped."""
TURN_ROWS = 20
"""A read of more rows than this makes their summaries in a loop turn of its
own: a reconnect wave's snapshots are built side by side, and a loop turn
runs one step of each of them (issue 18: the loop's longest turn)."""
TURN_QUEUES = 10
"""Queues whose first page (or count) one loop turn reads, at most: a window
over every queue (a supervisor's) reads them over several turns."""
SNAPSHOTS_AT_ONCE = 8
"""Snapshots built at once; more connections wait their turn, in order."""


_decode_rows = msgspec.json.Decoder(list[p.ConversationSummary]).decode
_decode_counts = msgspec.json.Decoder(list[p.QueueCounts]).decode


def encode_cursor(key: tuple[int, str]) -> str:
    return f"{key[0]}:{key[1]}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    at, sep, conv_id = cursor.partition(":")
    try:
        if not sep or not conv_id:
            raise ValueError(cursor)
        return int(at), conv_id
    except ValueError:
        raise DomainError(errors.INVALID_ARGUMENT, "Not a cursor this server gave.") from None


def inbox_key(conv: Conversation) -> tuple[int, str]:
    """The Inbox's order: oldest activity first (Store.inbox_page)."""
    return (conv.last_message_at or conv.created_at, conv.id)


def matches(summary: p.ConversationSummary, folded_query: str) -> bool:
    c = summary.contact
    return any(folded_query in text.fold(v) for v in (c.display_name, c.address, c.username or "") if v)


@dataclass(frozen=True, slots=True)
class SnapshotFrame:
    """A snapshot encoded, ready to send, with the positions it covers."""

    streams: dict[str, int]
    data: bytes
    seconds: float
    """Building and encoding it took this long (not counting the wait for a slot)."""


@dataclass(frozen=True, slots=True)
class _Window:
    """A snapshot's Inbox part, shared by the agents who see the same queues."""

    marks: tuple[object, ...]
    """The broker's epoch and the queues' stream positions it was built at."""
    rows: Any
    """The rows (``list[ConversationSummary]``) encoded once, a ``msgspec.Raw``
    spliced into every snapshot frame that shares them; kept only encoded (a
    window of 100 is ~77 KB of JSON, about what its summaries took as objects:
    not both; ``Reads.snapshot``, for tests, decodes them)."""
    cursor: str | None
    counts: Any
    """The queues' ``list[QueueCounts]``, encoded the same way."""


class _QueuePage:
    """One queue's part of a merged Inbox walk: the rows read and not yet
    taken, read on demand in pages that double."""

    def __init__(self, queue: str, rows: list[Conversation], size: int) -> None:
        self.queue, self.size = queue, size
        self.rows = rows
        self.more = len(rows) >= size
        self._at = 0

    @property
    def head(self) -> Conversation | None:
        """The next row, if any."""
        return self.rows[self._at] if self._at < len(self.rows) else None

    @classmethod
    async def read(cls, store: Store, queue: str, after: tuple[int, str] | None, size: int) -> _QueuePage:
        return cls(queue, await store.inbox_page(queue, after, size), size)

    async def take(self, store: Store) -> Conversation:
        """The next row; reads the next page when this one runs out."""
        conv = self.rows[self._at]
        self._at += 1
        if self._at == len(self.rows):
            self.rows, self._at = [], 0
            if self.more:
                self.size = min(self.size * 2, MAX_INBOX_PAGE)
                self.rows = await store.inbox_page(self.queue, inbox_key(conv), self.size)
                self.more = len(self.rows) >= self.size
        return conv


class Reads:
    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        broker: Broker,
        directory: Directory,
        clock: Callable[[], int],
        canned: CannedResponses,
        router: Router | None = None,
    ) -> None:
        self.router = router
        self.catalog = catalog
        self.canned = canned
        self.store = store
        self.broker = broker
        self.directory = directory
        self.clock = clock
        self.snapshot_slots = asyncio.Semaphore(SNAPSHOTS_AT_ONCE)
        self._windows: OrderedDict[tuple[str, ...], _Window] = OrderedDict()
        """Inbox windows by the queues they cover, least recently used first."""
        self._views = EncodedViews(catalog)

    async def summary(self, conv: Conversation) -> p.ConversationSummary:
        return self.catalog.summary(conv, await self.directory.contact_of(conv))

    async def summaries(self, convs: list[Conversation]) -> list[p.ConversationSummary]:
        if not convs:
            return []  # an idle agent's Assigned and To wrap up (every connect): nothing to look up
        contacts = await self.directory.contacts_of(convs)
        return [self.catalog.summary(c, contact) for c, contact in zip(convs, contacts, strict=True)]

    def streams_of(self, agent: Agent) -> list[str]:
        """The streams an agent listens to for the whole connection. A queue's
        name is one string for all its agents (interned): each connection keeps
        its streams for its whole life."""
        streams = [fanout.agent_stream(agent.id), *(sys.intern(fanout.queue_stream(q)) for q in self.catalog.visible_queues(agent))]
        if agent.is_supervisor and self.router is not None:
            streams.extend(fanout.floor_stream(q.id) for q in self.router.automatic)
        return streams

    async def snapshot(self, agent: Agent) -> p.Snapshot:
        """The agent's state; its size does not grow with the Inbox (counts
        and a first window). At most ``SNAPSHOTS_AT_ONCE`` are built at once
        (a reconnect wave waits its turn, in arrival order)."""
        async with self.snapshot_slots:
            return await self._snapshot(agent)

    async def snapshot_frame(self, agent: Agent) -> SnapshotFrame:
        """The snapshot, encoded within its slot (a wave of reconnects holds
        at most ``SNAPSHOTS_AT_ONCE`` being built)."""
        async with self.snapshot_slots:
            started = time.perf_counter()
            snapshot = await self._snapshot(agent, shared=True)
            data = p.encoder.encode(snapshot)
            return SnapshotFrame(snapshot.streams, data, time.perf_counter() - started)

    async def _snapshot(self, agent: Agent, *, shared: bool = False) -> p.Snapshot:
        """The snapshot; ``shared``: to be encoded, its shared parts already
        encoded (``msgspec.Raw`` in their fields: the Inbox window and counts
        of the agent's queues, the configuration's views), the same bytes."""
        streams = self.streams_of(agent)
        # Positions first, state second: an event published in between is
        # both in the state and replayed; events carry whole values, so
        # applying one twice is harmless, and none can be missed.
        positions = await self.broker.positions(streams)
        queues = self.catalog.visible_queues(agent)
        window = await self._window(queues, positions)
        await asyncio.sleep(0)  # a wave of snapshots takes turns with the rest of the node
        assigned = await self.summaries(await self.store.assigned(agent.id))
        if shared:
            views = self._views.of(agent)
            inbox, counts = window.rows, window.counts
            queue_views, agents, touchpoints = views.queues, views.agents, views.touchpoints
            templates, dispositions = views.templates, views.dispositions
        else:
            inbox, counts = _decode_rows(window.rows), _decode_counts(window.counts)
            queue_views, agents, touchpoints = self.catalog.queue_views, self.catalog.directory(agent), self.catalog.touchpoint_views(agent)
            templates, dispositions = self.catalog.template_views, self.catalog.dispositions
        return p.Snapshot(
            epoch=self.broker.epoch,
            streams=positions,
            inbox=inbox,
            inbox_counts=counts,
            inbox_cursor=window.cursor,
            assigned=assigned,
            to_wrap_up=await self.summaries(await self.store.to_wrap_up(agent.id)),
            unread_total=sum(s.unread for s in assigned),
            queues=queue_views,
            agents=agents,
            touchpoints=touchpoints,
            templates=templates,
            dispositions=dispositions,
            server_time=self.clock(),
            canned=await self.canned.lists(agent),
            **await self._routing(agent),
        )

    async def _window(self, queues: list[str], positions: dict[str, int]) -> _Window:
        """The first window of these queues' Inbox and their counts: built
        once and shared by every snapshot of an agent who sees the same
        queues, as long as none of their streams moved (every change to an
        Inbox is published on its queue's stream, so equal positions in the
        same epoch mean the same Inbox, on one node or many)."""
        marks = (self.broker.epoch, *(positions[fanout.queue_stream(q)] for q in queues))
        key = tuple(queues)
        window = self._windows.get(key)
        if window is not None and window.marks == marks:
            self._windows.move_to_end(key)
            return window
        rows, cursor = await self._inbox_window(queues, None, INBOX_WINDOW, None, None)
        await asyncio.sleep(0)  # the counts and the encoding in a turn of their own
        counts = []
        for n, queue in enumerate(queues):
            if n and n % TURN_QUEUES == 0:
                await asyncio.sleep(0)
            counts.append(await self.inbox_counts(queue))
        window = _Window(marks, raw(rows), cursor, raw(counts))
        self._windows[key] = window
        self._windows.move_to_end(key)
        while len(self._windows) > WINDOWS_KEPT:
            self._windows.popitem(last=False)
        return window

    async def _routing(self, agent: Agent) -> dict[str, Any]:
        """The snapshot's routing part: the agent's status and what rings
        for them; a supervisor's floors. Nothing when no queue is automatic."""
        router = self.router
        if router is None or not router.enabled:
            return {}
        part: dict[str, Any] = {"status": await router.status_view(agent.id), "offers": await router.offers_for(agent.id)}
        if agent.is_supervisor:
            part["floors"] = await router.floors()
        return part

    async def inbox_counts(self, queue_id: str) -> p.QueueCounts:
        count, oldest = await self.store.inbox_counts(queue_id)
        return p.QueueCounts(queue_id=queue_id, inbox=count, oldest_at=oldest)

    async def inbox_page(
        self,
        agent: Agent,
        *,
        cursor: str | None = None,
        limit: int = INBOX_WINDOW,
        queue_id: str | None = None,
        channel: str | None = None,
        query: str | None = None,
    ) -> p.InboxPageResult:
        """A page of the Inbox the agent sees (every visible queue, or one),
        oldest waiting first, filtered by channel and by a text found in the
        contact's name, number or username."""
        queues = self.catalog.visible_queues(agent)
        if queue_id is not None:
            if queue_id not in queues:
                raise DomainError(errors.NOT_FOUND, "No such queue.")
            queues = [queue_id]
        after = decode_cursor(cursor) if cursor else None
        folded = text.fold(query).strip() if query else None
        rows, next_cursor = await self._inbox_window(
            queues, after, max(1, min(limit, MAX_INBOX_PAGE)), channel, folded or None
        )
        return p.InboxPageResult(conversations=rows, cursor=next_cursor)

    async def _inbox_window(
        self,
        queues: list[str],
        after: tuple[int, str] | None,
        limit: int,
        channel: str | None,
        folded_query: str | None,
    ) -> tuple[list[p.ConversationSummary], str | None]:
        """Walk the queues' inboxes merged in order from ``after``; returns
        up to ``limit`` matching rows and the cursor after the last
        conversation looked at (None: nothing further).

        A k-way merge: each queue is read lazily, a small page first
        (its share of the window) and twice as much each time it runs out,
        so a window over many queues reads about ``limit`` rows plus a few
        per queue, never ``limit`` from every queue."""
        filtered = channel is not None or folded_query is not None
        share = (200 if filtered else limit) // max(1, len(queues)) + 1
        first = max(MIN_QUEUE_PAGE, min(share, MAX_INBOX_PAGE))
        heads: list[tuple[tuple[int, str], int]] = []
        pages: list[_QueuePage] = []
        for n, queue in enumerate(queues):
            if n and n % TURN_QUEUES == 0:
                await asyncio.sleep(0)  # a window over many queues reads them over several turns
            page = await _QueuePage.read(self.store, queue, after, first)
            pages.append(page)
            if page.head is not None:
                heads.append((inbox_key(page.head), n))
        heapq.heapify(heads)
        found: list[p.ConversationSummary] = []
        matching: list[Conversation] = []
        position = after
        scanned = 0
        while heads:
            if len(found) + len(matching) == limit or scanned >= SCAN_LIMIT:
                break
            position, n = heapq.heappop(heads)
            conv = await pages[n].take(self.store)
            head = pages[n].head
            if head is not None:
                heapq.heappush(heads, (inbox_key(head), n))
            scanned += 1
            if channel is not None and conv.channel != channel:
                continue
            if folded_query is None:
                matching.append(conv)
                continue
            summary = await self.summary(conv)
            if matches(summary, folded_query):
                found.append(summary)
            if scanned % 200 == 0:
                await asyncio.sleep(0)  # a long filtered walk lets the node breathe
        if matching:
            if len(matching) > TURN_ROWS:
                await asyncio.sleep(0)  # reading the rows was one turn, their contacts and summaries another
            found = await self.summaries(matching)
        return [fanout.inbox_row(s) for s in found], encode_cursor(position) if heads and position else None

    async def viewable(self, agent: Agent, conv_id: str) -> Conversation:
        conv = await self.store.get_conversation(conv_id)
        if conv is None:
            raise DomainError(errors.NOT_FOUND, "No such conversation.")
        return rules.require_view(agent, conv)

    async def thread(self, agent: Agent, conv_id: str, limit: int) -> p.ThreadResult:
        conv = await self.viewable(agent, conv_id)
        stream = fanout.conv_stream(conv_id)
        position = (await self.broker.positions([stream]))[stream]
        limit = max(1, min(limit, MAX_PAGE))
        page = await self.store.messages(conv_id, None, limit)
        notes = await self.store.notes(conv_id) if conv.channel == "whatsapp" else []
        return p.ThreadResult(
            conversation=await self.summary(conv),
            messages=[views.message_view(m) for m in page],
            has_more=bool(page) and page[0].seq > 1,
            notes=[views.note_view(n) for n in notes],
            wrap_up=views.wrap_up_view(conv.id, conv.wrap_up) if conv.wrap_up else None,
            stream_seq=position,
        )

    async def history(self, agent: Agent, conv_id: str, before: int, limit: int) -> p.PageResult:
        await self.viewable(agent, conv_id)
        return await self._page(conv_id, before, limit)

    async def _page(self, conv_id: str, before: int | None, limit: int) -> p.PageResult:
        page = await self.store.messages(conv_id, before, max(1, min(limit, MAX_PAGE)))
        return p.PageResult(messages=[views.message_view(m) for m in page], has_more=bool(page) and page[0].seq > 1)

    async def page(
        self, agent: Agent, conv_id: str, before: int | None, limit: int
    ) -> tuple[p.ConversationSummary, p.PageResult]:
        """The conversation and one page of its messages (the newest when
        ``before`` is None): the REST view of a conversation."""
        conv = await self.viewable(agent, conv_id)
        page = await self._page(conv_id, before if before is not None else conv.message_count + 1, limit)
        return await self.summary(conv), page

    async def search(self, agent: Agent, conv_id: str, query: str, limit: int = 100) -> p.SearchResult:
        await self.viewable(agent, conv_id)
        if not text.fold(query).strip():
            raise DomainError(errors.INVALID_ARGUMENT, "Type something to search for.")
        hits: list[p.SearchHit] = []
        for m in await self.store.messages(conv_id, None, 1 << 30):
            spans = text.find_spans(m.text, query)
            if spans:
                hits.append(p.SearchHit(message_id=m.id, seq=m.seq, spans=spans))
        return p.SearchResult(hits=hits[: max(1, limit)])

    async def contact_card(self, agent: Agent, conv_id: str) -> p.ContactCardResult:
        conv = await self.viewable(agent, conv_id)
        rules.require_contact_card(conv)
        contact = await self.directory.contact_of(conv)
        past = [
            p.PastConversation(
                id=c.id,
                created_at=c.created_at,
                ended_at=c.ended_at,
                assignee_id=c.assignee_id,
                disposition=c.wrap_up.disposition if c.wrap_up else None,
                note=c.wrap_up.note if c.wrap_up else None,
            )
            for c in await self.store.conversations_of_contact(contact.id)
            # The same rule as every read: nothing of a queue or a thread the
            # agent cannot see (its notes, its disposition) leaks through here.
            if rules.can_view(agent, c)
        ]
        return p.ContactCardResult(card=p.ContactCard(contact=views.contact_view(contact), conversations=past))
