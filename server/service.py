"""The application service: load → decide (core) → store → publish.

Every change follows the same path (``_change``): read the conversation, let
the pure core decide, commit with the version it read (compare-and-set), and
on a conflict read again and decide again, so concurrent writers on any node
serialize on the store and exactly one claim wins. Only a stored change is
published; the fan-out plan comes from ``core.fanout``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from msgspec.structs import replace

from protocol import errors
from protocol import messages as p
from server import auth
from server.broker import Broker
from server.config import Config
from server.core import conversation as rules
from server.core import fanout, ids, session, text, views
from server.core import identity as ident
from server.core.errors import DomainError
from server.core.model import Agent, Contact, Conversation, Inbound, Touchpoint, WindowPolicy
from server.directory import Directory
from server.metrics import Metrics
from server.store.base import DuplicateMessage, Store, StoreUnavailable, VersionConflict

log = logging.getLogger(__name__)


def _nothing_recorded(what: str, conv_id: str) -> DomainError:
    """The rules answered a command without the record it makes: a bug,
    logged, and told to the caller as ``internal`` (never a crash)."""
    log.error("%s: the rules recorded no %s", conv_id, what)
    return DomainError(errors.INTERNAL, f"Internal error: no {what} was recorded.")

MAX_ATTEMPTS = 20
MAX_PAGE = 200


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id(prefix: str) -> str:
    """Time-ordered, unique across nodes: 'c_018f3a…'."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


class Service:
    def __init__(
        self,
        config: Config,
        store: Store,
        broker: Broker,
        metrics: Metrics,
        *,
        clock: Callable[[], int] = now_ms,
        ids: Callable[[str], str] = new_id,
    ) -> None:
        self.config = config
        self.store = store
        self.contacts = Directory(store)
        self.broker = broker
        self.metrics = metrics
        self.clock = clock
        self.ids = ids
        self.agents = {a.id: a for a in config.agents}
        self.queues = {q.id: q for q in config.queues}
        self.touchpoints = {t.id: t for t in config.touchpoints}
        self.templates = {(t.name, t.language): t for t in config.templates}
        # The static parts of every snapshot, built once.
        self._agent_views = {
            a.id: p.AgentView(id=a.id, name=a.name, role=a.role, queues=list(a.queues)) for a in config.agents
        }
        self._queue_views = [p.QueueView(id=q.id, name=q.name) for q in config.queues]
        self._template_views = [p.TemplateView(name=t.name, language=t.language, text=t.text) for t in config.templates]
        self._directories: dict[tuple[str, ...], list[p.AgentView]] = {}
        self.on_watch: Callable[[str, int | None], None] | None = None
        """Told (conversation id, lock time) whenever an open window moves, and
        (conversation id, None) once there is no window left to watch."""
        self.on_sent: Callable[[str], Awaitable[None] | None] | None = None
        """Told the id of every stored outbound message (the channel sender)."""

    def policy(self, channel: str) -> WindowPolicy:
        return self.config.windows[channel]

    # ------------------------------------------------------------------ reading

    async def contact_of(self, conv: Conversation) -> Contact:
        contact = await self.contacts.get(conv.contact_id)
        if contact is None:  # never expected: contacts are stored before conversations
            channel, _, address = conv.contact_id.partition(":")
            contact = Contact(id=conv.contact_id, channel=conv.channel, address=address or channel)
        return contact

    def _summary(self, conv: Conversation, contact: Contact) -> p.ConversationSummary:
        return views.summary(conv, contact, self.touchpoints[conv.touchpoint_id], self.policy(conv.channel))

    async def summary(self, conv: Conversation) -> p.ConversationSummary:
        return self._summary(conv, await self.contact_of(conv))

    async def summaries(self, convs: list[Conversation]) -> list[p.ConversationSummary]:
        return [await self.summary(c) for c in convs]

    async def totals(self, agent_id: str) -> fanout.Totals:
        mine = await self.store.assigned(agent_id)
        return fanout.Totals(count=len(mine), unread_total=sum(c.unread for c in mine))

    def visible_queues(self, agent: Agent) -> list[str]:
        return list(self.queues) if agent.is_supervisor else list(agent.queues)

    def streams_of(self, agent: Agent) -> list[str]:
        """The streams an agent listens to for the whole connection."""
        return [fanout.agent_stream(agent.id), *(fanout.queue_stream(q) for q in self.visible_queues(agent))]

    async def snapshot(self, agent: Agent) -> p.Snapshot:
        streams = self.streams_of(agent)
        # Positions first, state second: an event published in between is
        # both in the state and replayed; events carry whole values, so
        # applying one twice is harmless, and none can be missed.
        positions = await self.broker.positions(streams)
        inbox: list[p.ConversationSummary] = []
        for queue_id in self.visible_queues(agent):
            inbox.extend(await self.summaries(await self.store.inbox(queue_id)))
        assigned = await self.summaries(await self.store.assigned(agent.id))
        return p.Snapshot(
            epoch=self.broker.epoch,
            streams=positions,
            inbox=inbox,
            assigned=assigned,
            unread_total=sum(s.unread for s in assigned),
            queues=self._queue_views,
            agents=self.directory(agent),
            touchpoints=[
                p.TouchpointView(id=t.id, channel=t.channel, name=t.name, queue_id=t.queue_id)
                for t in self.touchpoints.values()
                if agent.is_supervisor or t.queue_id in agent.queues
            ],
            templates=self._template_views,
            dispositions=list(self.config.dispositions),
            server_time=self.clock(),
        )

    def directory(self, agent: Agent) -> list[p.AgentView]:
        """The agents whose names this agent may need: everyone for a
        supervisor (who assigns); for an agent, the colleagues of their queues
        and the supervisors. Not the whole company on every connect."""
        key = ("*",) if agent.is_supervisor else tuple(sorted(agent.queues))
        found = self._directories.get(key)
        if found is None:
            mine = set(key)
            found = self._directories[key] = [
                view
                for a, view in zip(self.agents.values(), self._agent_views.values())
                if agent.is_supervisor or a.is_supervisor or mine.intersection(a.queues)
            ]
        return found

    async def viewable(self, agent: Agent, conv_id: str) -> Conversation:
        conv = await self.store.get_conversation(conv_id)
        if conv is None:
            raise DomainError(errors.NOT_FOUND, "No such conversation.")
        if not rules.can_view(agent, conv):
            # Same answer as a missing one: do not reveal what exists elsewhere.
            raise DomainError(errors.NOT_FOUND, "No such conversation.")
        return conv

    async def thread(self, agent: Agent, conv_id: str, limit: int) -> p.ThreadResult:
        conv = await self.viewable(agent, conv_id)
        position = (await self.broker.positions([fanout.conv_stream(conv_id)]))[fanout.conv_stream(conv_id)]
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
        page = await self.store.messages(conv_id, before, max(1, min(limit, MAX_PAGE)))
        return p.PageResult(messages=[views.message_view(m) for m in page], has_more=bool(page) and page[0].seq > 1)

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
        if conv.channel != "whatsapp":
            raise DomainError(errors.NOT_SUPPORTED_ON_CHANNEL, "The contact snapshot is available on WhatsApp only.")
        contact = await self.contact_of(conv)
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

    # ------------------------------------------------------------------ changing

    async def _change(
        self, conv_id: str, decide: Callable[[Conversation], rules.Outcome | None], *, agent: Agent | None = None
    ) -> tuple[Conversation, rules.Outcome | None]:
        """Read, decide, compare-and-set, publish; again on a conflict.

        An acting agent must at least know the conversation (see it, or be in
        its queue); the rules then decide what they may do, so a lost claim is
        told ``already_assigned``, not ``not_found``."""
        for _ in range(MAX_ATTEMPTS):
            conv = await self._get(conv_id)
            if agent is not None and not (rules.can_view(agent, conv) or conv.queue_id in agent.queues):
                raise DomainError(errors.NOT_FOUND, "No such conversation.")
            outcome = decide(conv)
            if outcome is None or (outcome.after is conv and not _has_payload(outcome)):
                return conv, outcome
            try:
                await self.store.commit(outcome)
            except VersionConflict:
                continue
            await self.publish(outcome)
            return outcome.after, outcome
        raise DomainError(errors.CONFLICT, "The conversation kept changing; try again.")

    async def _get(self, conv_id: str) -> Conversation:
        conv = await self.store.get_conversation(conv_id)
        if conv is None:
            raise DomainError(errors.NOT_FOUND, "No such conversation.")
        return conv

    async def publish(self, outcome: rules.Outcome, contact: Contact | None = None) -> None:
        contact = contact or await self.contact_of(outcome.after)
        before = self._summary(outcome.before, contact) if outcome.before is not None else None
        after = self._summary(outcome.after, contact)
        totals = {a: await self.totals(a) for a in fanout.affected_agents(outcome)}
        for pub in fanout.publications(outcome, before, after, totals):
            try:
                await self.broker.publish(pub.stream, pub.event)
            except StoreUnavailable:
                # The change is stored: the caller must hear "done", not "nothing
                # was done". The broker has marked the publication lost, so every
                # listener is made to reload once it is back (see Broker.publish).
                log.error("conversation %s: change stored, events not published", outcome.after.id)
                break
            self.metrics.published.inc(1, pub.stream.partition(":")[0])
        self.watch(outcome.after)
        if outcome.message is not None and outcome.message.direction == "out" and self.on_sent is not None:
            pending = self.on_sent(outcome.message.id)
            if pending is not None:
                await pending

    def watch(self, conv: Conversation) -> None:
        """Tell the timers when the conversation's window locks, or that
        there is nothing to watch (ended, already locked): an ended
        conversation's window must not be kept for the rest of its 24 hours."""
        if self.on_watch is None:
            return
        watched = conv.is_open and not conv.session_locked
        self.on_watch(conv.id, session.expires_at(conv, self.policy(conv.channel)) if watched else None)

    async def _result(self, conv: Conversation) -> p.ConversationResult:
        return p.ConversationResult(conversation=await self.summary(conv))

    async def claim(self, agent: Agent, conv_id: str) -> p.ConversationResult:
        conv, _ = await self._change(conv_id, lambda c: rules.claim(c, agent), agent=agent)
        return await self._result(conv)

    async def assign(self, agent: Agent, conv_id: str, target_id: str) -> p.ConversationResult:
        target = self.agents.get(target_id)
        if target is None:
            raise DomainError(errors.INVALID_ARGUMENT, f"No agent {target_id!r}.")
        conv, _ = await self._change(conv_id, lambda c: rules.assign(c, agent, target), agent=agent)
        return await self._result(conv)

    async def send_to_inbox(self, agent: Agent, conv_id: str) -> p.ConversationResult:
        conv, _ = await self._change(
            conv_id, lambda c: rules.send_to_inbox(c, agent, self.touchpoints[c.touchpoint_id]), agent=agent
        )
        return await self._result(conv)

    async def end(self, agent: Agent, conv_id: str) -> p.ConversationResult:
        conv, _ = await self._change(conv_id, lambda c: rules.end(c, agent, self.clock()), agent=agent)
        return await self._result(conv)

    async def read(self, agent: Agent, conv_id: str) -> p.ConversationResult:
        conv, _ = await self._change(conv_id, lambda c: rules.read(c, agent), agent=agent)
        return await self._result(conv)

    async def _message_result(self, conv: Conversation, outcome: rules.Outcome | None) -> p.MessageResult:
        if outcome is None or outcome.message is None:
            raise _nothing_recorded("message", conv.id)
        return p.MessageResult(conversation=await self.summary(conv), message=views.message_view(outcome.message))

    def _in_thread(self, prefix: str, of: str) -> str:
        """A new id in the thread of the conversation (or message) id ``of``."""
        shard = ids.shard_of(of)
        return ids.in_shard(self.ids(prefix), shard) if shard else self.ids(prefix)

    def _new_in_thread(self, prefix: str, contact: Contact, touchpoint: Touchpoint) -> str:
        return ids.in_shard(self.ids(prefix), ids.thread_shard(contact.id, touchpoint.id))

    async def send(self, agent: Agent, conv_id: str, body: str) -> p.MessageResult:
        message_id = self._in_thread("m", conv_id)
        conv, outcome = await self._change(
            conv_id,
            lambda c: rules.send(
                c, agent, body, message_id=message_id, policy=self.policy(c.channel), now=self.clock()
            ),
            agent=agent,
        )
        return await self._message_result(conv, outcome)

    def _template(self, ref: p.TemplateRef) -> rules.Template:
        template = self.templates.get((ref.name, ref.language))
        if template is None:
            raise DomainError(errors.INVALID_ARGUMENT, f"No approved template {ref.name!r} ({ref.language}).")
        return template

    async def send_template(self, agent: Agent, conv_id: str, ref: p.TemplateRef) -> p.MessageResult:
        template = self._template(ref)
        message_id = self._in_thread("m", conv_id)
        conv, outcome = await self._change(
            conv_id,
            lambda c: rules.send_template(
                c, agent, template, ref.params, message_id=message_id, policy=self.policy(c.channel), now=self.clock()
            ),
            agent=agent,
        )
        return await self._message_result(conv, outcome)

    async def add_note(self, agent: Agent, conv_id: str, body: str) -> p.NoteResult:
        note_id = self.ids("n")
        _, outcome = await self._change(
            conv_id, lambda c: rules.add_note(c, agent, body, note_id=note_id, now=self.clock()), agent=agent
        )
        if outcome is None or outcome.note is None:
            raise _nothing_recorded("note", conv_id)
        return p.NoteResult(note=views.note_view(outcome.note))

    async def wrap_up(self, agent: Agent, conv_id: str, disposition: str, note: str) -> p.WrapUpResult:
        conv, outcome = await self._change(
            conv_id,
            lambda c: rules.wrap_up(
                c, agent, disposition, note, dispositions=self.config.dispositions, now=self.clock()
            ),
            agent=agent,
        )
        if outcome is None or outcome.wrap_up is None:
            raise _nothing_recorded("wrap-up", conv.id)
        return p.WrapUpResult(wrap_up=views.wrap_up_view(conv.id, outcome.wrap_up))

    async def _learn(self, old: Contact | None, who: ident.Identity, profile_name: str | None = None) -> Contact:
        """The contact with what ``who`` adds (stored); when that changes how
        they are shown (a new username), their open conversations are
        republished, live."""
        old, contact = await self.contacts.learn(old, who, profile_name)
        if old is not None and views.contact_view(old) != views.contact_view(contact):
            await self._republish_contact(old, contact)
        return contact

    async def _republish_contact(self, old: Contact, new: Contact) -> None:
        for conv in await self.store.conversations_of_contact(new.id):
            if conv.is_open:
                await self._publish_contact_change(rules.Outcome(before=conv, after=conv), old, new)

    async def _contact_on(self, touchpoint: Touchpoint, who: ident.Identity) -> Contact | None:
        """The contact ``who`` names. When a phone number and a BSUID were
        first seen apart (two contacts) and now arrive together, the one
        with an open conversation on this touchpoint wins, so the customer's
        reply lands where the agent is waiting; else the BSUID's."""
        found = await self.contacts.find(who)
        if len(found) > 1:
            for contact in found:
                latest = await self.store.latest_conversation(contact.id, touchpoint.id)
                if latest is not None and latest.is_open:
                    return contact
        return found[0] if found else None

    def _touchpoint(self, touchpoint_id: str) -> Touchpoint:
        touchpoint = self.touchpoints.get(touchpoint_id)
        if touchpoint is None:
            raise DomainError(errors.NOT_FOUND, f"No touchpoint {touchpoint_id!r}.")
        return touchpoint

    async def start(self, agent: Agent, cmd: p.StartConversation) -> p.MessageResult:
        touchpoint = self._touchpoint(cmd.touchpoint_id)
        rules.require_touchpoint(agent, touchpoint)  # before saying anything about the address
        who = ident.typed_address(touchpoint.channel, cmd.address, touchpoint.default_region or None)
        template = self._template(cmd.template) if cmd.template else None
        contact = await self._learn(await self._contact_on(touchpoint, who), who)
        outcome = await self._against_latest(
            contact,
            touchpoint,
            lambda latest: rules.start(
                latest,
                new_conversation_id=self._new_in_thread("c", contact, touchpoint),
                message_id=self._new_in_thread("m", contact, touchpoint),
                actor=agent,
                touchpoint=touchpoint,
                contact=contact,
                policy=self.policy(touchpoint.channel),
                now=self.clock(),
                template=template,
                params=cmd.template.params if cmd.template else (),
                body=cmd.text,
            ),
        )
        return await self._message_result(outcome.after, outcome)

    async def _against_latest(
        self, contact: Contact, touchpoint: Touchpoint, decide: Callable[[Conversation | None], rules.Outcome]
    ) -> rules.Outcome:
        """Decide against the contact's newest conversation on the touchpoint,
        commit, publish; again when a concurrent message or start got there
        first (the store checks the newest is still the one we read)."""
        for _ in range(MAX_ATTEMPTS):
            latest = await self.store.latest_conversation(contact.id, touchpoint.id)
            outcome = decide(latest)
            try:
                await self.store.commit(outcome, expected_latest=latest.id if latest else None)
            except VersionConflict:
                continue
            await self.publish(outcome, contact)
            return outcome
        raise DomainError(errors.CONFLICT, "The contact's conversations kept changing; try again.")

    # ------------------------------------------------------------------ channel edge

    async def receive(
        self, touchpoint_id: str, who: ident.Identity | str, inbound: Inbound, *, profile_name: str | None = None
    ) -> rules.Outcome | None:
        """A contact's message from a channel. ``who``: the identity the
        webhook gave (or the channel's raw address: WhatsApp digits or BSUID,
        Messenger PSID). Returns None for a duplicate (Meta retries: the same
        channel message id is stored once)."""
        touchpoint = self._touchpoint(touchpoint_id)
        if isinstance(who, str):
            who = ident.from_channel(touchpoint.channel, who)
        if inbound.channel_message_id and await self.store.message_by_channel_id(inbound.channel_message_id):
            self.metrics.webhooks.inc(1, "duplicate")
            return None
        contact = await self._learn(await self._contact_on(touchpoint, who), who, profile_name)
        try:
            outcome = await self._against_latest(
                contact,
                touchpoint,
                lambda latest: rules.receive(
                    latest,
                    new_conversation_id=self._new_in_thread("c", contact, touchpoint),
                    message_id=self._new_in_thread("m", contact, touchpoint),
                    touchpoint=touchpoint,
                    contact=contact,
                    inbound=inbound,
                    policy=self.policy(touchpoint.channel),
                    now=self.clock(),
                ),
            )
        except DuplicateMessage:  # a retry racing its first delivery
            self.metrics.webhooks.inc(1, "duplicate")
            return None
        self.metrics.webhooks.inc(1, "stored")
        return outcome

    async def revise(self, touchpoint_id: str, target: str, new_text: str | None, *, at: int) -> bool:
        """The contact edited (``new_text``) or deleted (None) the message
        Meta knows as ``target``. True when that changed something (an
        unknown message, a repeat, a message already deleted: False)."""
        touchpoint = self._touchpoint(touchpoint_id)
        message = await self.store.message_by_channel_id(target)
        if message is None:
            return False
        conv = await self.store.get_conversation(message.conversation_id)
        if conv is None or conv.touchpoint_id != touchpoint.id:
            return False
        keep = self.config.meta.keep_deleted_text

        async def attempt() -> rules.Outcome | None:
            current = await self.store.get_message(message.id)
            if current is None:
                return None
            return rules.revise(await self._get(current.conversation_id), current, new_text, at=at, keep_deleted_text=keep)

        return await self._commit_fresh(attempt) is not None

    async def identity_changed(self, touchpoint_id: str, old: ident.Identity, new: ident.Identity, notice: str, *, at: int) -> bool:
        """The contact's number or BSUID changed (Meta's system message or
        ``user_id_update``): the same contact goes on with the new identity
        (the old one still leads to it), and their open conversation on the
        touchpoint gets a notice line. Never a new conversation. True when
        the contact was known."""
        touchpoint = self._touchpoint(touchpoint_id)
        found = await self.contacts.find(old)
        if not found:
            return False
        contact = await self._learn(found[0], new)
        latest = await self.store.latest_conversation(contact.id, touchpoint.id)
        if latest is not None and latest.is_open and notice:
            def decide(c: Conversation) -> rules.Outcome | None:
                if not c.is_open:
                    return None
                return rules.notice(c, message_id=self._in_thread("m", c.id), body=notice, at=at or self.clock())

            await self._change(latest.id, decide)
        return True

    async def chat_opened(self, touchpoint_id: str, who: ident.Identity, profile_name: str | None) -> Contact:
        """The customer opened the chat and wrote nothing yet (WhatsApp
        ``request_welcome``): they are recorded as a contact (their number,
        BSUID, username and profile name are known when they write), and no
        conversation is created."""
        touchpoint = self._touchpoint(touchpoint_id)
        return await self._learn(await self._contact_on(touchpoint, who), who, profile_name)

    async def expire(self, conv_id: str) -> bool:
        """The session timer fired: lock if the window really passed. True when it locked."""
        try:
            _, outcome = await self._change(
                conv_id, lambda c: rules.expire(c, self.policy(c.channel), self.clock())
            )
        except DomainError:
            return False
        if outcome is not None:
            self.metrics.session_locks.inc()
        return outcome is not None

    async def delivery(
        self,
        message_id: str,
        status: str,
        *,
        channel_message_id: str | None = None,
        error: tuple[str, str] | None = None,
        window_closed: bool = False,
    ) -> bool:
        """A channel's report on one of our outbound messages (by our id).
        True when it changed something; stale and repeated reports do not."""

        async def attempt() -> rules.Outcome | None:
            message = await self.store.get_message(message_id)
            if message is None:
                return None
            conv = await self._get(message.conversation_id)
            return rules.delivery(
                conv, message, status, channel_message_id=channel_message_id, error=error, window_closed=window_closed
            )

        return await self._commit_fresh(attempt) is not None

    async def _commit_fresh(self, attempt: Callable[[], Awaitable[rules.Outcome | None]]) -> rules.Outcome | None:
        """Load and decide (``attempt``), commit, publish; load and decide
        again when another writer got there first. None: nothing to do."""
        for _ in range(MAX_ATTEMPTS):
            outcome = await attempt()
            if outcome is None:
                return None
            try:
                await self.store.commit(outcome)
            except VersionConflict:
                continue
            await self.publish(outcome)
            return outcome
        raise DomainError(errors.CONFLICT, "The conversation kept changing; try again.")

    async def delivery_by_channel_id(
        self, channel_message_id: str, status: str, *, error: tuple[str, str] | None = None
    ) -> bool:
        """A status webhook names Meta's id (wamid / mid); map it to ours."""
        message = await self.store.message_by_channel_id(channel_message_id)
        if message is None:
            return False
        return await self.delivery(message.id, status, error=error)

    async def put_contact(self, channel: str, address: str, name: str | None) -> Contact:
        """The contacts directory: add, rename or forget a contact's name.
        ``address`` is read as an agent types it (a WhatsApp number in any
        usual format, or a BSUID; a Messenger PSID). Every open conversation
        of theirs is republished, live, with the new name."""
        if channel not in ("whatsapp", "messenger"):
            raise DomainError(errors.INVALID_ARGUMENT, f"Unknown channel {channel!r}.")
        who = ident.typed_address(channel, address)  # type: ignore[arg-type]
        found = await self.contacts.find(who)
        old, contact = await self.contacts.learn(found[0] if found else None, who)
        contact = await self.contacts.save(contact, replace(contact, name=name))
        if old is not None and views.contact_view(old) != views.contact_view(contact):
            await self._republish_contact(old, contact)
        return contact

    async def _publish_contact_change(self, outcome: rules.Outcome, old: Contact, new: Contact) -> None:
        before = self._summary(outcome.before or outcome.after, old)
        after = self._summary(outcome.after, new)
        totals = {a: await self.totals(a) for a in fanout.affected_agents(outcome)}
        for pub in fanout.publications(outcome, before, after, totals):
            await self.broker.publish(pub.stream, pub.event)

    # ------------------------------------------------------------------ tokens

    async def authenticate(self, token: str) -> tuple[Agent, auth.Claims]:
        """The agent a token speaks for. Raises TokenInvalid (forged,
        malformed, unknown agent), TokenExpired or TokenRevoked."""
        claims = auth.verify(self.config.server.token_secret, token, now=self.clock() // 1000)
        agent = self.agents.get(claims.sub)
        if agent is None:
            raise auth.TokenInvalid(f"unknown agent {claims.sub!r}")
        if claims.revoked_by(await self.store.revocations(claims.revocation_keys())):
            raise auth.TokenRevoked(claims.jti)
        return agent, claims

    async def revoke_token(self, claims: auth.Claims) -> None:
        """Log one token out, on every node: sockets opened with it close."""
        await self.store.revoke(f"token:{claims.jti}", claims.exp)
        await self.broker.publish(fanout.agent_stream(claims.sub), p.AccessRevoked(token_id=claims.jti))

    async def revoke_agent(self, agent_id: str) -> int:
        """Void every token of the agent issued up to this second. Returns that second."""
        if agent_id not in self.agents:
            raise DomainError(errors.NOT_FOUND, f"No agent {agent_id!r}.")
        until = self.clock() // 1000
        await self.store.revoke(f"agent:{agent_id}", until)
        await self.broker.publish(fanout.agent_stream(agent_id), p.AccessRevoked(not_before=until))
        return until

    # ------------------------------------------------------------------ dispatch

    async def dispatch(self, agent: Agent, cmd: p.Command) -> p.CommandResult:
        """Run one agent command. Raises DomainError for a refusal."""
        match cmd:
            case p.Ping():
                return p.Ok()
            case p.Claim(conversation_id=cid):
                return await self.claim(agent, cid)
            case p.Assign(conversation_id=cid, agent_id=target):
                return await self.assign(agent, cid, target)
            case p.SendToInbox(conversation_id=cid):
                return await self.send_to_inbox(agent, cid)
            case p.EndChat(conversation_id=cid):
                return await self.end(agent, cid)
            case p.SendMessage(conversation_id=cid, text=body):
                return await self.send(agent, cid, body)
            case p.SendTemplate(conversation_id=cid, template=ref):
                return await self.send_template(agent, cid, ref)
            case p.StartConversation():
                return await self.start(agent, cmd)
            case p.MarkRead(conversation_id=cid):
                return await self.read(agent, cid)
            case p.History(conversation_id=cid, before=before, limit=limit):
                return await self.history(agent, cid, before, limit)
            case p.Search(conversation_id=cid, query=query, limit=limit):
                return await self.search(agent, cid, query, limit)
            case p.AddNote(conversation_id=cid, text=body):
                return await self.add_note(agent, cid, body)
            case p.WrapUp(conversation_id=cid, disposition=disposition, note=note):
                return await self.wrap_up(agent, cid, disposition, note)
            case p.GetContactCard(conversation_id=cid):
                return await self.contact_card(agent, cid)
        raise DomainError(errors.UNKNOWN_COMMAND, f"{type(cmd).__name__} is not handled here.")


def _has_payload(outcome: rules.Outcome) -> bool:
    return any(x is not None for x in (outcome.message, outcome.updated_message, outcome.note, outcome.wrap_up))
