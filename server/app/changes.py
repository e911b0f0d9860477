"""The one way a conversation changes: load → decide (core) → commit (store,
compare-and-set) → publish (broker).

``apply`` is the only compare-and-set loop: an attempt loads what it needs
and lets the core decide; the store commits only if nothing changed since
the attempt read it (the version, and for a new conversation the contact's
newest one on the touchpoint), else the attempt runs again on fresh state.
Concurrent writers on any node therefore serialize on the store and exactly
one claim wins. ``publish`` is the only publish path: only a stored change is
published, the fan-out plan comes from ``core.fanout``, and the timers and
the channel sender hear of it through the hooks the node connects.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

from protocol import errors
from protocol import messages as p
from server.app.catalog import Catalog
from server.app.directory import Directory
from server.broker import Broker
from server.core import conversation as rules
from server.core import fanout, session
from server.core.errors import DomainError
from server.core.model import Contact, Conversation
from server.metrics import Metrics
from server.store.base import DuplicateRequest, Store, StoreUnavailable, VersionConflict

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20


class Planned(NamedTuple):
    """What one attempt decided: the outcome to commit and, for an outcome
    that starts a conversation, the id of the newest one it read (the store
    refuses the commit if another was started since)."""

    outcome: rules.Outcome
    expected_latest: str | None = None
    contact: Contact | None = None
    """The contact, when the attempt already holds it (saves a read to publish)."""


Attempt = Callable[[], Awaitable[Planned | None]]


class Shown(NamedTuple):
    """A summary after built ahead (a lock decided before its moment), with
    the contact it was built with and ``Store.contact_writes`` read before
    that contact was: while the count is the same, no contact changed, and
    ``publish_many`` uses both as they are, without reading the contact again."""

    contact: Contact
    summary: p.ConversationSummary
    contact_writes: int


def _no_watch(conv_id: str, due_ms: int | None) -> None:
    return None


def _no_route(outcome: rules.Outcome) -> None:
    return None


def _no_sender(message_id: str) -> Awaitable[None] | None:
    return None


class Changes:
    def __init__(self, catalog: Catalog, store: Store, broker: Broker, directory: Directory, metrics: Metrics) -> None:
        self.catalog = catalog
        self.store = store
        self.broker = broker
        self.directory = directory
        self.metrics = metrics
        self.watch: Callable[[str, int | None], None] = _no_watch
        """Told (conversation id, lock time) whenever an open window moves, and
        (conversation id, None) once there is no window left to watch.
        Connected by the node (the timers)."""
        self.sent: Callable[[str], Awaitable[None] | None] = _no_sender
        """Told the id of every stored outbound message. Connected by the node (the channel sender)."""
        self.routed: Callable[[rules.Outcome], None] = _no_route
        """Told every stored change after it is published. Connected by the node (routing)."""

    async def apply(self, attempt: Attempt, *, conflict: str = "The conversation kept changing; try again.") -> rules.Outcome | None:
        """Run ``attempt``, commit what it decided, publish; again when
        another writer got there first. None: the attempt found nothing to do."""
        for _ in range(MAX_ATTEMPTS):
            planned = await attempt()
            if planned is None:
                return None
            try:
                await self.store.commit(planned.outcome, expected_latest=planned.expected_latest)
            except (VersionConflict, DuplicateRequest):
                continue  # a send's key stored meanwhile: the next attempt finds it
            await self.publish(planned.outcome, planned.contact)
            return planned.outcome
        raise DomainError(errors.CONFLICT, conflict)

    async def load(self, conv_id: str) -> Conversation:
        conv = await self.store.get_conversation(conv_id)
        if conv is None:
            raise DomainError(errors.NOT_FOUND, "No such conversation.")
        return conv

    async def change(
        self,
        conv_id: str,
        decide: Callable[[Conversation], rules.Outcome | None],
        *,
        agent_known: Callable[[Conversation], None] | None = None,
    ) -> tuple[Conversation, rules.Outcome | None]:
        """Decide against the conversation as stored (``apply`` on one
        conversation). Returns the conversation after, and the outcome (also
        when it stored nothing: a read receipt with nothing unread).
        ``agent_known`` checks the acting agent may act at all."""
        read: list[Conversation] = []
        unchanged: list[rules.Outcome | None] = [None]

        async def attempt() -> Planned | None:
            conv = await self.load(conv_id)
            read[:] = [conv]
            if agent_known is not None:
                agent_known(conv)
            outcome = decide(conv)
            if outcome is None or not rules.changes_something(outcome, conv):
                unchanged[0] = outcome
                return None
            return Planned(outcome)

        outcome = await self.apply(attempt)
        if outcome is None:
            return read[0], unchanged[0]
        return outcome.after, outcome

    async def against_latest(
        self, contact: Contact, touchpoint_id: str, decide: Callable[[Conversation | None], rules.Outcome]
    ) -> rules.Outcome:
        """Decide against the contact's newest conversation on the touchpoint
        (``apply``; the store checks the newest is still the one read)."""

        async def attempt() -> Planned:
            latest = await self.store.latest_conversation(contact.id, touchpoint_id)
            return Planned(decide(latest), latest.id if latest else None, contact)

        outcome = await self.apply(attempt, conflict="The contact's conversations kept changing; try again.")
        assert outcome is not None  # the attempt always decides
        return outcome

    async def totals(self, agent_id: str) -> fanout.Totals:
        """The agent's counters, as the store's commits keep them."""
        return await self.store.agent_totals(agent_id)

    async def publish_many(self, outcomes: list[rules.Outcome], shown: Mapping[str, Shown] | None = None) -> None:
        """Publish many stored outcomes (a lock storm's batch) as ``publish``
        would each, in one go: the contacts read at once, every publication
        handed to the broker in one batch (an event for several streams
        encoded once; each socket written its frames together). Per stream,
        the events come in the same order as publishing the outcomes one at
        a time. For outcomes of distinct conversations with no outbound
        message (what the timers commit, a routing pass's offers).
        ``shown``: summaries after built ahead, by conversation id (see
        ``Shown``): used as they are while no contact was written since;
        else the contacts are read and a summary whose contact changed is
        built anew."""
        if not outcomes:
            return
        shown = shown or {}
        contacts = await self._contacts_of(outcomes, shown)  # in the outcomes' order
        agents = {a for o in outcomes for a in fanout.affected_agents(o)}
        totals = {a: await self.totals(a) for a in agents}  # after the whole batch, as its last outcome shows it
        counted_in = [fanout.inbox_counts_of(o) for o in outcomes]
        counts = {}
        for counted in {q for q in counted_in if q is not None}:
            count, oldest = await self.store.inbox_counts(counted)
            counts[counted] = p.QueueCounts(queue_id=counted, inbox=count, oldest_at=oldest)
        batch: list[tuple[str, p.AnyEvent]] = []
        summary = self.catalog.summary
        for outcome, contact, queue_id in zip(outcomes, contacts, counted_in, strict=True):
            before = None  # only tells whether the summary changed: not built when it surely did (a lock)
            if outcome.before is not None and not fanout.shows_change(outcome.before, outcome.after):
                before = summary(outcome.before, contact)
            ahead = shown.get(outcome.after.id)
            after = ahead.summary if ahead is not None and ahead.contact == contact else summary(outcome.after, contact)
            batch.extend(fanout.publications(outcome, before, after, totals, counts.get(queue_id) if queue_id else None))
        try:
            await self.broker.publish_many(batch)
        except StoreUnavailable:
            log.error("%d changes stored, their events not published", len(outcomes))
        else:
            for kind, n in Counter(stream.partition(":")[0] for stream, _ in batch).items():
                self.metrics.published.inc(n, kind)
        for outcome in outcomes:
            self.watch_window(outcome.after)
            self.routed(outcome)

    async def _contacts_of(self, outcomes: list[rules.Outcome], shown: Mapping[str, Shown]) -> list[Contact]:
        """Each outcome's contact: the one shown ahead while no contact was
        written since it was read (``Store.contact_writes``), else read now."""
        ahead: dict[str, Contact] = {}
        if shown:
            writes = await self.store.contact_writes()
            for outcome in outcomes:
                s = shown.get(outcome.after.id)
                if s is not None and s.contact_writes == writes:
                    ahead[outcome.after.id] = s.contact
        if len(ahead) == len(outcomes):
            return [ahead[o.after.id] for o in outcomes]
        read = iter(await self.directory.contacts_of([o.after for o in outcomes if o.after.id not in ahead]))
        return [ahead[o.after.id] if o.after.id in ahead else next(read) for o in outcomes]

    async def publish(self, outcome: rules.Outcome, contact: Contact | None = None, *, shown_before: Contact | None = None) -> None:
        """Publish a stored outcome to every stream that must hear of it.
        ``shown_before``: how the contact was shown before the change, when
        the change is to the contact (a new name: the conversations are
        republished with ``before`` as they looked)."""
        contact = contact or await self.directory.contact_of(outcome.after)
        before = None  # also when the change shows for certain: the old summary would only be compared
        if outcome.before is not None and not fanout.shows_change(outcome.before, outcome.after):
            before = self.catalog.summary(outcome.before, shown_before or contact)
        after = self.catalog.summary(outcome.after, contact)
        agent_totals = self.store.agent_totals  # = self.totals, one call fewer per agent (this runs per stored change)
        totals = {a: await agent_totals(a) for a in fanout.affected_agents(outcome)}
        counts = None
        queue_id = fanout.inbox_counts_of(outcome)
        if queue_id is not None:
            count, oldest = await self.store.inbox_counts(queue_id)
            counts = p.QueueCounts(queue_id=queue_id, inbox=count, oldest_at=oldest)
        for pub in fanout.publications(outcome, before, after, totals, counts):
            try:
                await self.broker.publish(pub.stream, pub.event)
            except StoreUnavailable:
                # The change is stored: the caller must hear "done", not "nothing
                # was done". The broker has marked the publication lost, so every
                # listener is made to reload once it is back (see Broker.publish).
                log.error("conversation %s: change stored, events not published", outcome.after.id)
                break
            self.metrics.published.inc(1, pub.stream.partition(":")[0])
        self.watch_window(outcome.after)
        self.routed(outcome)
        if outcome.message is not None and outcome.message.direction == "out":
            pending = self.sent(outcome.message.id)
            if pending is not None:
                await pending

    def watch_window(self, conv: Conversation) -> None:
        """Tell the timers when the conversation's window locks, or that
        there is nothing to watch (ended, already locked): an ended
        conversation's window must not be kept for the rest of its 24 hours."""
        watched = conv.status == "open" and not conv.session_locked
        self.watch(conv.id, session.expires_at(conv, self.catalog.windows[conv.channel]) if watched else None)
