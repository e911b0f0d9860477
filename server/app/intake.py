"""What the channels tell us: a contact's message, a delivery report, an
edit or deletion, a changed number or BSUID, a chat opened; and the session
timer firing. Each is one ``Changes.apply`` around one core rule; a repeat
(Meta retries) changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import NamedTuple

from server import collector
from server.app.catalog import Catalog
from server.app.changes import Changes, Planned, Shown
from server.app.contacts import Contacts
from server.app.directory import Directory
from server.app.minting import Mint
from server.core import conversation as rules
from server.core import identity as ident
from server.core import media as media_rules
from server.core.errors import DomainError
from server.core.model import Contact, Conversation, Inbound, Message, Quote
from server.metrics import Metrics
from server.store.base import DuplicateMessage, Store, StoreError, VersionConflict

EXPIRE_CHUNK = 2000
"""Locks committed (and then published) together in a lock storm: a chunk
publishes while the next commits. Big enough that a chunk's fixed costs
(its transaction, its reads of counters) are spread thin; small enough
that the first locks leave after a fraction of the storm."""

EXPIRE_FIRST = 250
"""The first chunk of a storm, the next ones each twice the one before up
to ``EXPIRE_CHUNK`` (250, 500, 1,000, 2,000, 2,000…): nothing is published
before the first chunk is read, decided and committed, so a small one
starts the pipeline (and the first locks) sooner."""


def _chunks(ids: list[str]) -> list[list[str]]:
    """``ids`` in chunks of ``EXPIRE_FIRST``, doubling up to ``EXPIRE_CHUNK``."""
    out, at, size = [], 0, min(EXPIRE_FIRST, EXPIRE_CHUNK)
    while at < len(ids):
        out.append(ids[at : at + size])
        at += size
        size = min(size * 2, EXPIRE_CHUNK)
    return out

PREPARED_MAX = 25_000
"""Locks decided ahead (``Intake.warm``) kept at most (~2.3 KiB each, measured
over 2,000: ~56 MiB at most, for the seconds before a storm); more windows
about to pass together are warmed but not decided ahead (they fire all the same)."""

PREPARED_KEEP_MS = 60_000
"""A lock decided ahead and not fired this long after its moment is dropped
(its window was renewed, or another node fired it)."""


class _Prepared(NamedTuple):
    """A lock decided ahead of its moment (``due``), with what its
    publications show (the contact as read then and the summary after)."""

    due: int
    outcome: rules.Outcome
    shown: Shown


WATERMARK_PAGE = 50
WATERMARK_PAGES = 20
"""A watermark looks back at most this many pages of the thread."""

log = logging.getLogger(__name__)


class Intake:
    def __init__(
        self,
        catalog: Catalog,
        changes: Changes,
        store: Store,
        directory: Directory,
        contacts: Contacts,
        metrics: Metrics,
        mint: Mint,
        clock: Callable[[], int],
    ) -> None:
        self.catalog = catalog
        self.changes = changes
        self.store = store
        self.directory = directory
        self.contacts = contacts
        self.metrics = metrics
        self.mint = mint
        self.clock = clock
        self._prepared: dict[str, _Prepared] = {}
        """Locks decided ahead of a storm (``warm``), by conversation id."""

    async def receive(
        self, touchpoint_id: str, who: ident.Identity | str, inbound: Inbound, *, profile_name: str | None = None
    ) -> rules.Outcome | None:
        """A contact's message from a channel. ``who``: the identity the
        webhook gave (or the channel's raw address: WhatsApp digits or BSUID,
        Messenger PSID). Returns None for a duplicate (Meta retries: the same
        channel message id is stored once)."""
        touchpoint = self.catalog.touchpoint(touchpoint_id)
        if isinstance(who, str):
            who = ident.from_channel(touchpoint.channel, who)
        if inbound.channel_message_id and await self.store.message_by_channel_id(inbound.channel_message_id):
            self.metrics.webhooks.inc(1, "duplicate")
            return None
        contact = await self.contacts.learn(await self.directory.on_touchpoint(touchpoint, who), who, profile_name)
        policy = self.catalog.policy(touchpoint.channel)
        mint = self.mint.new_in_thread

        def decide(latest: Conversation | None) -> rules.Outcome:
            conv_id, message_id, entry_id = mint(contact, touchpoint, "c", "m", "m")
            return rules.receive(
                latest,
                new_conversation_id=conv_id,
                message_id=message_id,
                entry_id=entry_id,
                touchpoint=touchpoint,
                contact=contact,
                inbound=inbound,
                policy=policy,
                now=self.clock(),
            )

        try:
            outcome = await self.changes.against_latest(contact, touchpoint.id, decide)
        except DuplicateMessage:  # a retry racing its first delivery
            self.metrics.webhooks.inc(1, "duplicate")
            return None
        self.metrics.webhooks.inc(1, "stored")
        return outcome

    async def _target(self, touchpoint_id: str, target: str) -> Message | None:
        """The message Meta knows as ``target``, when it is ours and its
        conversation is on this touchpoint."""
        touchpoint = self.catalog.touchpoint(touchpoint_id)
        message = await self.store.message_by_channel_id(target)
        if message is None:
            return None
        conv = await self.store.get_conversation(message.conversation_id)
        if conv is None or conv.touchpoint_id != touchpoint.id:
            return None
        return message

    async def revise(self, touchpoint_id: str, target: str, new_text: str | None, *, at: int) -> bool:
        """The contact edited (``new_text``) or deleted (None) the message
        Meta knows as ``target``. True when that changed something (an
        unknown message, a repeat, a message already deleted: False)."""
        message = await self._target(touchpoint_id, target)
        if message is None:
            return False
        keep = self.catalog.keep_deleted_text

        async def attempt() -> Planned | None:
            current = await self.store.get_message(message.id)
            if current is None:
                return None
            conv = await self.changes.load(current.conversation_id)
            outcome = rules.revise(conv, current, new_text, at=at, keep_deleted_text=keep)
            return Planned(outcome) if outcome is not None else None

        return await self.changes.apply(attempt) is not None

    async def identity_changed(
        self, touchpoint_id: str, old: ident.Identity, new: ident.Identity, notice: str, *, at: int
    ) -> bool:
        """The contact's number or BSUID changed (Meta's system message or
        ``user_id_update``): the same contact goes on with the new identity
        (the old one still leads to it), and their open conversation on the
        touchpoint gets a notice line. Never a new conversation. True when
        the contact was known."""
        touchpoint = self.catalog.touchpoint(touchpoint_id)
        found = await self.directory.find(old)
        if not found:
            return False
        contact = await self.contacts.learn(found[0], new)
        latest = await self.store.latest_conversation(contact.id, touchpoint.id)
        if latest is not None and latest.is_open and notice:

            def decide(c: Conversation) -> rules.Outcome | None:
                if not c.is_open:
                    return None
                return rules.notice(c, message_id=self.mint.in_thread("m", c.id), body=notice, at=at or self.clock())

            await self.changes.change(latest.id, decide)
        return True

    async def chat_opened(self, touchpoint_id: str, who: ident.Identity, profile_name: str | None) -> Contact:
        """The customer opened the chat and wrote nothing yet (WhatsApp
        ``request_welcome``): they are recorded as a contact (their number,
        BSUID, username and profile name are known when they write), and no
        conversation is created."""
        touchpoint = self.catalog.touchpoint(touchpoint_id)
        return await self.contacts.learn(await self.directory.on_touchpoint(touchpoint, who), who, profile_name)

    async def expire(self, conv_id: str) -> bool:
        """The session timer fired: lock if the window really passed. True when it locked."""
        policy = self.catalog.policy
        try:
            _, outcome = await self.changes.change(
                conv_id, lambda c: rules.expire(c, policy(c.channel), self.clock(), message_id=self.mint.in_thread("m", c.id))
            )
        except DomainError:
            return False
        if outcome is not None:
            self.metrics.session_locks.inc()
        return outcome is not None

    async def expire_many(self, conv_ids: Sequence[str]) -> list[str]:
        """Many timers fired at once (a lock storm), in chunks
        (``EXPIRE_FIRST`` windows, doubling up to ``EXPIRE_CHUNK``), each
        in one pass: read in one read, decided by the rule, committed at
        once (``Store.commit_many``: one SQLite transaction; pipelined
        scripts on Redis) and published at once
        (``Changes.publish_many``). The chunks overlap: while one commits
        (on the writer thread, or in Redis) the loop publishes the one
        before and reads and decides the one after, so the first locks leave
        early and a node that dies holds few locks committed and not yet
        published. Chunks are published in order: per stream, the same
        events in the same order as one at a time. One changed by another
        writer meanwhile goes through ``expire`` (the compare-and-set loop).
        Returns the ids that could not be expired (to fire again); raises
        when the store cannot be asked (the chunks before were published;
        firing them again finds them locked). The garbage collector is
        paused meanwhile (``collector.paused``: it would scan the storm's
        live objects over and over)."""
        with collector.paused():
            return await self._expire_many(conv_ids)

    async def _expire_many(self, conv_ids: Sequence[str]) -> list[str]:
        policy = self.catalog.policy
        now = self.clock()
        failed: list[str] = []
        wanted = list(dict.fromkeys(conv_ids))

        shown: dict[str, Shown] = {}
        """The prepared locks' contacts and summaries, for ``publish_many``."""

        async def decide(ids: list[str]) -> list[rules.Outcome]:
            # Decided ahead (``warm``): as stored then; the commit's version check
            # refuses any that changed since (they go through ``expire``).
            prepared = self._prepared
            ready = {i: r for i in ids if (r := prepared.pop(i, None)) is not None and r.due <= now}
            found = await self.store.get_conversations([i for i in ids if i not in ready]) if len(ready) < len(ids) else {}
            outcomes = []
            for i in ids:
                r = ready.get(i)
                if r is not None:
                    outcomes.append(rules.stamped(r.outcome, now))
                    shown[i] = r.shown
                    continue
                conv = found.get(i)
                if conv is None:
                    continue
                outcome = rules.expire(conv, policy(conv.channel), now, message_id=self.mint.in_thread("m", conv.id))
                if outcome is not None:
                    outcomes.append(outcome)
            return outcomes

        async def commit(outcomes: list[rules.Outcome]) -> asyncio.Future[list[StoreError | None]]:
            started = asyncio.ensure_future(self.store.commit_many(outcomes))
            await asyncio.sleep(0)  # let it start (hand its transaction to the writer thread) before going on
            return started

        chunks = _chunks(wanted)
        committing: asyncio.Future[list[StoreError | None]] | None = None
        try:
            chunk = await decide(chunks[0]) if chunks else []
            pending = committing = await commit(chunk)
            for k in range(len(chunks)):
                following = await decide(chunks[k + 1]) if k + 1 < len(chunks) else None
                results = await pending
                committing = None
                if following is not None:
                    pending = committing = await commit(following)
                stored = [outcome for outcome, refused in zip(chunk, results, strict=True) if refused is None]
                await self.changes.publish_many(stored, shown)
                self.metrics.session_locks.inc(len(stored))
                for outcome, refused in zip(chunk, results, strict=True):
                    if isinstance(refused, VersionConflict):
                        try:
                            await self.expire(outcome.after.id)
                        except Exception:
                            log.exception("session timer for %s failed", outcome.after.id)
                            failed.append(outcome.after.id)
                chunk = following or []
        finally:
            if committing is not None and not committing.done():  # something failed: let it end, then raise
                await asyncio.gather(committing, return_exceptions=True)
            self._forget_prepared(now)
        return failed

    def _forget_prepared(self, now: int) -> None:
        """Drop the locks decided ahead whose moment passed ``PREPARED_KEEP_MS`` ago unfired."""
        if self._prepared:
            stale = now - PREPARED_KEEP_MS
            self._prepared = {i: r for i, r in self._prepared.items() if r.due >= stale}

    async def warm(self, conv_ids: Sequence[str]) -> None:
        """Windows about to pass together (the timers' ``prepare``, a few
        seconds ahead of a storm): each one's lock decided ahead
        (``rules.expire_ahead``) with its summary after, kept until it
        fires, so the storm reads, decides and builds nothing at due time
        (the contacts are read again only when one was written meanwhile,
        ``Store.contact_writes``: one edited gets its summary built anew)
        and stamps each lock's timeline entry with the time it fires
        (``rules.stamped``). A hint, never a decision: nothing is
        stored or published here; a conversation changed since fails its
        commit's version check and is expired the usual way. Building the
        summaries also fills the caches they use (``views._shown``, and
        above all ``identity.format_phone``: ~40 µs the first time per
        number, e.g. after a restart). At most ``PREPARED_MAX`` kept;
        unfired ones are dropped ``PREPARED_KEEP_MS`` after their moment."""
        policy, summary, mint = self.catalog.policy, self.catalog.summary, self.mint
        self._forget_prepared(self.clock())
        for at in range(0, len(conv_ids), EXPIRE_CHUNK):
            convs = list((await self.store.get_conversations(conv_ids[at : at + EXPIRE_CHUNK])).values())
            writes = await self.store.contact_writes()  # before the contacts are read
            room = PREPARED_MAX - len(self._prepared)
            for conv, contact in zip(convs, await self.directory.contacts_of(convs), strict=True):
                ahead = rules.expire_ahead(conv, policy(conv.channel), message_id=mint.in_thread("m", conv.id)) if room > 0 else None
                if ahead is None:
                    summary(conv, contact)  # for the caches alone
                    continue
                due, outcome = ahead
                self._prepared[conv.id] = _Prepared(due, outcome, Shown(contact, summary(outcome.after, contact), writes))
                room -= 1

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

        async def attempt() -> Planned | None:
            message = await self.store.get_message(message_id)
            if message is None:
                return None
            conv = await self.changes.load(message.conversation_id)
            outcome = rules.delivery(
                conv, message, status, channel_message_id=channel_message_id, error=error, window_closed=window_closed
            )
            return Planned(outcome) if outcome is not None else None

        return await self.changes.apply(attempt) is not None

    async def delivery_by_channel_id(
        self, channel_message_id: str, status: str, *, error: tuple[str, str] | None = None
    ) -> bool:
        """A status webhook names Meta's id (wamid / mid); map it to ours."""
        message = await self.store.message_by_channel_id(channel_message_id)
        if message is None:
            return False
        return await self.delivery(message.id, status, error=error)

    async def react(self, touchpoint_id: str, target: str, emoji: str) -> bool:
        """The contact reacted to the message Meta knows as ``target`` (an
        empty ``emoji``: took their reaction back). The reaction goes on that
        message (``message.updated``); it is never a message of its own.
        False when the message is unknown here (the caller keeps the
        reaction as a line of the thread instead)."""
        message = await self._target(touchpoint_id, target)
        if message is None:
            return False

        async def attempt() -> Planned | None:
            current = await self.store.get_message(message.id)
            updated = media_rules.react(current, emoji) if current is not None else None
            if updated is None:
                return None
            return Planned(rules.message_changed(await self.changes.load(updated.conversation_id), updated))

        await self.changes.apply(attempt)
        return True

    async def quote_of(self, channel_message_id: str) -> Quote | None:
        """What a reply quotes: the message Meta knows as ``channel_message_id``."""
        message = await self.store.message_by_channel_id(channel_message_id)
        if message is None:
            return None
        return Quote(id=message.id, kind=message.kind, text=message.text, direction=message.direction)

    async def our_id_of(self, channel_message_id: str) -> str | None:
        """Our id of the message Meta knows as ``channel_message_id`` (a reply's target)."""
        message = await self.store.message_by_channel_id(channel_message_id)
        return message.id if message is not None else None

    async def outbound(self, touchpoint_id: str, channel_message_id: str, our_id: str | None) -> Message | None:
        """Our outbound message a report is about: by Meta's id, else by the
        id we sent along (only if it was sent from this touchpoint)."""
        message = await self.store.message_by_channel_id(channel_message_id)
        if message is None and our_id:
            message = await self.store.get_message(our_id)
            if message is not None:
                conv = await self.store.get_conversation(message.conversation_id)
                if conv is None or conv.touchpoint_id != touchpoint_id:
                    return None
        return message if message is not None and message.direction == "out" else None

    async def watermark(
        self, touchpoint_id: str, who: ident.Identity, status: str, watermark: int, mids: Sequence[str]
    ) -> None:
        """Messenger says every message the Page sent before ``watermark`` is
        delivered (or read). Walk our side of the contact's latest
        conversation back, page by page from the newest, until a page holds
        nothing left to move: older ones were settled by an earlier
        watermark. ``mids``: messages it names, possibly of an older conversation."""
        contacts = await self.directory.find(who)
        conv = await self.store.latest_conversation(contacts[0].id, touchpoint_id) if contacts else None
        if conv is not None:
            target = rules.DELIVERY_RANK[status]
            before: int | None = None
            for _ in range(WATERMARK_PAGES):
                page = await self.store.messages(conv.id, before, WATERMARK_PAGE)
                moved = settled = 0
                for m in page:
                    if m.direction != "out" or m.at > watermark or m.status in ("pending", "failed"):
                        continue
                    if rules.DELIVERY_RANK[m.status] >= target:
                        settled += 1
                    elif await self.delivery(m.id, status):
                        moved += 1
                if not page or page[0].seq <= 1 or (settled and not moved):
                    break
                before = page[0].seq
        for mid in mids:
            message = await self.outbound(touchpoint_id, mid, None)
            if message is not None:
                await self.delivery(message.id, status)
