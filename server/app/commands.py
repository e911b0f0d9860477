"""Agent commands that change a conversation: claim, assign, send, start,
notes, wrap-up... Each is one ``Changes.change`` (or ``against_latest``)
around one core rule; the result is what the agent's ack carries."""

from __future__ import annotations

import logging
from collections.abc import Callable

from msgspec.structs import replace

from protocol import errors
from protocol import messages as p
from server.app.catalog import Catalog
from server.app.changes import Changes, Planned
from server.app.contacts import Contacts
from server.app.directory import Directory
from server.app.minting import Mint
from server.app.reads import Reads
from server.app.uploads import Uploads
from server.core import conversation as rules
from server.core import identity as ident
from server.core import routing, views
from server.core.errors import DomainError
from server.core.model import Agent, Conversation, Message, SentRequest

log = logging.getLogger(__name__)

RETRY_WINDOW = 50
"""A retried ``send_media`` finds its message among the thread's newest this many."""


def _nothing_recorded(what: str, conv_id: str) -> DomainError:
    """The rules answered a command without the record it makes: a bug,
    logged, and told to the caller as ``internal`` (never a crash)."""
    log.error("%s: the rules recorded no %s", conv_id, what)
    return DomainError(errors.INTERNAL, f"Internal error: no {what} was recorded.")


class Commands:
    def __init__(
        self,
        catalog: Catalog,
        changes: Changes,
        reads: Reads,
        directory: Directory,
        contacts: Contacts,
        mint: Mint,
        clock: Callable[[], int],
        uploads: Uploads | None = None,
        idempotency_ms: int = 24 * 3600 * 1000,
    ) -> None:
        self.idempotency_ms = idempotency_ms
        """How long a send's idempotency key is kept (``server.idempotency_key_seconds``)."""
        self.uploads = uploads
        """Checks the upload ids of ``send_media`` (None: files cannot be sent)."""
        self.catalog = catalog
        self.changes = changes
        self.reads = reads
        self.directory = directory
        self.contacts = contacts
        self.mint = mint
        self.clock = clock

    async def _change(
        self, agent: Agent, conv_id: str, decide: Callable[[Conversation], rules.Outcome | None]
    ) -> tuple[Conversation, rules.Outcome | None]:
        return await self.changes.change(conv_id, decide, agent_known=lambda c: rules.require_known(agent, c))

    async def _result(self, conv: Conversation) -> p.ConversationResult:
        return p.ConversationResult(conversation=await self.reads.summary(conv))

    async def _message_result(self, conv: Conversation, outcome: rules.Outcome | None) -> p.MessageResult:
        if outcome is None or outcome.message is None:
            raise _nothing_recorded("message", conv.id)
        return p.MessageResult(conversation=await self.reads.summary(conv), message=views.message_view(outcome.message))

    def _timeline(
        self, conv: Conversation, outcome: rules.Outcome, event: routing.TimelineEvent, **who: str | None
    ) -> rules.Outcome:
        """In an automatic queue, a change of hands carries its timeline entry
        (same commit). Manual queues stay as they were: no entries."""
        queue = self.catalog.queues.get(conv.queue_id)
        if queue is None or queue.routing != "automatic":
            return outcome
        message_id = self.mint.in_thread("m", conv.id)
        return routing.recorded(outcome, event, message_id=message_id, now=self.clock(), **who)

    async def claim(self, agent: Agent, conv_id: str) -> p.ConversationResult:
        conv, _ = await self._change(
            agent, conv_id, lambda c: self._timeline(c, rules.claim(c, agent), "claimed", agent_id=agent.id)
        )
        return await self._result(conv)

    async def assign(self, agent: Agent, conv_id: str, target_id: str) -> p.ConversationResult:
        target = self.catalog.agent(target_id)
        conv, _ = await self._change(
            agent,
            conv_id,
            lambda c: self._timeline(c, rules.assign(c, agent, target), "assigned", agent_id=target.id, by=agent.id),
        )
        return await self._result(conv)

    async def send_to_inbox(self, agent: Agent, conv_id: str) -> p.ConversationResult:
        touchpoints = self.catalog.touchpoints
        conv, _ = await self._change(
            agent,
            conv_id,
            lambda c: self._timeline(c, rules.send_to_inbox(c, agent, touchpoints[c.touchpoint_id]), "sent_to_inbox", by=agent.id),
        )
        return await self._result(conv)

    async def end(self, agent: Agent, conv_id: str) -> p.ConversationResult:
        conv, _ = await self._change(
            agent, conv_id, lambda c: self._timeline(c, rules.end(c, agent, self.clock()), "ended", by=agent.id)
        )
        return await self._result(conv)

    async def read(self, agent: Agent, conv_id: str) -> p.ConversationResult:
        conv, _ = await self._change(agent, conv_id, lambda c: rules.read(c, agent))
        return await self._result(conv)

    def _keyed(self, outcome: rules.Outcome, agent: Agent, key: str | None) -> rules.Outcome:
        """The outcome carrying the send's idempotency key (stored in its commit)."""
        if key is None or outcome.message is None:
            return outcome
        request = SentRequest(
            agent_id=agent.id, key=key, message_id=outcome.message.id, at=self.clock(), ttl_ms=self.idempotency_ms
        )
        return replace(outcome, request=request)

    async def _sent_before(self, agent: Agent, contact_id: str, touchpoint_id: str, key: str | None) -> Message | None:
        """The message an earlier send with this key made in the thread, if any."""
        if key is None:
            return None
        store = self.changes.store
        message_id = await store.sent_request(contact_id, touchpoint_id, agent.id, key, self.clock())
        return await store.get_message(message_id) if message_id is not None else None

    async def _sent_result(self, message: Message) -> p.MessageResult:
        """A repeated send's answer: the first send's message, as it is now."""
        conv = await self.changes.load(message.conversation_id)
        return p.MessageResult(conversation=await self.reads.summary(conv), message=views.message_view(message))

    async def _send_once(
        self, agent: Agent, conv_id: str, key: str | None, decide: Callable[[Conversation], rules.Outcome]
    ) -> p.MessageResult:
        """A send into an existing conversation; with a key, at most once."""
        earlier: list[Message] = []

        async def attempt() -> Planned | None:
            conv = await self.changes.load(conv_id)
            rules.require_known(agent, conv)
            found = await self._sent_before(agent, conv.contact_id, conv.touchpoint_id, key)
            if found is not None:
                earlier[:] = [found]
                return None
            return Planned(self._keyed(decide(conv), agent, key))

        outcome = await self.changes.apply(attempt)
        if outcome is None:
            return await self._sent_result(earlier[0])
        return await self._message_result(outcome.after, outcome)

    async def send(self, agent: Agent, conv_id: str, body: str, key: str | None = None) -> p.MessageResult:
        message_id = self.mint.in_thread("m", conv_id)
        policy = self.catalog.policy
        return await self._send_once(
            agent,
            conv_id,
            key,
            lambda c: rules.send(c, agent, body, message_id=message_id, policy=policy(c.channel), now=self.clock()),
        )

    async def send_template(
        self, agent: Agent, conv_id: str, ref: p.TemplateRef, key: str | None = None
    ) -> p.MessageResult:
        template = self.catalog.template(ref)
        message_id = self.mint.in_thread("m", conv_id)
        policy = self.catalog.policy
        return await self._send_once(
            agent,
            conv_id,
            key,
            lambda c: rules.send_template(
                c, agent, template, ref.params, message_id=message_id, policy=policy(c.channel), now=self.clock()
            ),
        )

    async def send_media(
        self, agent: Agent, conv_id: str, upload_id: str, caption: str, key: str | None = None
    ) -> p.MessageResult:
        """Send an uploaded file. Idempotent: the same upload again (a retry
        after a lost ack) answers the message it made, never a second one;
        so does the same idempotency key."""
        if self.uploads is None:
            raise DomainError(errors.NOT_SUPPORTED_ON_CHANNEL, "This node does not send files.")
        claim = self.uploads.verify(upload_id, agent_id=agent.id, conversation_id=conv_id, now=self.clock())
        message_id = self.mint.in_thread("m", conv_id)
        policy = self.catalog.policy
        earlier: list[Message] = []

        async def attempt() -> Planned | None:
            conv = await self.changes.load(conv_id)
            rules.require_known(agent, conv)
            found = await self._sent_before(agent, conv.contact_id, conv.touchpoint_id, key)
            recent = await self.changes.store.messages(conv_id, None, RETRY_WINDOW) if found is None else []
            earlier[:] = [found] if found else [m for m in recent if m.direction == "out" and m.meta.get("upload") == claim.nonce]
            if earlier:
                return None
            return Planned(
                self._keyed(
                    rules.send_media(
                        conv, agent, claim.media, caption, upload=claim.nonce, message_id=message_id,
                        policy=policy(conv.channel), now=self.clock(),
                    ),
                    agent,
                    key,
                )
            )

        outcome = await self.changes.apply(attempt)
        if outcome is None:
            return await self._sent_result(earlier[0])
        return await self._message_result(outcome.after, outcome)

    async def add_note(self, agent: Agent, conv_id: str, body: str) -> p.NoteResult:
        note_id = self.mint.new("n")
        _, outcome = await self._change(agent, conv_id, lambda c: rules.add_note(c, agent, body, note_id=note_id, now=self.clock()))
        if outcome is None or outcome.note is None:
            raise _nothing_recorded("note", conv_id)
        return p.NoteResult(note=views.note_view(outcome.note))

    async def wrap_up(self, agent: Agent, conv_id: str, disposition: str, note: str) -> p.WrapUpResult:
        dispositions = self.catalog.dispositions
        conv, outcome = await self._change(
            agent,
            conv_id,
            lambda c: rules.wrap_up(c, agent, disposition, note, dispositions=dispositions, now=self.clock()),
        )
        if outcome is None or outcome.wrap_up is None:
            raise _nothing_recorded("wrap-up", conv.id)
        return p.WrapUpResult(wrap_up=views.wrap_up_view(conv.id, outcome.wrap_up))

    async def start(self, agent: Agent, cmd: p.StartConversation) -> p.MessageResult:
        touchpoint = self.catalog.touchpoint(cmd.touchpoint_id)
        rules.require_touchpoint(agent, touchpoint)  # before saying anything about the address
        who = ident.typed_address(touchpoint.channel, cmd.address, touchpoint.default_region or None)
        template = self.catalog.template(cmd.template) if cmd.template else None
        contact = await self.contacts.learn(await self.directory.on_touchpoint(touchpoint, who), who)
        key = cmd.idempotency_key
        earlier: list[Message] = []

        async def attempt() -> Planned | None:
            found = await self._sent_before(agent, contact.id, touchpoint.id, key)
            if found is not None:
                earlier[:] = [found]
                return None
            latest = await self.changes.store.latest_conversation(contact.id, touchpoint.id)
            outcome = rules.start(
                latest,
                new_conversation_id=self.mint.new_thread("c", contact, touchpoint),
                message_id=self.mint.new_thread("m", contact, touchpoint),
                actor=agent,
                touchpoint=touchpoint,
                contact=contact,
                policy=self.catalog.policy(touchpoint.channel),
                now=self.clock(),
                template=template,
                params=cmd.template.params if cmd.template else (),
                body=cmd.text,
            )
            return Planned(self._keyed(outcome, agent, key), latest.id if latest else None, contact)

        outcome = await self.changes.apply(attempt, conflict="The contact's conversations kept changing; try again.")
        if outcome is None:
            return await self._sent_result(earlier[0])
        return await self._message_result(outcome.after, outcome)
