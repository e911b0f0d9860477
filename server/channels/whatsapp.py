"""WhatsApp Business Cloud API: the webhook envelope in, the send request out. Pure.

A webhook POST (``object = "whatsapp_business_account"``)::

    entry[]            one per WhatsApp Business Account
      changes[]        field "messages" is the one we use
        value
          metadata.phone_number_id        → the touchpoint
          contacts[]   {wa_id?, user_id, profile: {name, username?}}
          messages[]   {id: wamid, from?: wa_id, from_user_id?: BSUID, timestamp: "unix s", type, <type>: {...}}
          statuses[]   {id: wamid, status, timestamp, recipient_id?, recipient_user_id?, errors[], biz_opaque_callback_data}
          errors[]     system-level problems (logged)
      field "user_id_update": value.user_id_update[] {wa_id?, detail: {previous: {user_id}, current: {user_id}}}

Identities (Meta's business-scoped user ids, 2026): a user who adopted a
username may come without a phone number (``from``/``wa_id`` omitted); the
BSUID (``from_user_id``, ``contacts[].user_id``) is then the only identity.

Each entry, change, message and status is decoded on its own: one that does
not decode becomes a ``Rejected`` beside the others, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from msgspec import Raw, Struct, field

from server.channels import events as ev
from server.channels.errors import Unsendable
from server.core import media as media_rules
from server.core.identity import is_bsuid
from server.core.model import Inbound, Location, Media, Message, SharedContact

OBJECT = "whatsapp_business_account"
WINDOW_CLOSED = 131047
"""Re-engagement message: more than 24 hours since the customer last wrote."""

KINDS = (
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "reaction",
    "interactive",
    "button",
    "contacts",
    "order",
    "system",
    "unsupported",
)

# --------------------------------------------------------------------------- webhook shapes
# Only the fields we read; unknown fields are ignored (Meta adds fields often).


class _Entry(Struct):
    id: str | int = ""
    changes: list[Raw] = []


class _Change(Struct):
    field: str = ""
    value: Raw = Raw(b"null")  # decoded only for the fields we use


class _Metadata(Struct):
    phone_number_id: str | int
    display_phone_number: str = ""


class _Profile(Struct):
    name: str = ""
    username: str = ""


class _Contact(Struct):
    wa_id: str = ""
    user_id: str = ""
    profile: _Profile | None = None


class _Value(Struct):
    metadata: _Metadata
    contacts: list[_Contact] = []
    messages: list[Raw] = []
    statuses: list[Raw] = []
    errors: list[Raw] = []
    user_id_update: list[Raw] = []


class _IdPair(Struct):
    user_id: str = ""


class _IdDetail(Struct):
    previous: _IdPair | None = None
    current: _IdPair | None = None


class _UserIdUpdate(Struct):
    wa_id: str = ""
    detail: _IdDetail | None = None
    timestamp: str | int = 0


class _ErrorData(Struct):
    details: str = ""


class _Error(Struct):
    code: int | str = 0
    title: str = ""
    message: str = ""
    error_data: _ErrorData | None = None


class _Text(Struct):
    body: str = ""


class _Media(Struct):
    id: str = ""
    mime_type: str = ""
    sha256: str = ""
    caption: str = ""
    filename: str = ""
    voice: bool = False
    animated: bool = False


class _Location(Struct):
    latitude: float
    longitude: float
    name: str = ""
    address: str = ""
    url: str = ""


class _Reaction(Struct):
    message_id: str = ""
    emoji: str = ""


class _Reply(Struct):
    id: str = ""
    title: str = ""
    description: str = ""


class _FormReply(Struct):
    name: str = ""
    body: str = ""
    response_json: str = ""


class _Interactive(Struct):
    type: str = ""
    button_reply: _Reply | None = None
    list_reply: _Reply | None = None
    nfm_reply: _FormReply | None = None


class _Button(Struct):
    payload: str = ""
    text: str = ""


class _Name(Struct):
    formatted_name: str = ""


class _Phone(Struct):
    phone: str = ""
    wa_id: str = ""


class _SharedContact(Struct):
    name: _Name | None = None
    phones: list[_Phone] = []


class _Context(Struct):
    id: str = ""


class _System(Struct):
    body: str = ""
    type: str = ""
    wa_id: str = ""
    """user_changed_number: the new number."""
    user_id: str = ""
    """user_changed_user_id: the new BSUID."""


class _Order(Struct):
    catalog_id: str = ""
    text: str = ""
    product_items: list[Raw] = []


class _EditedBody(Struct):
    type: str = ""
    text: _Text | None = None
    image: _Media | None = None
    video: _Media | None = None
    document: _Media | None = None


class _Edit(Struct):
    original_message_id: str = ""
    message: _EditedBody | None = None


class _Revoke(Struct):
    original_message_id: str = ""


class _Message(Struct, kw_only=True):
    id: str
    timestamp: str | int
    type: str
    from_: str = field(name="from", default="")
    from_user_id: str = ""
    context: _Context | None = None
    text: _Text | None = None
    image: _Media | None = None
    video: _Media | None = None
    audio: _Media | None = None
    document: _Media | None = None
    sticker: _Media | None = None
    location: _Location | None = None
    reaction: _Reaction | None = None
    interactive: _Interactive | None = None
    button: _Button | None = None
    contacts: list[_SharedContact] | None = None
    order: _Order | None = None
    system: _System | None = None
    edit: _Edit | None = None
    revoke: _Revoke | None = None
    errors: list[_Error] = []


class _Status(Struct):
    id: str
    status: str
    timestamp: str | int = 0
    recipient_id: str = ""
    recipient_user_id: str = ""
    biz_opaque_callback_data: str = ""
    errors: list[_Error] = []


STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}
"""Meta's status → ours. ``played`` (a voice message was listened to) implies read."""


# --------------------------------------------------------------------------- parsing


def parse(body: bytes) -> ev.Batch:
    """A webhook body → its events (see ``events.parse_batch``)."""
    return ev.parse_batch(body, channel="whatsapp", obj=OBJECT, entry=_entry)


def _rejected(where: str, error: Exception | str) -> ev.Rejected:
    return ev.Rejected(channel="whatsapp", reason=f"{where}: {error}")


def _entry(i: int, raw: Raw) -> Iterator[ev.Event]:
    try:
        entry = msgspec.json.decode(raw, type=_Entry)
    except ev.ITEM_ERRORS as e:
        yield _rejected(f"entry[{i}]", e)
        return
    for j, change_raw in enumerate(entry.changes):
        where = f"entry[{i}].changes[{j}]"
        try:
            change = msgspec.json.decode(change_raw, type=_Change)
            if change.field not in ("messages", "user_id_update"):
                yield ev.Ignored(channel="whatsapp", what=f"field {change.field!r}")
                continue
            value = msgspec.json.decode(change.value, type=_Value)
        except ev.ITEM_ERRORS as e:
            yield _rejected(where, e)
            continue
        yield from _value(where, value)


def _value(where: str, value: _Value) -> Iterator[ev.Event]:
    touchpoint = str(value.metadata.phone_number_id)
    profiles: dict[str, _Profile] = {}
    for c in value.contacts:
        for key in (c.user_id, c.wa_id):
            if key and c.profile is not None:
                profiles[key] = c.profile
    for k, raw in enumerate(value.messages):
        try:
            message = msgspec.json.decode(raw, type=_Message)
            yield _message(touchpoint, message, profiles.get(message.from_user_id) or profiles.get(message.from_))
        except ev.ITEM_ERRORS as e:
            yield _rejected(f"{where}.messages[{k}]", e)
    for k, raw in enumerate(value.user_id_update):
        try:
            yield _user_id_update(touchpoint, msgspec.json.decode(raw, type=_UserIdUpdate))
        except ev.ITEM_ERRORS as e:
            yield _rejected(f"{where}.user_id_update[{k}]", e)
    for k, raw in enumerate(value.statuses):
        try:
            yield _status(touchpoint, msgspec.json.decode(raw, type=_Status))
        except ev.ITEM_ERRORS as e:
            yield _rejected(f"{where}.statuses[{k}]", e)
    for k, raw in enumerate(value.errors):
        try:
            error = msgspec.json.decode(raw, type=_Error)
            yield ev.Ignored(channel="whatsapp", what=f"system error {error.code}: {_error_text(error)}")
        except ev.ITEM_ERRORS as e:
            yield _rejected(f"{where}.errors[{k}]", e)


def _seconds_to_ms(value: str | int) -> int:
    seconds = int(value)
    if seconds < 0:
        raise ValueError(f"negative timestamp {seconds}")
    return seconds * 1000


def _message(touchpoint: str, m: _Message, profile: _Profile | None) -> ev.Event:
    """One ``messages[]`` item: a message, or what Meta reports through one
    (an edit, a deletion, a number change, a chat opened)."""
    if not m.id or not (m.from_ or m.from_user_id):
        raise ValueError("a message needs an id and a sender (from or from_user_id)")
    at = _seconds_to_ms(m.timestamp)
    if m.type in ("edit", "revoke"):
        target = (m.edit.original_message_id if m.edit else "") or (m.revoke.original_message_id if m.revoke else "")
        if not target:
            raise ValueError(f"{m.type} without original_message_id")
        text = _edited_text(m.edit.message) if m.type == "edit" and m.edit and m.edit.message else None
        if m.type == "edit" and text is None:
            raise ValueError("edit without the edited message")
        return ev.Revision(channel="whatsapp", touchpoint=touchpoint, channel_message_id=m.id, target=target, at=at, text=text)
    if m.type == "request_welcome":
        return ev.ChatOpened(
            channel="whatsapp",
            touchpoint=touchpoint,
            address=m.from_,
            user_id=m.from_user_id or None,
            username=(profile.username or None) if profile else None,
            profile_name=(profile.name or None) if profile else None,
        )
    if m.type == "system" and m.system is not None and m.system.type in ("user_changed_number", "user_changed_user_id"):
        return ev.IdentityChange(
            channel="whatsapp",
            touchpoint=touchpoint,
            old_phone=m.from_ or None,
            old_user_id=m.from_user_id or None,
            new_phone=m.system.wa_id or None,
            new_user_id=m.system.user_id or None,
            notice=m.system.body,
            at=at,
            channel_message_id=m.id,
        )
    return _inbound(touchpoint, m, profile)


def _edited_text(body: _EditedBody) -> str | None:
    if body.text is not None:
        return body.text.body
    media = body.image or body.video or body.document
    return media.caption if media is not None else None


def _user_id_update(touchpoint: str, u: _UserIdUpdate) -> ev.Event:
    previous = u.detail.previous.user_id if u.detail and u.detail.previous else ""
    current = u.detail.current.user_id if u.detail and u.detail.current else ""
    if not current or not (previous or u.wa_id):
        raise ValueError("user_id_update needs the current user id and the previous one (or the number)")
    return ev.IdentityChange(
        channel="whatsapp",
        touchpoint=touchpoint,
        old_phone=u.wa_id or None,
        old_user_id=previous or None,
        new_user_id=current,
        notice="The customer's WhatsApp user id changed.",
        at=_seconds_to_ms(u.timestamp) if u.timestamp else 0,
    )


def _inbound(touchpoint: str, m: _Message, profile: _Profile | None) -> ev.InboundMessage:
    kind, text, meta = describe(m)
    reply_to = m.context.id if m.context and m.context.id else None
    if kind == "reaction" and m.reaction is not None and m.reaction.message_id:
        reply_to = m.reaction.message_id
    inbound = Inbound(
        kind=kind,
        text=text,
        at=_seconds_to_ms(m.timestamp),
        channel_message_id=m.id,
        meta=meta,
        media=_media(kind, m),
        location=_location(m) if kind == "location" else None,
        contacts=_cards(m) if kind == "contacts" else (),
    )
    return ev.InboundMessage(
        channel="whatsapp",
        touchpoint=touchpoint,
        address=m.from_,
        inbound=inbound,
        profile_name=(profile.name or None) if profile else None,
        user_id=m.from_user_id or None,
        username=(profile.username or None) if profile else None,
        reply_to=reply_to,
    )


def _media(kind: str, m: _Message) -> Media | None:
    """The file of a media message, to fetch (Meta's media id and hash)."""
    if kind not in media_rules.KINDS:
        return None
    found: _Media | None = getattr(m, kind)
    if found is None or not found.id:
        return None
    return Media(
        kind=kind,
        source_id=found.id,
        sha256=found.sha256,
        mime_type=found.mime_type,
        filename=found.filename,
        voice=kind == "audio" and found.voice,
    )


def _location(m: _Message) -> Location | None:
    loc = m.location
    if loc is None or not media_rules.valid_point(loc.latitude, loc.longitude):
        return None
    return Location(latitude=loc.latitude, longitude=loc.longitude, name=loc.name, address=loc.address)


def _cards(m: _Message) -> tuple[SharedContact, ...]:
    cards = []
    for card in m.contacts or []:
        name = card.name.formatted_name if card.name else ""
        phones = tuple(p.phone or p.wa_id for p in card.phones if p.phone or p.wa_id)
        if name or phones:
            cards.append(SharedContact(name=name, phones=phones))
    return tuple(cards)


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _media_meta(media: _Media) -> dict[str, str]:
    meta = {"media_id": media.id, "mime_type": media.mime_type, "sha256": media.sha256}
    if media.caption:
        meta["caption"] = media.caption
    if media.filename:
        meta["filename"] = media.filename
    return {k: v for k, v in meta.items() if v}


def describe(m: _Message) -> tuple[str, str, dict[str, str]]:
    """(kind, readable text, metadata) of one inbound message. Every type is
    kept: what we do not know becomes ``unsupported`` with its type in meta."""
    kind = m.type if m.type in KINDS else "unsupported"
    meta: dict[str, str] = {} if kind == m.type else {"wa_type": m.type}
    text: str
    match kind:
        case "text":
            text = m.text.body if m.text else ""
        case "image" | "video" | "audio" | "document" | "sticker":
            media: _Media | None = getattr(m, kind)
            if media is None:
                raise ValueError(f"{kind} message without its {kind} object")
            meta |= _media_meta(media)
            if kind == "audio" and media.voice:
                meta["voice"] = "true"
                text = "[voice message]"
            elif kind == "document":
                text = _join("[document]", media.filename, ("— " + media.caption) if media.caption else "")
            elif kind == "sticker":
                meta |= {"animated": "true"} if media.animated else {}
                text = "[sticker]"
            else:
                text = _join(f"[{kind}]", media.caption)
        case "location":
            if m.location is None:
                raise ValueError("location message without its location object")
            loc = m.location
            meta |= {"latitude": repr(loc.latitude), "longitude": repr(loc.longitude)}
            meta |= {k: v for k, v in (("name", loc.name), ("address", loc.address), ("url", loc.url)) if v}
            place = ", ".join(p for p in (loc.name, loc.address) if p)
            text = _join("[location]", place or f"{loc.latitude}, {loc.longitude}")
        case "reaction":
            reaction = m.reaction or _Reaction()
            meta |= {"reacted_to": reaction.message_id} if reaction.message_id else {}
            if reaction.emoji:
                meta["emoji"] = reaction.emoji
                text = f"[reaction] {reaction.emoji}"
            else:
                text = "[reaction removed]"
        case "interactive":
            text = _interactive(m.interactive, meta)
            if m.errors:  # Meta could not deliver the reply's content: say why
                meta["error_code"] = str(m.errors[0].code)
                text = _join(text, f"(error {m.errors[0].code}: {_error_text(m.errors[0])})")
        case "button":
            button = m.button or _Button()
            meta |= {"interactive_type": "quick_reply", "payload": button.payload}
            text = _join("[button]", button.text)
        case "contacts":
            cards = m.contacts or []
            shown = []
            for card in cards:
                name = card.name.formatted_name if card.name else ""
                phones = ", ".join(p.phone or p.wa_id for p in card.phones if p.phone or p.wa_id)
                shown.append(_join(name, f"({phones})" if phones else ""))
            meta["count"] = str(len(cards))
            text = _join("[contact]", "; ".join(s for s in shown if s))
        case "order":
            order = m.order or _Order()
            meta |= {"catalog_id": order.catalog_id, "items": str(len(order.product_items))}
            text = _join("[order]", order.text or f"{len(order.product_items)} items")
        case "system":
            text = _join("[system]", m.system.body if m.system else "")
        case _:
            first = m.errors[0] if m.errors else None
            if first is not None:
                meta["error_code"] = str(first.code)
            text = _join("[unsupported message]", f"({first.title})" if first and first.title else "")
    return kind, text, meta


def _interactive(interactive: _Interactive | None, meta: dict[str, str]) -> str:
    if interactive is None:
        return "[interactive]"
    meta["interactive_type"] = interactive.type
    if interactive.button_reply is not None:
        reply = interactive.button_reply
        meta |= {"reply_id": reply.id, "reply_title": reply.title}
        return _join("[button]", reply.title)
    if interactive.list_reply is not None:
        reply = interactive.list_reply
        meta |= {"reply_id": reply.id, "reply_title": reply.title}
        if reply.description:
            meta["reply_description"] = reply.description
        return _join("[list]", reply.title, ("— " + reply.description) if reply.description else "")
    if interactive.nfm_reply is not None:
        form = interactive.nfm_reply
        meta |= {"form": form.name, "response_json": form.response_json}
        return _join("[form]", form.body or form.name)
    return _join("[interactive]", interactive.type)


def _error_text(error: _Error) -> str:
    details = error.error_data.details if error.error_data else ""
    head = error.title or error.message
    if details and details != head:
        return f"{head}: {details}" if head else details
    return head or "The channel reported a failure."


def _status(touchpoint: str, s: _Status) -> ev.Event:
    status = STATUSES.get(s.status)
    if status is None:
        return ev.Ignored(channel="whatsapp", what=f"status {s.status!r}")
    if not s.id:
        raise ValueError("a status needs the message id")
    error: tuple[str, str] | None = None
    window_closed = False
    if status == "failed":
        first = s.errors[0] if s.errors else _Error(title="Failed", message="The channel reported a failure.")
        error = (str(first.code), _error_text(first))
        window_closed = str(first.code) == str(WINDOW_CLOSED)
    return ev.StatusReport(
        channel="whatsapp",
        touchpoint=touchpoint,
        channel_message_id=s.id,
        status=status,  # type: ignore[arg-type]
        our_id=ev.untag(s.biz_opaque_callback_data),
        error=error,
        window_closed=window_closed,
    )


# --------------------------------------------------------------------------- sending


def upload_request(phone_number_id: str, message: Message) -> tuple[str, dict[str, str]]:
    """(path, form fields) of ``POST /{phone_number_id}/media``, the upload of
    a file before the message that carries it (the file goes as ``file``)."""
    if message.media is None:
        raise Unsendable("A media message without its file.")
    return f"/{phone_number_id}/media", {"messaging_product": "whatsapp", "type": message.media.mime_type}


def uploaded_id(answer: Any) -> str | None:
    """The media id in an upload answer ``{"id": "..."}``."""
    if isinstance(answer, dict):
        found = answer.get("id")
        return found if isinstance(found, str) and found else None
    return None


def send_request(phone_number_id: str, to: str, message: Message, *, media_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """(path, JSON body) of ``POST /{phone_number_id}/messages``. Our message
    id rides along as ``biz_opaque_callback_data``: every status webhook for
    it carries it back, so it maps to our message even if our process died
    before recording Meta's id."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    # A contact known only by a business-scoped user id gets ``recipient``;
    # a phone number (E.164, or Meta's digits for contacts stored before) ``to``.
    body["recipient" if is_bsuid(to) else "to"] = to
    if message.kind == "text":
        body |= {"type": "text", "text": {"preview_url": False, "body": message.text}}
    elif message.kind == "template":
        name = message.meta.get("template")
        if not name:
            raise Unsendable("A template message without its template name.")
        template: dict[str, Any] = {"name": name, "language": {"code": message.meta.get("language", "en_US")}}
        # The core joins the parameters with \x1f, the ASCII unit separator.
        params = message.meta["params"].split("\x1f") if message.meta.get("params") else []
        if params:
            template["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}]
        body |= {"type": "template", "template": template}
    elif message.media is not None and media_id:
        kind = message.media.kind
        content: dict[str, Any] = {"id": media_id}
        if message.meta.get("caption") and kind in ("image", "video", "document"):
            content["caption"] = message.meta["caption"]
        if kind == "document" and message.media.filename:
            content["filename"] = message.media.filename
        body |= {"type": kind, kind: content}
    else:
        raise Unsendable(f"WhatsApp messages of kind {message.kind!r} are not sent by Switchboard.")
    body["biz_opaque_callback_data"] = ev.tag(message.id)
    return f"/{phone_number_id}/messages", body


def sent_id(answer: Any) -> str | None:
    """The wamid in a send answer ``{"messaging_product", "contacts", "messages": [{"id"}]}``."""
    if isinstance(answer, dict):
        messages = answer.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            wamid = messages[0].get("id")
            return wamid if isinstance(wamid, str) and wamid else None
    return None
