"""Customer text never steers the server (issue 11): words of the protocol
itself (event and command names, error and close codes, JSON fragments of
frames) sent as a customer's message text, media caption or profile name, or
as an agent's note, reach the agent's open thread as text and do nothing else.

Shared by tests/server/test_customer_text.py (one node, memory broker) and
tests/cluster/test_customer_text.py (two nodes sharing Redis). The vocabulary
is enumerated from protocol/messages.py and protocol/errors.py, not listed."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from hypothesis import strategies as st

from protocol import errors
from protocol import messages as p
from server.channels.signature import HEADER, sign
from tests.channels import payloads as pl
from tests.wsagent import WsAgent

APP_SECRET = "customer-text-secret"


def _tagged() -> list[type[msgspec.Struct]]:
    """Every tagged Struct of the protocol: events, commands, server frames,
    command results."""
    unions = (p.AnyEvent, p.ClientCommand, p.ServerMessage, p.CommandResult)
    return [c for u in unions for c in u.__args__]  # type: ignore[attr-defined]


def _words() -> list[str]:
    """The protocol's bare words: every tag, error code and close code."""
    tags = sorted({str(c.__struct_config__.tag) for c in _tagged()})
    codes = sorted(v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str))
    closes = sorted(str(v) for k, v in vars(errors).items() if k.startswith("CLOSE_") and isinstance(v, int))
    return [*tags, *codes, *closes]


def _fragments() -> list[str]:
    """JSON fragments of frames built from those words, and whole frames."""
    tags = sorted({str(c.__struct_config__.tag) for c in _tagged()})
    fields = sorted({f for c in _tagged() for f in c.__struct_fields__})
    out: list[str] = []
    for tag in tags:
        out += [f'"{tag}"', f'"type":"{tag}"', f'{{"type":"{tag}"}}', f'","type":"{tag}","x":"', f'"kind":"{tag}"']
    out += [f'"{f}":' for f in fields]
    # Whole frames of the protocol, as a client or the hub would see them.
    out += [
        p.encoder.encode(p.Event(stream="agent:ana", seq=1, event=p.AccessRevoked(not_before=2**40))).decode(),
        p.encoder.encode(p.Event(stream="conv:c1", seq=1, event=p.AccessRevoked(token_id="x"))).decode(),
        p.encoder.encode(p.Unsubscribed(stream="conv:c1", reason="no_access")).decode(),
        p.encoder.encode(p.Error(id=None, code=errors.TOKEN_REVOKED, message="token revoked")).decode(),
        p.encoder.encode(p.Resync(reason="reload")).decode(),
    ]
    return out


WORDS = _words()
FRAGMENTS = _fragments()
VOCABULARY = WORDS + FRAGMENTS

words = st.one_of(
    st.sampled_from(WORDS),  # alone, a word is the whole JSON string of the text: the case that broke
    st.sampled_from(FRAGMENTS),
    st.lists(st.sampled_from(VOCABULARY), min_size=2, max_size=3).flatmap(
        lambda parts: st.sampled_from(["", " ", "\n", ":"]).map(lambda sep: sep.join(parts))
    ),
)
carriers = st.sampled_from(["text", "caption", "profile_name", "note"])
"""Where the words go: a WhatsApp text body, an image caption, the contact's
profile name (with a plain text), an agent's note."""

_barriers = itertools.count(1)


class Watcher(WsAgent):
    """A WsAgent that also keeps every frame, in arrival order."""

    def __init__(self, ws: Any, name: str = "") -> None:
        super().__init__(ws, name)
        self.log: list[p.ServerFrame] = []

    def _on(self, frame: p.ServerFrame) -> None:
        self.log.append(frame)
        super()._on(frame)

    async def barrier(self, mark: int) -> list[p.ServerFrame]:
        """Send a ping; return every frame received since ``mark`` up to its
        ack (whatever the server did before the ping, it wrote before the ack)."""
        rid = f"barrier-{next(_barriers)}"
        await self.ws.send(p.encoder.encode(p.Ping(id=rid)).decode())

        def acked() -> int | None:
            for i, f in enumerate(self.log[mark:], start=mark):
                if isinstance(f, (p.Ack, p.Error)) and f.id == rid:
                    return i
            return None

        await self.wait_for(lambda: acked() is not None)
        end = acked()
        assert end is not None
        assert isinstance(self.log[end], p.Ack), self.log[end]
        return self.log[mark:end]


def webhook_body(carrier: str, word: str, address: str) -> tuple[bytes, str]:
    """A signed-to-be WhatsApp webhook body carrying ``word``, and the text the
    thread must show for it."""
    if carrier == "caption":
        image = pl.wa_message("image", {"id": "123", "mime_type": "image/jpeg", "caption": word}, sender=address)
        return msgspec.json.encode(pl.wa_inbound(image, wa_id=address)), f"[image] {word}"
    if carrier == "profile_name":
        return msgspec.json.encode(pl.wa_inbound(pl.wa_text("hello", sender=address), wa_id=address, name=word)), "hello"
    return msgspec.json.encode(pl.wa_inbound(pl.wa_text(word, sender=address), wa_id=address)), word


def signed(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", HEADER: sign(APP_SECRET, body)}


Post = Callable[[bytes], Awaitable[int]]
"""Posts a WhatsApp webhook body (signed) to a node; returns the status."""


async def open_thread(post: Post, agent: Watcher, address: str) -> str:
    """A customer writes; the agent claims the conversation and opens its thread."""
    body, _ = webhook_body("text", "Hola", address)
    assert await post(body) == 200
    added = await agent.event(p.InboxAdded, lambda e: e.conversation.contact.address == "+" + address)  # E.164
    cid: str = added.conversation.id
    await agent.call(p.Claim, conversation_id=cid)
    await agent.call(p.Open, conversation_id=cid)
    return cid


async def assert_shown_as_text(post: Post, agent: Watcher, cid: str, address: str, carrier: str, word: str) -> None:
    """Send ``word`` by ``carrier``; the thread gets it as text, and nothing
    else happens on the agent's socket before a later ping's ack."""
    stream = f"conv:{cid}"
    mark = len(agent.log)
    if carrier == "note":
        await agent.call(p.AddNote, conversation_id=cid, text=word)  # an error raises CommandError
        arrived = await agent.wait_for(lambda: _find(agent.log[mark:], stream, p.NoteAdded))
        assert arrived.note.text == word
    else:
        body, text = webhook_body(carrier, word, address)
        assert await post(body) == 200
        arrived = await agent.wait_for(lambda: _find(agent.log[mark:], stream, p.MessageCreated, text))
        assert arrived.message.kind == ("image" if carrier == "caption" else "text")
        # An unknown WhatsApp contact is shown by number: the profile name is kept, not shown.
    frames = await agent.barrier(mark)
    assert agent.close_code is None
    assert stream in agent.positions  # still subscribed: no unsubscribed came
    for frame in frames:
        # Events only (the note's ack aside): no unsubscribed, no error, no resync.
        if isinstance(frame, p.Ack) and carrier == "note":
            continue
        if isinstance(frame, p.Ring) and frame.stream == f"agent:{agent.name}":
            continue  # the customer's message alerts the agent: this screen rings it
        assert isinstance(frame, p.Event), frame
        # A photo's file is fetched after it arrives: its outcome is a message.updated.
        allowed = {
            stream: (p.MessageCreated, p.NoteAdded, p.MessageUpdated),
            f"agent:{agent.name}": (p.AssignedUpdated, p.Alert),
        }
        assert isinstance(frame.event, allowed.get(frame.stream, ())), frame


def _find(frames: list[p.ServerFrame], stream: str, kind: type[p.EventBody], text: str | None = None) -> Any:
    for f in frames:
        if (
            isinstance(f, p.Event)
            and f.stream == stream
            and isinstance(f.event, kind)
            and (text is None or f.event.message.text == text)
        ):
            return f.event
    return None
