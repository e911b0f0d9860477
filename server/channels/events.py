"""What a webhook batch says, as typed values: the output of the parsers and
the input of ``webhooks.Inbox``. Identities are Meta's (phone_number_id or
Page id for the touchpoint, wa_id or PSID for the contact, wamid or mid for
messages); mapping them to ours happens at the edge, not here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import msgspec
from msgspec import Raw, Struct

from protocol import depth
from server.channels.errors import BadPayload
from server.core.model import Channel, Inbound

ITEM_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, ValueError)
"""What decoding one item of a batch may raise; the item becomes ``Rejected``."""

TAG = "switchboard:"
"""Prefix of our message id in what Meta echoes back to us (WhatsApp's
``biz_opaque_callback_data``, Messenger's ``metadata``), so a status or an
echo finds our message even before we have recorded Meta's id for it."""


def tag(message_id: str) -> str:
    return TAG + message_id


def untag(value: str | None) -> str | None:
    """Our message id from an echoed tag; None for anything else (another tool's data)."""
    if value and value.startswith(TAG) and len(value) > len(TAG):
        return value[len(TAG) :]
    return None


class InboundMessage(Struct, frozen=True, kw_only=True):
    """A contact wrote (text, media, location, a button press, a reaction…)."""

    channel: Channel
    touchpoint: str
    """phone_number_id (WhatsApp) or Page id (Messenger)."""
    address: str
    """WhatsApp: the phone digits (``from``), empty when Meta withholds the
    number of a user with a username. Messenger: the PSID."""
    inbound: Inbound
    """Kind, readable text, Meta's id (the dedup key), time, metadata."""
    profile_name: str | None = None
    """WhatsApp profile name from the same change's ``contacts``."""
    user_id: str | None = None
    """WhatsApp business-scoped user id (``from_user_id``)."""
    username: str | None = None
    """WhatsApp username (``contacts[].profile.username``)."""
    reply_to: str | None = None
    """Meta's id of the message this one replies or reacts to."""


class StatusReport(Struct, frozen=True, kw_only=True):
    """Meta's report on one of the business's messages (WhatsApp ``statuses``)."""

    channel: Channel
    touchpoint: str
    channel_message_id: str
    status: Literal["sent", "delivered", "read", "failed"]
    our_id: str | None = None
    """Our message id, when Meta echoed it (biz_opaque_callback_data)."""
    error: tuple[str, str] | None = None
    """(Meta's code, text) of a failure."""
    window_closed: bool = False
    """Meta refused because the reply window is closed (131047)."""


class Watermark(Struct, frozen=True, kw_only=True):
    """Messenger ``delivery`` / ``read``: every message the Page sent to the
    contact before ``watermark`` (ms) has reached that state."""

    channel: Channel
    touchpoint: str
    address: str
    status: Literal["delivered", "read"]
    watermark: int
    mids: tuple[str, ...] = ()
    """Messenger may name the delivered messages too."""


class Echo(Struct, frozen=True, kw_only=True):
    """Messenger ``message_echoes``: the Page sent a message (through us, or
    through another tool such as the Page inbox)."""

    channel: Channel
    touchpoint: str
    address: str
    channel_message_id: str
    our_id: str | None = None
    """Our message id from the echoed ``metadata``; None when another tool sent it."""
    text: str = ""


class Rejected(Struct, frozen=True, kw_only=True):
    """One item of the batch that could not be understood. The rest of the
    batch is kept; this one is logged and counted (Meta would send it again
    identically, so refusing the batch would not help)."""

    channel: Channel
    reason: str


class Revision(Struct, frozen=True, kw_only=True):
    """The contact edited (``text`` set) or deleted (``text`` None) one of
    their messages (WhatsApp ``edit`` / ``revoke``)."""

    channel: Channel
    touchpoint: str
    channel_message_id: str
    """Meta's id of the edit or revoke itself (the dedup key)."""
    target: str
    """Meta's id of the message edited or deleted."""
    at: int
    text: str | None = None
    """The new text (or caption); None for a deletion."""


class IdentityChange(Struct, frozen=True, kw_only=True):
    """The contact's phone number or BSUID changed (system
    ``user_changed_number`` / ``user_changed_user_id``, or the
    ``user_id_update`` field). The same person goes on."""

    channel: Channel
    touchpoint: str
    old_phone: str | None = None
    old_user_id: str | None = None
    new_phone: str | None = None
    new_user_id: str | None = None
    notice: str = ""
    """Meta's sentence about the change, for the thread."""
    at: int = 0
    channel_message_id: str | None = None


class ChatOpened(Struct, frozen=True, kw_only=True):
    """The customer opened the chat for the first time (WhatsApp
    ``request_welcome``) and wrote nothing yet: no conversation."""

    channel: Channel
    touchpoint: str
    address: str
    user_id: str | None = None
    username: str | None = None
    profile_name: str | None = None


class Ignored(Struct, frozen=True, kw_only=True):
    """Something well-formed that Switchboard does not act on (a webhook
    field we do not use, a postback-less optin, a system error notice)."""

    channel: Channel
    what: str


Event = InboundMessage | StatusReport | Watermark | Echo | Revision | IdentityChange | ChatOpened | Rejected | Ignored


class Batch(Struct, frozen=True, kw_only=True):
    channel: Channel
    events: list[Event]


NAMES = {"whatsapp": "WhatsApp", "messenger": "Messenger"}


class _Envelope(Struct):
    object: str
    entry: list[Raw]


def parse_batch(
    body: bytes, *, channel: Channel, obj: str, entry: Callable[[int, Raw], Iterator[Event]]
) -> Batch:
    """A webhook body → its events, entry by entry. Raises BadPayload only
    for a body that is not the channel's envelope at all (``object`` must be
    ``obj``); a bad item inside becomes ``Rejected`` and the rest is kept."""
    try:
        envelope = depth.decode(body, type=_Envelope)  # the items inside are checked with it
    except ITEM_ERRORS as e:
        raise BadPayload(f"Not a {NAMES[channel]} webhook envelope: {e}") from None
    if envelope.object != obj:
        raise BadPayload(f"object is {envelope.object!r}, expected {obj!r}.")
    found: list[Event] = []
    for i, raw in enumerate(envelope.entry):
        found.extend(entry(i, raw))
    return Batch(channel=channel, events=found)
