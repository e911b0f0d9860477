"""The Switchboard wire protocol: every frame that crosses the agent websocket.

Two tagged unions, one per direction, both JSON objects whose ``type`` field
names the frame:

    client → server   Command  = Hello | Ping | Claim | Assign | ... (see COMMANDS)
    server → client   Frame    = Welcome | Snapshot | Ack | Error | Event | Resync | ...

Every command carries a client-chosen ``id``; the server answers each command
with exactly one ``Ack`` (carrying a typed ``Result``) or one ``Error`` with the
same ``id``. Live changes arrive as ``Event`` frames: an event body published on
a *stream* (``queue:<id>``, ``agent:<id>``, ``conv:<id>``) with that stream's
sequence number, so a client can resume from where it stopped.

Evolution rules (msgspec's): new fields get defaults, a field's type never
changes, unknown fields are ignored by both sides. Times are integer
milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import msgspec
from msgspec import Meta, Struct, field

PROTOCOL_VERSION = 1

Channel = Literal["whatsapp", "messenger"]
Role = Literal["agent", "supervisor"]
Direction = Literal["in", "out"]
DeliveryStatus = Literal["received", "pending", "sent", "delivered", "read", "failed"]
Action = Literal[
    "claim",
    "assign",
    "send_to_inbox",
    "end_chat",
    "send",
    "send_template",
    "read",
    "add_note",
    "wrap_up",
    "contact_card",
]
"""What an agent may do to one conversation, named by the command that does
it (``ConversationSummary.can``). ``read``: the command would clear the
unread bubble (the assignee, with unread messages)."""
Seq = Annotated[int, Meta(ge=0, le=2**63 - 1)]
IdempotencyKey = Annotated[str, Meta(min_length=1, max_length=128)]
"""A send's idempotency key: chosen by the client (a UUID), unique per agent."""
"""A position in a thread or a stream: what the store can hold (a signed
64-bit integer). Outside the range a command is refused ``invalid_argument``."""


# --------------------------------------------------------------------------- views
# Plain value types shared by commands, results and events.


class ContactView(Struct, kw_only=True):
    id: str
    channel: Channel
    address: str
    """Where the business writes: WhatsApp, the E.164 phone number (``+5521988887777``)
    when known, else the business-scoped user id (``BR.1502576394655843``);
    Messenger, the PSID."""
    display_name: str
    """Directory name when known; WhatsApp: else the ``@username``, else the
    phone number formatted for people (``+55 21 98888-7777``); Messenger:
    else the profile name."""
    initials: str | None
    """None for an unknown WhatsApp contact (shown by username or number, no initials)."""
    known: bool
    """True when the contact is in the directory."""
    username: str | None = None
    """WhatsApp username (``@name``) when the customer adopted one."""


class QueueView(Struct, kw_only=True):
    id: str
    name: str
    assignable: list[str] = field(default_factory=list)
    """The agents a conversation of this queue may be assigned to (its
    agents and every supervisor): the choices of an ``assign``."""


class QueueCounts(Struct, kw_only=True):
    """A queue's Inbox in numbers, whatever its size: how many conversations
    wait, and the activity time of the one waiting longest (None: empty)."""

    queue_id: str
    inbox: int
    oldest_at: int | None


class AgentView(Struct, kw_only=True):
    id: str
    name: str
    role: Role
    queues: list[str]


class TouchpointView(Struct, kw_only=True):
    id: str
    channel: Channel
    name: str
    """What the agent sees in the conversation header: the number or the Page name."""
    queue_id: str


class TemplateView(Struct, kw_only=True):
    name: str
    language: str
    text: str
    """Body with {{1}}, {{2}}… placeholders, for the picker's preview."""


AgentStatus = Literal["available", "away", "offline"]


class OfferView(Struct, kw_only=True):
    """A conversation ringing for one agent (automatic routing, or a transfer)."""

    conversation_id: str
    agent_id: str
    """Who it rings for."""
    at: int
    deadline: int
    """When it stops ringing and moves on (ms); clients show the countdown."""
    by: str | None = None
    """The agent transferring it; None: routing offered it."""
    note: str = ""
    """The transfer's note to the receiver."""


class ConversationSummary(Struct, kw_only=True):
    """One row of the Inbox or the Assigned list, and the header of a thread.

    Events always carry the whole summary; a client keeps the one with the
    highest ``version`` (events are idempotent and may be replayed)."""

    id: str
    version: int
    channel: Channel
    touchpoint_id: str
    touchpoint_name: str
    queue_id: str
    status: Literal["open", "ended"]
    assignee_id: str | None
    contact: ContactView
    created_at: int
    last_message_at: int | None
    preview: str
    """The last message, sent or received, shortened."""
    preview_direction: Direction | None
    unread: int
    """Received messages the assignee has not read."""
    session_expires_at: int | None
    """When the channel's reply window closes; None when no window is open."""
    session_locked: bool
    """True when free-form messages are refused (only a template may be sent)."""
    ended_at: int | None = None
    wrapped_up: bool = False
    can: dict[str, list[Action]] = field(default_factory=dict)
    """What may be done to the conversation now, by receiver: a key is a
    *principal* (``agent:<id>``, ``queue:<id>``, ``role:supervisor``) and an
    agent may do the union of the actions under the principals its
    ``Welcome.principals`` lists. The same summary goes to every receiver
    (one encoding per event), so it names each class of receiver instead
    of one agent. Principals with nothing allowed are left out."""
    preview_kind: str | None = None
    """Set when the last message is not text: ``image``, ``voice``, ``audio``,
    ``video``, ``document``, ``sticker``, ``location``, ``contacts``. Show it
    in the agent's language ("📷 Photo", "🎤 Voice message (0:14)")."""
    preview_duration_ms: int | None = None
    """The last message's voice note or audio length, once its file is stored."""
    offer: OfferView | None = None
    """The offer ringing for it, if any (automatic queues, transfers). Never
    in an Inbox row (``inbox.*`` events, ``inbox_page``, the snapshot's
    ``inbox``): an offer ringing changes no row; the floor's ``ringing`` says
    what rings."""


class MediaView(Struct, kw_only=True):
    """A message's file. Fetch it (and its thumbnail) through a signed link
    from ``GET /api/media/{message_id}/link`` (docs/HTTP.md)."""

    kind: Literal["image", "audio", "video", "document", "sticker"]
    state: Literal["loading", "ready", "failed"]
    """``loading``: being fetched from the channel (a ``message.updated``
    follows); ``ready``: it can be fetched; ``failed``: see ``error``."""
    mime_type: str = ""
    """What the file is: the type its bytes show once ``ready`` (never the
    name the customer gave it); before, what the channel said."""
    filename: str = ""
    """The customer's file name (documents): data to show, never to trust."""
    size: int | None = None
    """Bytes, once ready."""
    voice: bool = False
    """A voice note recorded in WhatsApp, not an audio file."""
    thumbnail: bool = False
    """A small JPEG/PNG is there (images and stickers): ``variant=thumbnail``."""
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    """Voice notes (Ogg Opus): their length."""
    error: str = ""
    """Why it could not be fetched (``failed``)."""


class LocationView(Struct, kw_only=True):
    latitude: float
    longitude: float
    name: str = ""
    address: str = ""
    map_url: str
    """An OpenStreetMap link to the point."""


class SharedContactView(Struct, kw_only=True):
    """A contact card the customer sent."""

    name: str
    phones: list[str] = field(default_factory=list)


class QuoteView(Struct, kw_only=True):
    """The message a reply quotes, as it read when the reply arrived."""

    id: str
    kind: str
    text: str
    direction: Direction


class MessageError(Struct, kw_only=True):
    code: str
    message: str


class MessageView(Struct, kw_only=True):
    id: str
    conversation_id: str
    seq: int
    """Position in the thread: 1, 2, 3… in order."""
    direction: Direction
    kind: str
    """text, template, image, audio, video, document, location, sticker, reaction,
    interactive, contacts, unsupported… (channels may add more)."""
    text: str
    """The text, or a readable placeholder for media (``[image] caption``)."""
    at: int
    status: DeliveryStatus
    author_id: str | None = None
    """The agent who sent it (outbound only)."""
    error: MessageError | None = None
    meta: dict[str, str] = field(default_factory=dict)
    edited_at: int | None = None
    """Set when the contact edited the message (WhatsApp): show "edited"."""
    deleted: bool = False
    """The contact deleted the message (WhatsApp): ``text`` is empty; show
    "This message was deleted" in the agent's language."""
    media: MediaView | None = None
    """Images, voice notes, audio, video, documents, stickers: the file."""
    location: LocationView | None = None
    contacts: list[SharedContactView] = field(default_factory=list)
    reaction: str | None = None
    """The contact's reaction (an emoji) on this message; replaced or
    removed (None) by a ``message.updated``, never a message of its own."""
    reply_to: QuoteView | None = None
    """The message this one answers (show it above the text)."""


class NoteView(Struct, kw_only=True):
    id: str
    conversation_id: str
    author_id: str
    text: str
    at: int


class WrapUpView(Struct, kw_only=True):
    conversation_id: str
    agent_id: str
    disposition: str
    note: str
    at: int


class PastConversation(Struct, kw_only=True):
    id: str
    created_at: int
    ended_at: int | None
    assignee_id: str | None
    disposition: str | None
    note: str | None


class ContactCard(Struct, kw_only=True):
    """The spec's WhatsApp *Snapshot* card: who the contact is, earlier
    conversations and how they ended."""

    contact: ContactView
    conversations: list[PastConversation]


class TemplateRef(Struct, kw_only=True):
    name: str
    language: str = "en_US"
    params: list[str] = field(default_factory=list)


class CannedResponseView(Struct, kw_only=True):
    id: str
    shortcut: str
    """What follows ``/`` in the editor (without the ``/``); unique in its
    list, case- and accent-insensitively."""
    text: str
    """May hold ``{{contact.name}}`` and ``{{agent.name}}``: the client fills
    them in (the contact's display name, the agent's name) when inserting."""
    updated_at: int
    updated_by: str
    """The agent who last saved it."""


class CannedListView(Struct, kw_only=True):
    """One list of canned responses, whole: a queue's (``queue:<id>``, kept
    by supervisors) or an agent's own (``agent:<id>``). Keep the highest
    ``version`` (0: never written)."""

    list_id: str
    version: int
    editors: list[str]
    """Principals who may change it (``role:supervisor`` or ``agent:<id>``):
    an agent may when one of its ``Welcome.principals`` is here."""
    responses: list[CannedResponseView]
    """Ordered by shortcut."""


class Resume(Struct, kw_only=True):
    epoch: str
    streams: dict[str, int]
    """Last sequence number seen per stream."""


# --------------------------------------------------------------------------- commands


class Command(Struct, tag_field="type", kw_only=True):
    id: str
    """Client-chosen request id, echoed in the Ack or Error."""


class Hello(Command, tag="hello"):
    """First frame of a connection: authenticate, optionally resume."""

    token: str
    protocol: int = PROTOCOL_VERSION
    resume: Resume | None = None


class Ping(Command, tag="ping"):
    pass


class Screen(Command, tag="screen"):
    """This screen came to the front (visible and focused: ``front`` true) or
    left it. Of all the agent's screens, on every node, the server rings the
    one in front, or else the one most recently in front (``ring``)."""

    front: bool


class Claim(Command, tag="claim"):
    conversation_id: str


class Assign(Command, tag="assign"):
    """Supervisor only: give the conversation to a named agent."""

    conversation_id: str
    agent_id: str


class SendToInbox(Command, tag="send_to_inbox"):
    conversation_id: str


class EndChat(Command, tag="end_chat"):
    conversation_id: str


class SendMessage(Command, tag="send"):
    conversation_id: str
    text: str
    idempotency_key: IdempotencyKey | None = None
    """Set, the send is safe to repeat: the same key again from the same
    agent in the same thread (after a lost ack, on any node, until
    ``server.idempotency_key_seconds``) answers the first send's message
    instead of sending another."""


class SendMedia(Command, tag="send_media"):
    """Send a file uploaded first with ``POST /api/media/uploads`` (its
    ``upload_id``), with a caption where the channel takes one. Sending the
    same upload again answers the same message (a safe retry)."""

    conversation_id: str
    upload_id: str
    caption: str = ""
    idempotency_key: IdempotencyKey | None = None
    """As ``send``'s."""


class SendTemplate(Command, tag="send_template"):
    conversation_id: str
    template: TemplateRef
    idempotency_key: IdempotencyKey | None = None
    """As ``send``'s."""


class StartConversation(Command, tag="start"):
    """Outbound: open a conversation with a contact on a touchpoint, assigned
    to the caller. WhatsApp needs a template (no session is open)."""

    touchpoint_id: str
    address: str
    template: TemplateRef | None = None
    text: str | None = None
    idempotency_key: IdempotencyKey | None = None
    """As ``send``'s (the thread: the contact on the touchpoint): a repeat
    answers the first start's message and conversation."""


class MarkRead(Command, tag="read"):
    conversation_id: str


class Open(Command, tag="open"):
    """Subscribe to a conversation's thread; the Ack carries its latest page."""

    conversation_id: str
    limit: int = 50


class Close(Command, tag="close"):
    conversation_id: str


class History(Command, tag="history"):
    """An older page of the thread: messages with seq < before."""

    conversation_id: str
    before: Seq
    limit: int = 50


class Search(Command, tag="search"):
    """Case- and accent-insensitive search inside one conversation."""

    conversation_id: str
    query: str
    limit: int = 100


class InboxPage(Command, tag="inbox_page"):
    """A page of the Inbox, oldest waiting first (the order agents work in).
    ``cursor``: the one returned by the previous page (None: from the start).
    Filters, all optional, answered by the server: one queue, one channel,
    ``query`` found in the contact's name, number or username."""

    cursor: str | None = None
    limit: int = 100
    queue_id: str | None = None
    channel: Channel | None = None
    query: str | None = None


class AddNote(Command, tag="add_note"):
    conversation_id: str
    text: str


class WrapUp(Command, tag="wrap_up"):
    conversation_id: str
    disposition: str
    note: str = ""


class GetContactCard(Command, tag="contact_card"):
    conversation_id: str


class SetStatus(Command, tag="set_status"):
    """The agent's own routing status: ``available`` (may be offered work),
    ``away`` (keeps their conversations, gets no new ones) or ``offline``."""

    status: AgentStatus


class SetCapacity(Command, tag="set_capacity"):
    """Supervisor: an agent's load limit, live (null: back to the configured one)."""

    agent_id: str
    capacity: Annotated[int, Meta(ge=0, le=1_000_000)] | None


class AcceptOffer(Command, tag="accept_offer"):
    conversation_id: str


class DeclineOffer(Command, tag="decline_offer"):
    conversation_id: str


class Transfer(Command, tag="transfer"):
    """Hand a conversation to an agent (``agent_id``: an offer they accept or
    decline; declined or timed out, it stays with you) or to a queue
    (``queue_id``: it joins that queue's routing). Exactly one of the two."""

    conversation_id: str
    agent_id: str | None = None
    queue_id: str | None = None
    note: Annotated[str, Meta(max_length=1000)] = ""
class SaveCanned(Command, tag="canned_save"):
    """Create (no ``response_id``) or replace a canned response in a list
    the agent keeps (a queue's: supervisors; ``agent:<own id>``: anyone)."""

    list_id: str
    shortcut: str
    text: str
    response_id: str | None = None


class DeleteCanned(Command, tag="canned_delete"):
    list_id: str
    response_id: str


ClientCommand = (
    Hello
    | Ping
    | Screen
    | Claim
    | Assign
    | SendToInbox
    | EndChat
    | SendMessage
    | SendTemplate
    | SendMedia
    | StartConversation
    | MarkRead
    | Open
    | Close
    | History
    | Search
    | InboxPage
    | AddNote
    | WrapUp
    | GetContactCard
    | SetStatus
    | SetCapacity
    | AcceptOffer
    | DeclineOffer
    | Transfer
    | SaveCanned
    | DeleteCanned
)

COMMANDS: tuple[type[Command], ...] = get_args(ClientCommand)


# --------------------------------------------------------------------------- results


class Result(Struct, tag_field="kind", kw_only=True):
    pass


class Ok(Result, tag="ok"):
    pass


class ConversationResult(Result, tag="conversation"):
    conversation: ConversationSummary


class MessageResult(Result, tag="message"):
    conversation: ConversationSummary
    message: MessageView


class ThreadResult(Result, tag="thread"):
    """Answer to Open: the conversation, its newest page, notes and wrap-up."""

    conversation: ConversationSummary
    messages: list[MessageView]
    has_more: bool
    notes: list[NoteView]
    wrap_up: WrapUpView | None
    stream_seq: int
    """Sequence of the conv:<id> stream when the page was read."""


class PageResult(Result, tag="page"):
    messages: list[MessageView]
    has_more: bool


class SearchHit(Struct, kw_only=True):
    message_id: str
    seq: int
    spans: list[tuple[int, int]]
    """Character ranges [start, end) of the matches in the message text."""


class SearchResult(Result, tag="search"):
    hits: list[SearchHit]


class InboxPageResult(Result, tag="inbox_page"):
    """Conversations of the Inbox in order; ``cursor`` asks for the next
    page (None: there is no more). A page may hold fewer than ``limit`` rows
    with a cursor when a filter is on: the server looks at a bounded number
    of conversations per request."""

    conversations: list[ConversationSummary]
    cursor: str | None


class NoteResult(Result, tag="note"):
    note: NoteView


class WrapUpResult(Result, tag="wrap_up"):
    wrap_up: WrapUpView


class ContactCardResult(Result, tag="contact_card"):
    card: ContactCard


class AgentStatusView(Struct, kw_only=True):
    """One agent on the floor: their status, load and capacity."""

    agent_id: str
    status: AgentStatus
    since: int
    """When the status last changed (ms)."""
    load: int = 0
    capacity: int = 0


class StatusResult(Result, tag="status"):
    agent: AgentStatusView
class CannedListResult(Result, tag="canned_list"):
    """The list after a ``canned_save`` or ``canned_delete``."""

    canned: CannedListView


CommandResult = (
    Ok
    | ConversationResult
    | MessageResult
    | ThreadResult
    | PageResult
    | SearchResult
    | InboxPageResult
    | NoteResult
    | WrapUpResult
    | ContactCardResult
    | StatusResult
    | CannedListResult
)


# --------------------------------------------------------------------------- event bodies


class EventBody(Struct, tag_field="type", kw_only=True):
    pass


class InboxAdded(EventBody, tag="inbox.added"):
    """A conversation entered the queue's inbox (new, or sent back).
    ``counts`` (here, on removed, and on updated when the conversation's
    activity moved): the queue's Inbox after the change."""

    conversation: ConversationSummary
    counts: QueueCounts | None = None


class InboxUpdated(EventBody, tag="inbox.updated"):
    """An unassigned conversation changed (new message, contact, session)."""

    conversation: ConversationSummary
    counts: QueueCounts | None = None


class InboxRemoved(EventBody, tag="inbox.removed"):
    """``agent_id``: who has it now (claimed, assigned); ``by``: who did it
    (the claimer, the supervisor who assigned it, whoever ended it)."""

    conversation_id: str
    queue_id: str
    reason: Literal["claimed", "assigned", "ended"]
    agent_id: str | None = None
    counts: QueueCounts | None = None
    by: str | None = None


class AssignedAdded(EventBody, tag="assigned.added"):
    conversation: ConversationSummary
    count: int
    unread_total: int


class AssignedUpdated(EventBody, tag="assigned.updated"):
    conversation: ConversationSummary
    count: int
    unread_total: int


class AssignedRemoved(EventBody, tag="assigned.removed"):
    """``agent_id``: who has it now (reassigned); ``by``: who did it (a
    supervisor, a transfer, or the agent themselves), so a screen can say
    what happened to the conversation it was showing."""

    conversation_id: str
    reason: Literal["sent_to_inbox", "ended", "reassigned"]
    count: int
    unread_total: int
    agent_id: str | None = None
    by: str | None = None


class Alert(EventBody, tag="alert.raised"):
    """On agent:<id>: something the agent must notice: a conversation
    assigned to them by someone else (``assigned``), a customer's new
    message in one of theirs (``message``), or an offer ringing for them
    (``offer``, right after its ``offer.rung``). Every screen gets it (the tab's
    count); one screen per node is told to ring it (``ring``). It rides the
    agent's stream, so a screen that was away gets it when it resumes."""

    reason: Literal["assigned", "message", "offer"]
    conversation_id: str
    contact_name: str
    preview: str


class ToWrapUpAdded(EventBody, tag="to_wrap_up.added"):
    """On agent:<id>: a WhatsApp conversation of the agent ended and waits
    for its wrap-up (the agent's *To wrap up* list, also in the snapshot)."""

    conversation: ConversationSummary


class ToWrapUpRemoved(EventBody, tag="to_wrap_up.removed"):
    """On agent:<id>: the wrap-up was recorded; the conversation leaves the
    agent's *To wrap up* list."""

    conversation_id: str


class ConversationUpdated(EventBody, tag="conversation.updated"):
    """On conv:<id>: assignment, status, contact or session changed."""

    conversation: ConversationSummary


class MessageCreated(EventBody, tag="message.created"):
    """On conv:<id>: a message joined the thread; the summary is the
    conversation after it (preview, unread, session expiry)."""

    message: MessageView
    conversation: ConversationSummary


class MessageUpdated(EventBody, tag="message.updated"):
    """A delivery state moved forward (sent → delivered → read) or failed;
    the contact edited or deleted it; its file was stored or failed
    (``media.state``); the contact reacted to it (``reaction``)."""

    message: MessageView


class NoteAdded(EventBody, tag="note.added"):
    note: NoteView


class WrapUpRecorded(EventBody, tag="wrap_up.recorded"):
    wrap_up: WrapUpView


class SessionLocked(EventBody, tag="session.locked"):
    conversation_id: str
    expires_at: int | None


class SessionUnlocked(EventBody, tag="session.unlocked"):
    conversation_id: str
    expires_at: int


class AccessRevoked(EventBody, tag="access.revoked"):
    """On agent:<id>: a token of this agent was revoked (``token_id``), or all
    tokens issued up to ``not_before`` (unix seconds). Sockets opened with a
    revoked token are closed (4010) right after this event."""

    token_id: str | None = None
    not_before: int | None = None


class AgentStatusChanged(EventBody, tag="agent.status"):
    """On agent:<id>: the agent's status changed (by them, a timeout run,
    or their last screen gone past the grace period)."""

    agent: AgentStatusView


class OfferRung(EventBody, tag="offer.rung"):
    """On agent:<id>: a conversation rings for this agent until ``offer.deadline``."""

    conversation: ConversationSummary
    offer: OfferView


class OfferWithdrawn(EventBody, tag="offer.withdrawn"):
    """On agent:<id>: stop ringing: the offer was accepted, declined, timed
    out, withdrawn (the agent left available) or taken (claimed, assigned, ended)."""

    conversation_id: str
    reason: Literal["accepted", "declined", "timed_out", "withdrawn", "taken"]


class QueueFloor(Struct, kw_only=True):
    """A queue's floor as its supervisors see it live."""

    queue_id: str
    waiting: int
    """Conversations waiting with no offer ringing."""
    oldest_waiting_at: int | None
    """The oldest waiting one's arrival (ms); clients age it."""
    ringing: list[OfferView]
    agents: list[AgentStatusView]


class FloorUpdated(EventBody, tag="floor.updated"):
    """On floor:<queue_id> (supervisors, automatic queues): the whole floor
    after a change (keep the latest)."""

    floor: QueueFloor
class CannedUpdated(EventBody, tag="canned.updated"):
    """A list of canned responses changed: a queue's on ``queue:<id>``, an
    agent's own on ``agent:<id>``. Carries the whole list."""

    canned: CannedListView


AnyEvent = (
    InboxAdded
    | InboxUpdated
    | InboxRemoved
    | AssignedAdded
    | AssignedUpdated
    | AssignedRemoved
    | ToWrapUpAdded
    | ToWrapUpRemoved
    | Alert
    | ConversationUpdated
    | MessageCreated
    | MessageUpdated
    | NoteAdded
    | WrapUpRecorded
    | SessionLocked
    | SessionUnlocked
    | AccessRevoked
    | AgentStatusChanged
    | OfferRung
    | OfferWithdrawn
    | FloorUpdated
    | CannedUpdated
)


# --------------------------------------------------------------------------- server frames


class ServerFrame(Struct, tag_field="type", kw_only=True):
    pass


class Welcome(ServerFrame, tag="welcome"):
    """Answer to Hello once the token is accepted."""

    id: str
    protocol: int
    agent: AgentView
    node: str
    epoch: str
    server_time: int
    heartbeat_ms: int
    principals: list[str] = field(default_factory=list)
    """Who this agent is for ``ConversationSummary.can``: ``agent:<id>``,
    ``queue:<id>`` per queue, and ``role:supervisor`` for a supervisor."""


class Snapshot(ServerFrame, tag="snapshot"):
    """The agent's state: the Assigned list whole, the Inbox as counts and a
    first window (oldest waiting first); live events follow from ``streams``'
    positions."""

    epoch: str
    streams: dict[str, int]
    inbox: list[ConversationSummary]
    assigned: list[ConversationSummary]
    unread_total: int
    queues: list[QueueView]
    agents: list[AgentView]
    touchpoints: list[TouchpointView]
    templates: list[TemplateView]
    dispositions: list[str]
    server_time: int
    inbox_counts: list[QueueCounts] = field(default_factory=list)
    """Every visible queue's Inbox in numbers; ``inbox`` is a first window."""
    inbox_cursor: str | None = None
    """Where ``inbox_page`` continues after ``inbox`` (None: ``inbox`` is all)."""
    to_wrap_up: list[ConversationSummary] = field(default_factory=list)
    """The agent's ended WhatsApp conversations whose wrap-up is not recorded
    yet, ended first first; kept by ``to_wrap_up.added`` / ``.removed``."""
    status: AgentStatusView | None = None
    """The agent's routing status (None: no queue routes automatically)."""
    offers: list[OfferRung] = field(default_factory=list)
    """What rings for the agent now."""
    floors: list[QueueFloor] = field(default_factory=list)
    """Supervisors: each automatic queue's floor (then ``floor.updated``)."""
    canned: list[CannedListView] = field(default_factory=list)
    """The canned response lists the agent uses: its own, then its queues'."""


class Resumed(ServerFrame, tag="resumed"):
    """Resume accepted: the missed events follow, then live ones."""

    epoch: str
    streams: dict[str, int]
    """Where each stream stood before the replay (the client's positions)."""


class Resync(ServerFrame, tag="resync"):
    """The missed events are gone: drop local state; a Snapshot follows."""

    reason: str


class Ack(ServerFrame, tag="ack"):
    id: str
    result: CommandResult


class Error(ServerFrame, tag="error"):
    id: str | None
    code: str
    message: str


class Event(ServerFrame, tag="event"):
    stream: str
    seq: int
    event: AnyEvent


class Unsubscribed(ServerFrame, tag="unsubscribed"):
    """The agent lost the right to a stream (e.g. someone else took the
    conversation they were viewing from the inbox)."""

    stream: str
    reason: str


class Ring(ServerFrame, tag="ring"):
    """To one screen of the agent (one in all, across nodes): this one plays the sound and
    shows the desktop notification for the ``alert.raised`` event ``seq`` of
    ``stream`` (sent right after it, live only: a replayed alert counts but
    does not ring)."""

    stream: str
    seq: int


ServerMessage = Welcome | Snapshot | Resumed | Resync | Ack | Error | Event | Unsubscribed | Ring

FRAMES: tuple[type[ServerFrame], ...] = get_args(ServerMessage)
EVENTS: tuple[type[EventBody], ...] = get_args(AnyEvent)


# --------------------------------------------------------------------------- codecs
# Built once; msgspec encoders/decoders are reusable and thread-safe.

command_decoder = msgspec.json.Decoder(ClientCommand)
frame_decoder = msgspec.json.Decoder(ServerMessage)
encoder = msgspec.json.Encoder()
