"""A small contact center for store tests.

Every value handed to a store is made by the real core rules
(``server.core.conversation``), with a hand-driven clock and readable,
increasing ids, so the contract suite stores the Outcomes the service would.
Methods named ``decide_*`` only decide; the others also commit and return
the committed Outcome.
"""

from __future__ import annotations

from collections.abc import Callable

from server.core import conversation as rules
from server.core.conversation import Outcome
from server.core.ids import in_shard, thread_shard
from server.core.model import Agent, Contact, Conversation, Inbound, Template, Touchpoint, WindowPolicy, contact_id
from server.store.base import Store

WA = Touchpoint(id="wa", channel="whatsapp", name="+1 555 0100", queue_id="sales", address="100200300")
WA2 = Touchpoint(id="wa2", channel="whatsapp", name="+1 555 0199", queue_id="sales", address="100200399")
FB = Touchpoint(id="fb", channel="messenger", name="Acme Store", queue_id="support", address="998877")

ANA = Agent(id="ana", name="Ana Souza", queues=("sales",))
BRUNO = Agent(id="bruno", name="Bruno Díaz", queues=("sales", "support"))
SOFIA = Agent(id="sofia", name="Sofía Ramos", role="supervisor", queues=("sales", "support"))

WINDOW_MS = 3_600_000
POLICIES = {
    "whatsapp": WindowPolicy(window_seconds=WINDOW_MS / 1000, templates=True),
    "messenger": WindowPolicy(window_seconds=WINDOW_MS / 1000, extended_seconds=7 * WINDOW_MS / 1000),
}
HELLO = Template(name="hello", language="en_US", text="Hello {{1}}, how can we help?")
DISPOSITIONS = ("Resolved", "Sale", "Spam")

T0 = 1_700_000_000_000


class World:
    def __init__(self, store: Store, *, first_serial: int = 0) -> None:
        self.store = store
        self.now = T0
        self._serial = first_serial
        """Ids are <prefix><serial>: a second World on one store starts further on."""

    def tick(self, ms: int = 1000) -> int:
        """Advance the clock, so every step has its own time (and activity order)."""
        self.now += ms
        return self.now

    def new_id(self, prefix: str, *, of: Conversation | tuple[Contact, Touchpoint] | None = None) -> str:
        """Minted as the service mints them: a conversation's or message's id
        names its thread's shard (server/core/ids.py)."""
        self._serial += 1
        base = f"{prefix}{self._serial:04d}"
        if of is None:
            return base
        contact_id_, tp_id = (of.contact_id, of.touchpoint_id) if isinstance(of, Conversation) else (of[0].id, of[1].id)
        return in_shard(base, thread_shard(contact_id_, tp_id))

    # ------------------------------------------------------------------ reading

    async def conv(self, conv_id: str) -> Conversation:
        conv = await self.store.get_conversation(conv_id)
        assert conv is not None, conv_id
        return conv

    async def contact(
        self, address: str, *, tp: Touchpoint = WA, name: str | None = None, profile_name: str | None = None
    ) -> Contact:
        found = await self.store.get_contact(contact_id(tp.channel, address))
        if found is not None and name is None and profile_name is None:
            return found
        made = Contact(
            id=contact_id(tp.channel, address),
            channel=tp.channel,
            address=address,
            name=name,
            profile_name=profile_name,
        )
        await self.store.put_contact(made)
        return made

    # ------------------------------------------------------------------ inbound

    async def decide_receive(
        self,
        text: str,
        *,
        address: str = "5511900000001",
        tp: Touchpoint = WA,
        channel_message_id: str | None = None,
        latest: Conversation | bool | None = True,
    ) -> Outcome:
        """What receiving would store; ``latest=True`` reads it from the store."""
        contact = await self.contact(address, tp=tp)
        if latest is True:
            latest = await self.store.latest_conversation(contact.id, tp.id)
        assert latest is not True and latest is not False
        now = self.tick()
        inbound = Inbound(
            kind="text", text=text, at=now, channel_message_id=channel_message_id or self.new_id(f"wamid.{tp.id}.")
        )
        return rules.receive(
            latest,
            new_conversation_id=self.new_id("c", of=(contact, tp)),
            message_id=self.new_id("m", of=(contact, tp)),
            entry_id=self.new_id("m", of=(contact, tp)),
            touchpoint=tp,
            contact=contact,
            inbound=inbound,
            policy=POLICIES[tp.channel],
            now=now,
        )

    async def receive(self, text: str, *, address: str = "5511900000001", tp: Touchpoint = WA, **kw: object) -> Outcome:
        contact = await self.contact(address, tp=tp)
        latest = await self.store.latest_conversation(contact.id, tp.id)
        outcome = await self.decide_receive(text, address=address, tp=tp, latest=latest, **kw)  # type: ignore[arg-type]
        await self.store.commit(outcome, expected_latest=latest.id if latest else None)
        return outcome

    async def start(self, address: str, *, agent: Agent = ANA, tp: Touchpoint = WA) -> Outcome:
        """An outbound conversation opened with the HELLO template."""
        contact = await self.contact(address, tp=tp)
        latest = await self.store.latest_conversation(contact.id, tp.id)
        outcome = rules.start(
            latest,
            new_conversation_id=self.new_id("c", of=(contact, tp)),
            message_id=self.new_id("m", of=(contact, tp)),
            actor=agent,
            touchpoint=tp,
            contact=contact,
            policy=POLICIES[tp.channel],
            now=self.tick(),
            template=HELLO,
            params=["Maria"],
        )
        await self.store.commit(outcome, expected_latest=latest.id if latest else None)
        return outcome

    # ------------------------------------------------------------------ changes

    async def change(self, conv_id: str, decide: Callable[[Conversation], Outcome | None]) -> Outcome:
        outcome = decide(await self.conv(conv_id))
        assert outcome is not None
        await self.store.commit(outcome)
        return outcome

    def decide_send(self, conv: Conversation, text: str, agent: Agent = ANA) -> Outcome:
        return rules.send(
            conv, agent, text, message_id=self.new_id("m", of=conv), policy=POLICIES[conv.channel], now=self.tick()
        )

    async def claim(self, conv_id: str, agent: Agent = ANA) -> Outcome:
        return await self.change(conv_id, lambda c: rules.claim(c, agent))

    async def send(self, conv_id: str, text: str, agent: Agent = ANA) -> Outcome:
        return await self.change(conv_id, lambda c: self.decide_send(c, text, agent))

    async def end(self, conv_id: str, agent: Agent = ANA) -> Outcome:
        return await self.change(conv_id, lambda c: rules.end(c, agent, self.tick()))

    async def to_inbox(self, conv_id: str, agent: Agent = ANA) -> Outcome:
        tp = {t.id: t for t in (WA, WA2, FB)}
        return await self.change(conv_id, lambda c: rules.send_to_inbox(c, agent, tp[c.touchpoint_id]))

    async def note(self, conv_id: str, text: str, agent: Agent = ANA, *, note_id: str | None = None) -> Outcome:
        return await self.change(
            conv_id, lambda c: rules.add_note(c, agent, text, note_id=note_id or self.new_id("n"), now=self.now)
        )

    async def wrap_up(self, conv_id: str, disposition: str = "Resolved", note: str = "", agent: Agent = ANA) -> Outcome:
        return await self.change(
            conv_id,
            lambda c: rules.wrap_up(c, agent, disposition, note, dispositions=DISPOSITIONS, now=self.tick()),
        )

    async def expire(self, conv_id: str) -> Outcome:
        """Jump past the reply window and lock it."""
        conv = await self.conv(conv_id)
        assert conv.last_inbound_at is not None
        self.now = max(self.now, conv.last_inbound_at + 8 * WINDOW_MS)
        return await self.change(conv_id, lambda c: rules.expire(c, POLICIES[c.channel], self.now, message_id=self.new_id("m", of=c)))

    async def decide_delivery(self, message_id: str, status: str, **kw: object) -> Outcome:
        message = await self.store.get_message(message_id)
        assert message is not None, message_id
        conv = await self.conv(message.conversation_id)
        outcome = rules.delivery(conv, message, status, **kw)  # type: ignore[arg-type]
        assert outcome is not None
        return outcome

    async def deliver(self, message_id: str, status: str, **kw: object) -> Outcome:
        outcome = await self.decide_delivery(message_id, status, **kw)
        await self.store.commit(outcome)
        return outcome


def ids(convs: list[Conversation]) -> list[str]:
    return [c.id for c in convs]
