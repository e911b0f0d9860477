"""What an agent reads: the snapshot, a thread, older pages, search, the
contact card, a queue's inbox. Every read of a conversation goes through the
core's access rule (``require_view``); nothing here changes state."""

from __future__ import annotations

from collections.abc import Callable

from protocol import errors
from protocol import messages as p
from server.app.catalog import Catalog
from server.app.directory import Directory
from server.broker import Broker
from server.core import conversation as rules
from server.core import fanout, text, views
from server.core.errors import DomainError
from server.core.model import Agent, Conversation
from server.store.base import Store

MAX_PAGE = 200


class Reads:
    def __init__(
        self, catalog: Catalog, store: Store, broker: Broker, directory: Directory, clock: Callable[[], int]
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.broker = broker
        self.directory = directory
        self.clock = clock

    async def summary(self, conv: Conversation) -> p.ConversationSummary:
        return self.catalog.summary(conv, await self.directory.contact_of(conv))

    async def summaries(self, convs: list[Conversation]) -> list[p.ConversationSummary]:
        return [await self.summary(c) for c in convs]

    def streams_of(self, agent: Agent) -> list[str]:
        """The streams an agent listens to for the whole connection."""
        return [fanout.agent_stream(agent.id), *(fanout.queue_stream(q) for q in self.catalog.visible_queues(agent))]

    async def snapshot(self, agent: Agent) -> p.Snapshot:
        streams = self.streams_of(agent)
        # Positions first, state second: an event published in between is
        # both in the state and replayed; events carry whole values, so
        # applying one twice is harmless, and none can be missed.
        positions = await self.broker.positions(streams)
        inbox: list[p.ConversationSummary] = []
        for queue_id in self.catalog.visible_queues(agent):
            inbox.extend(await self.summaries(await self.store.inbox(queue_id)))
        assigned = await self.summaries(await self.store.assigned(agent.id))
        return p.Snapshot(
            epoch=self.broker.epoch,
            streams=positions,
            inbox=inbox,
            assigned=assigned,
            unread_total=sum(s.unread for s in assigned),
            queues=self.catalog.queue_views,
            agents=self.catalog.directory(agent),
            touchpoints=self.catalog.touchpoint_views(agent),
            templates=self.catalog.template_views,
            dispositions=self.catalog.dispositions,
            server_time=self.clock(),
        )

    async def inbox(self, agent: Agent, queue_id: str) -> list[p.ConversationSummary]:
        """One queue's inbox, for an agent of the queue (or a supervisor)."""
        if queue_id not in self.catalog.visible_queues(agent):
            raise DomainError(errors.NOT_FOUND, "No such queue.")
        return await self.summaries(await self.store.inbox(queue_id))

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
