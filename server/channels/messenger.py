"""Messenger Platform: the webhook envelope in, the Send API request out. Pure.

A webhook POST (``object = "page"``)::

    entry[]                {id: Page id, time, messaging[]}
      messaging[]          {sender.id, recipient.id, timestamp (ms), and one of:}
        message            {mid, text, attachments[], quick_reply, reply_to}   a contact wrote
        message.is_echo    {mid, app_id, metadata, text}                        the Page sent
        delivery           {mids[], watermark}                                  delivered up to
        read               {watermark}                                          read up to
        postback           {title, payload, mid}                                a button pressed
        reaction           {mid, action, emoji}                                 a reaction

``standby`` (handover protocol, another app is in control of the thread) is
ignored. Each messaging item is decoded on its own: one that does not decode
becomes a ``Rejected`` beside the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from msgspec import Raw, Struct

from server.channels import events as ev
from server.channels.errors import Unsendable
from server.core import media as media_rules
from server.core.model import Inbound, Location, Media, Message

OBJECT = "page"
WINDOW_CLOSED = (10, 2018278)
"""(code, subcode) of "This message is sent outside of allowed window"."""


class _Entry(Struct):
    id: str | int
    time: int = 0
    messaging: list[Raw] = []
    standby: list[Raw] = []


class _Party(Struct):
    id: str | int


class _Coordinates(Struct):
    lat: float
    long: float


class _Payload(Struct):
    url: str = ""
    title: str = ""
    sticker_id: int | str | None = None
    coordinates: _Coordinates | None = None


class _Attachment(Struct):
    type: str = ""
    payload: _Payload | None = None
    title: str = ""
    url: str = ""


class _QuickReply(Struct):
    payload: str = ""


class _ReplyTo(Struct):
    mid: str = ""


class _Message(Struct):
    mid: str = ""
    text: str = ""
    is_echo: bool = False
    app_id: int | str | None = None
    metadata: str = ""
    attachments: list[_Attachment] = []
    quick_reply: _QuickReply | None = None
    reply_to: _ReplyTo | None = None


class _Delivery(Struct):
    watermark: int
    mids: list[str] = []


class _Read(Struct):
    watermark: int


class _Postback(Struct):
    title: str = ""
    payload: str = ""
    mid: str = ""


class _Reaction(Struct):
    mid: str = ""
    action: str = "react"
    emoji: str = ""
    reaction: str = ""


class _Messaging(Struct):
    sender: _Party
    recipient: _Party
    timestamp: int = 0
    message: _Message | None = None
    delivery: _Delivery | None = None
    read: _Read | None = None
    postback: _Postback | None = None
    reaction: _Reaction | None = None




def parse(body: bytes) -> ev.Batch:
    """A webhook body → its events (see ``events.parse_batch``)."""
    return ev.parse_batch(body, channel="messenger", obj=OBJECT, entry=_entry)


def _rejected(where: str, error: Exception | str) -> ev.Rejected:
    return ev.Rejected(channel="messenger", reason=f"{where}: {error}")


def _entry(i: int, raw: Raw) -> Iterator[ev.Event]:
    try:
        entry = msgspec.json.decode(raw, type=_Entry)
    except ev.ITEM_ERRORS as e:
        yield _rejected(f"entry[{i}]", e)
        return
    page = str(entry.id)
    if entry.standby:
        yield ev.Ignored(channel="messenger", what=f"{len(entry.standby)} standby items")
    for j, item_raw in enumerate(entry.messaging):
        try:
            item = msgspec.json.decode(item_raw, type=_Messaging)
            yield from _item(page, item)
        except ev.ITEM_ERRORS as e:
            yield _rejected(f"entry[{i}].messaging[{j}]", e)


def _item(page: str, item: _Messaging) -> Iterator[ev.Event]:
    sender, recipient = str(item.sender.id), str(item.recipient.id)
    if item.message is not None and item.message.is_echo:
        m = item.message
        if not m.mid:
            raise ValueError("an echo needs its mid")
        yield ev.Echo(
            channel="messenger",
            touchpoint=page,
            address=recipient,
            channel_message_id=m.mid,
            our_id=ev.untag(m.metadata),
            text=m.text,
        )
    elif item.message is not None:
        yield from _messages(page, sender, item.timestamp, item.message)
    elif item.delivery is not None:
        yield ev.Watermark(
            channel="messenger",
            touchpoint=page,
            address=sender,
            status="delivered",
            watermark=item.delivery.watermark,
            mids=tuple(item.delivery.mids),
        )
    elif item.read is not None:
        yield ev.Watermark(
            channel="messenger", touchpoint=page, address=sender, status="read", watermark=item.read.watermark
        )
    elif item.postback is not None:
        pb = item.postback
        meta = {"interactive_type": "postback", "payload": pb.payload}
        inbound = Inbound(
            kind="interactive",
            text=_join("[button]", pb.title),
            at=item.timestamp,
            channel_message_id=pb.mid or f"postback:{sender}:{item.timestamp}",
            meta=meta,
        )
        yield ev.InboundMessage(channel="messenger", touchpoint=page, address=sender, inbound=inbound)
    elif item.reaction is not None:
        r = item.reaction
        removed = r.action == "unreact"
        meta = {"reacted_to": r.mid} if r.mid else {}
        if r.emoji and not removed:
            meta["emoji"] = r.emoji
        inbound = Inbound(
            kind="reaction",
            text="[reaction removed]" if removed else _join("[reaction]", r.emoji or r.reaction),
            at=item.timestamp,
            # Reactions have no id of their own: this one is stable across Meta's retries.
            channel_message_id=f"reaction:{r.mid}:{r.action}:{sender}:{item.timestamp}",
            meta=meta,
        )
        yield ev.InboundMessage(
            channel="messenger", touchpoint=page, address=sender, inbound=inbound, reply_to=r.mid or None
        )
    else:
        yield ev.Ignored(channel="messenger", what="messaging item of an unused kind")


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


ATTACHMENT_KINDS = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "file": "document",
    "location": "location",
    "fallback": "link",
    "template": "template",
}


def _attachment(a: _Attachment) -> tuple[str, str, dict[str, str]]:
    """(kind, readable text, metadata) of one attachment."""
    payload = a.payload or _Payload()
    kind = ATTACHMENT_KINDS.get(a.type, "unsupported")
    meta: dict[str, str] = {} if kind != "unsupported" else {"messenger_type": a.type}
    url = payload.url or a.url
    if url:
        meta["url"] = url
    if kind == "image" and payload.sticker_id is not None:
        kind = "sticker"
        meta["sticker_id"] = str(payload.sticker_id)
    if kind == "location" and payload.coordinates is not None:
        c = payload.coordinates
        meta |= {"latitude": repr(c.lat), "longitude": repr(c.long)}
        return kind, _join("[location]", payload.title or a.title or f"{c.lat}, {c.long}"), meta
    title = payload.title or a.title
    if title:
        meta["title"] = title
    label = {"unsupported": "unsupported message", "document": "file"}.get(kind, kind)
    return kind, _join(f"[{label}]", title), meta


def _messages(page: str, sender: str, at: int, m: _Message) -> Iterator[ev.InboundMessage]:
    """One contact message. Text and each attachment become one thread
    message each; the first keeps Meta's mid, the others ``mid#2``, ``mid#3``…
    so Meta's retry of the same mid is still recognised, part by part."""
    if not m.mid:
        raise ValueError("a message needs its mid")
    parts: list[tuple[str, str, dict[str, str]]] = []
    if m.text or not m.attachments:
        meta: dict[str, str] = {}
        kind = "text"
        if m.quick_reply is not None:
            kind = "interactive"
            meta = {"interactive_type": "quick_reply", "payload": m.quick_reply.payload}
        parts.append((kind, m.text, meta))
    parts.extend(_attachment(a) for a in m.attachments)
    reply_to = m.reply_to.mid if m.reply_to and m.reply_to.mid else None
    for n, (kind, text, meta) in enumerate(parts, start=1):
        cid = m.mid if n == 1 else f"{m.mid}#{n}"
        inbound = Inbound(kind=kind, text=text, at=at, channel_message_id=cid, meta=meta, media=_media(kind, meta), location=_location(kind, meta))
        yield ev.InboundMessage(channel="messenger", touchpoint=page, address=sender, inbound=inbound, reply_to=reply_to)


def _media(kind: str, meta: dict[str, str]) -> Media | None:
    """An attachment's file, to download from its payload URL (Messenger
    states neither its size nor its hash)."""
    url = meta.get("url", "")
    if kind not in media_rules.KINDS or not url.startswith(("https://", "http://")):
        return None
    return Media(kind=kind, source_url=url, filename=meta.get("title", ""))


def _location(kind: str, meta: dict[str, str]) -> Location | None:
    if kind != "location" or "latitude" not in meta:
        return None
    lat, lon = float(meta["latitude"]), float(meta["longitude"])
    if not media_rules.valid_point(lat, lon):
        return None
    return Location(latitude=lat, longitude=lon, name=meta.get("title", ""))


# --------------------------------------------------------------------------- sending


def send_request(to: str, message: Message) -> tuple[str, dict[str, Any]]:
    """(path, JSON body) of ``POST /me/messages``. Inside the 24-hour window a
    reply is ``RESPONSE``; after it the core tagged the message HUMAN_AGENT
    (allowed up to 7 days), sent as ``MESSAGE_TAG``. Our id rides along as
    ``metadata`` and comes back in the echo."""
    if message.kind != "text":
        raise Unsendable(f"Messenger messages of kind {message.kind!r} are not sent by Switchboard.")
    body: dict[str, Any] = {
        "recipient": {"id": to},
        "messaging_type": "RESPONSE",
        "message": {"text": message.text, "metadata": ev.tag(message.id)},
    }
    tag = message.meta.get("tag")
    if tag:
        body |= {"messaging_type": "MESSAGE_TAG", "tag": tag}
    return "/me/messages", body


ATTACHMENT_TYPES = {"image": "image", "audio": "audio", "video": "video", "document": "file", "sticker": "image"}


def attachment_request(to: str, message: Message) -> tuple[str, dict[str, str]]:
    """(path, form fields) of ``POST /me/messages`` carrying a file (it goes
    as ``filedata``, multipart): Messenger takes an upload with the message,
    and never a caption (the core refuses one)."""
    if message.media is None:
        raise Unsendable("A media message without its file.")
    attachment = {"type": ATTACHMENT_TYPES[message.media.kind], "payload": {"is_reusable": False}}
    fields = {
        "recipient": msgspec.json.encode({"id": to}).decode(),
        "messaging_type": "RESPONSE",
        "message": msgspec.json.encode({"attachment": attachment, "metadata": ev.tag(message.id)}).decode(),
    }
    tag = message.meta.get("tag")
    if tag:
        fields |= {"messaging_type": "MESSAGE_TAG", "tag": tag}
    return "/me/messages", fields


def sent_id(answer: Any) -> str | None:
    """The mid in a send answer ``{"recipient_id", "message_id"}``."""
    if isinstance(answer, dict):
        mid = answer.get("message_id")
        return mid if isinstance(mid, str) and mid else None
    return None
