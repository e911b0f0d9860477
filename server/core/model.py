"""The values the core reasons about. Immutable in spirit: rules return new
values (``msgspec.structs.replace``) and never mutate what they are given."""

from __future__ import annotations

from typing import Literal

from msgspec import Struct, field

Channel = Literal["whatsapp", "messenger"]
Status = Literal["open", "ended"]


class Queue(Struct, frozen=True, kw_only=True):
    id: str
    name: str
    routing: Literal["manual", "automatic"] = "manual"
    """manual: agents claim from the inbox. automatic: each new conversation
    is offered to an available agent (server/core/routing.py)."""


class Agent(Struct, frozen=True, kw_only=True):
    id: str
    name: str
    role: Literal["agent", "supervisor"] = "agent"
    queues: tuple[str, ...] = ()
    capacity: int | None = None
    """Routing: the most load this agent holds; None: ``[routing] capacity``."""

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


class Touchpoint(Struct, frozen=True, kw_only=True):
    """The business end of a channel; its queue is the *original queue* of
    every conversation that arrives on it."""

    id: str
    channel: Channel
    name: str
    queue_id: str
    address: str = ""
    """WhatsApp phone_number_id or the Facebook Page id (channel routing key)."""
    access_token: str = ""
    """Graph API token that sends on this touchpoint (never shown to clients).
    Empty: agent messages stay pending until one is configured."""
    default_region: str = ""
    """WhatsApp: the country (ISO 3166 code, e.g. "BR") of numbers agents type
    without their country code ("(21) 98888-7777"). Empty: agents must type
    the country code."""


class Template(Struct, frozen=True, kw_only=True):
    name: str
    language: str
    text: str


class WindowPolicy(Struct, frozen=True, kw_only=True):
    """How long after the contact's last message an agent may write freely.

    WhatsApp: 24 h, then only templates. Messenger: 24 h standard, then replies
    carry the HUMAN_AGENT tag up to ``extended_seconds`` (7 days)."""

    window_seconds: float
    extended_seconds: float | None = None
    templates: bool = False
    """Whether the channel has approved templates that may go out when locked."""
    extended_tag: str = "HUMAN_AGENT"


class Contact(Struct, frozen=True, kw_only=True):
    """A customer. Its ``id`` is the channel identity it was first seen by
    and never changes; its other identities are links (``linked_to``).
    See ``server/core/identity.py``."""

    id: str
    channel: Channel
    address: str
    """Where the business writes: WhatsApp, the E.164 phone number when known,
    else the BSUID; Messenger, the PSID. (Contacts stored before E.164 hold
    Meta's digits here.)"""
    name: str | None = None
    """Directory name: set means the contact is *known*."""
    profile_name: str | None = None
    """Name the channel told us (WhatsApp profile, Messenger profile)."""
    phone: str | None = None
    """WhatsApp: E.164, when Meta (or an agent) gave the number."""
    user_id: str | None = None
    """WhatsApp: business-scoped user id (BSUID). Messenger: the PSID."""
    username: str | None = None
    """WhatsApp username (``@name``), when the user adopted one."""
    former_ids: tuple[str, ...] = ()
    """Phone numbers and BSUIDs the contact had before (a number change)."""
    linked_to: str | None = None
    """Set on a *link*: this record only says which contact owns this identity."""

    @property
    def known(self) -> bool:
        return self.name is not None


def contact_id(channel: str, address: str) -> str:
    """Contacts are identified by their channel identity, so a retried webhook
    or a directory import can never create a second contact."""
    return f"{channel}:{address}"


class WrapUp(Struct, frozen=True, kw_only=True):
    agent_id: str
    disposition: str
    note: str
    at: int


class Offer(Struct, frozen=True, kw_only=True):
    """A conversation ringing on one agent's screens until ``deadline`` (ms).
    ``by``: the agent transferring it (None: routing offered it)."""

    agent_id: str
    at: int
    deadline: int
    by: str | None = None
    note: str = ""


class Conversation(Struct, frozen=True, kw_only=True):
    id: str
    version: int = 0
    """Bumped by every stored change: the optimistic-concurrency token."""
    channel: Channel
    touchpoint_id: str
    queue_id: str
    contact_id: str
    origin: Literal["inbound", "outbound"] = "inbound"
    status: Status = "open"
    assignee_id: str | None = None
    created_at: int
    ended_at: int | None = None
    ended_by: str | None = None
    message_count: int = 0
    last_message_at: int | None = None
    preview: str = ""
    preview_direction: Literal["in", "out"] | None = None
    preview_kind: str | None = None
    """The last message is not text: "image", "voice", "document", "location"…
    (``media.preview_kind``), so lists can say "📷 Photo" in the agent's language."""
    preview_duration_ms: int | None = None
    """A voice note's or audio's length, once its file is stored."""
    unread: int = 0
    last_inbound_at: int | None = None
    """Anchor of the reply window: the contact's latest message."""
    session_locked: bool = True
    """Set when the lock was announced (exactly once per expiry), cleared when
    the contact writes. A conversation with no inbound message is locked."""
    wrap_up: WrapUp | None = None
    offer: Offer | None = None
    """Routing: the one offer ringing for this conversation, if any."""
    waiting_since: int | None = None
    """Routing: when it joined its queue's waiting line (arrival, a transfer
    to the queue, a send back to the inbox); the line is served oldest first."""
    passed_by: str | None = None
    """Routing: the agent who last declined it or let it time out (offered
    to someone else first when anyone else has room)."""

    @property
    def is_open(self) -> bool:
        return self.status == "open"


class Media(Struct, frozen=True, kw_only=True):
    """A file a message carries (server/core/media.py has its rules)."""

    kind: Literal["image", "audio", "video", "document", "sticker"]
    state: Literal["loading", "ready", "failed"] = "loading"
    source_id: str = ""
    """WhatsApp: Meta's media id (its URL is asked of the Graph API)."""
    source_url: str = ""
    """Messenger: the attachment's payload URL (never shown to clients)."""
    stated_size: int | None = None
    """The size Meta stated before the download, when it did."""
    sha256: str = ""
    """The SHA-256 Meta stated; the downloaded bytes must match it."""
    mime_type: str = ""
    """What the sender claimed until stored, then what the bytes are (sniffed)."""
    filename: str = ""
    voice: bool = False
    """A voice note recorded in WhatsApp (``audio.voice``)."""
    key: str = ""
    """The blob (its SHA-256, hex) once stored."""
    size: int | None = None
    thumb_key: str = ""
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    attempts: int = 0
    """Downloads tried and failed so far."""
    error: str = ""
    """Why the file could not be fetched (state ``failed``)."""


class Location(Struct, frozen=True, kw_only=True):
    latitude: float
    longitude: float
    name: str = ""
    address: str = ""


class SharedContact(Struct, frozen=True, kw_only=True):
    """A contact card the customer sent (WhatsApp ``contacts``)."""

    name: str
    phones: tuple[str, ...] = ()


class Quote(Struct, frozen=True, kw_only=True):
    """The message a reply quotes, as it read when the reply came."""

    id: str
    kind: str
    text: str
    direction: Literal["in", "out"]


class Message(Struct, frozen=True, kw_only=True):
    id: str
    conversation_id: str
    seq: int
    direction: Literal["in", "out"]
    kind: str
    text: str
    at: int
    status: Literal["received", "pending", "sent", "delivered", "read", "failed"]
    author_id: str | None = None
    channel_message_id: str | None = None
    """wamid / mid: Meta's id, unique per channel; the dedup key for retries."""
    error_code: str | None = None
    error_message: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    edited_at: int | None = None
    """When the contact last edited it (WhatsApp)."""
    deleted_at: int | None = None
    """When the contact deleted it (WhatsApp): the text is gone from the thread."""
    previous_texts: tuple[str, ...] = ()
    """The texts it had before its edits, oldest first (the audit trail; a
    deleted message's own text only when ``keep_deleted_text`` is on)."""
    media: Media | None = None
    location: Location | None = None
    contacts: tuple[SharedContact, ...] = ()
    reaction: str | None = None
    """The contact's reaction emoji on this message (WhatsApp: one at a time)."""
    quote: Quote | None = None
    """The message this one replies to (WhatsApp ``context.id``)."""


class SentRequest(Struct, frozen=True, kw_only=True):
    """A send's idempotency key, stored in the same commit as the message it
    made: a repeat of (agent, key) in the thread within ``ttl_ms`` of ``at``
    answers that message instead of sending again."""

    agent_id: str
    key: str
    message_id: str
    at: int
    ttl_ms: int

    @property
    def expires_at(self) -> int:
        return self.at + self.ttl_ms


class Note(Struct, frozen=True, kw_only=True):
    id: str
    conversation_id: str
    author_id: str
    text: str
    at: int


class Inbound(Struct, frozen=True, kw_only=True):
    """A contact's message as a channel delivers it, before it is stored."""

    kind: str
    text: str
    at: int
    channel_message_id: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    media: Media | None = None
    location: Location | None = None
    contacts: tuple[SharedContact, ...] = ()
    quote: Quote | None = None
