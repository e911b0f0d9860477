"""Conversation rules: every transition of a conversation lives in this file.

Two rules hold throughout:
1. Everything that decides whether a command is allowed and what it changes is
   here; the service around it only loads, stores and publishes.
2. Functions are pure: inputs in (including ``now`` and fresh ids), an
   ``Outcome`` out, or a ``DomainError`` naming what was refused and why.

The states are few: a conversation is *open* (in its queue's inbox when
unassigned, in the assignee's list when assigned) or *ended* (final; a later
message from the contact starts a new conversation).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from msgspec import Struct
from msgspec.structs import replace

from protocol import errors
from protocol import messages as p
from server.core import media, session, text
from server.core.errors import DomainError
from server.core.model import (
    Agent,
    Contact,
    Conversation,
    Inbound,
    Media,
    Message,
    Note,
    SentRequest,
    Template,
    Touchpoint,
    WindowPolicy,
    WrapUp,
)

MAX_TEXT = 4096
"""WhatsApp's limit for a text body; longer replies are refused, not cut."""

WHATSAPP_ONLY = "whatsapp"

TIMELINE = "timeline"
"""The ``kind`` of a thread message that is a timeline entry (the same as
``routing.TIMELINE``): never sent to the contact, never unread."""


class Outcome(Struct, frozen=True, kw_only=True):
    """What one transition did. ``after`` is the conversation to store."""

    before: Conversation | None
    after: Conversation
    actor_id: str | None = None
    message: Message | None = None
    """A message added to the thread."""
    updated_message: Message | None = None
    """A message whose delivery state changed."""
    note: Note | None = None
    wrap_up: WrapUp | None = None
    entry: Message | None = None
    """A timeline entry added just before ``message`` (its seq is one less),
    in the same commit: the reply window reopening as the contact writes
    again (``receive``)."""
    request: SentRequest | None = None
    """The idempotency key of the send that made ``message`` (stored with it)."""


# --------------------------------------------------------------------------- rights


def can_view(agent: Agent, conv: Conversation | p.ConversationSummary) -> bool:
    """Supervisors see everything; an agent sees their queues' inbox and what
    is (or was, once ended) assigned to them. Works on a stored conversation
    and on the summary an event carries, so every node can check it."""
    if agent.role == "supervisor" or conv.assignee_id == agent.id:
        return True
    return conv.assignee_id is None and conv.status == "open" and conv.queue_id in agent.queues


def require_view(agent: Agent, conv: Conversation) -> Conversation:
    """Every read goes through this: one the agent may not see is answered
    exactly as a missing one, so nothing reveals what exists elsewhere."""
    if not can_view(agent, conv):
        raise DomainError(errors.NOT_FOUND, "No such conversation.")
    return conv


def require_known(agent: Agent, conv: Conversation) -> None:
    """An acting agent must at least know the conversation (see it, or be in
    its queue); the rules of each command then decide what they may do, so
    a lost claim is told ``already_assigned``, not ``not_found``."""
    if not (can_view(agent, conv) or conv.queue_id in agent.queues):
        raise DomainError(errors.NOT_FOUND, "No such conversation.")


def require_contact_card(conv: Conversation) -> None:
    """The contact snapshot (past conversations, dispositions) is a WhatsApp feature."""
    if conv.channel != WHATSAPP_ONLY:
        raise DomainError(errors.NOT_SUPPORTED_ON_CHANNEL, "The contact snapshot is available on WhatsApp only.")


def changes_something(outcome: Outcome, read: Conversation) -> bool:
    """Whether an outcome decided against ``read`` has anything to store: a
    new conversation state, or a message, note or wrap-up recorded."""
    if outcome.after is not read:
        return True
    return any(x is not None for x in (outcome.message, outcome.updated_message, outcome.note, outcome.wrap_up))


def _require_open(conv: Conversation) -> None:
    if conv.status != "open":
        raise DomainError(errors.CONVERSATION_ENDED, "This conversation has ended.")


def is_owner(conv: Conversation, actor: Agent) -> bool:
    """The assignee may act on the conversation; so may a supervisor."""
    return conv.assignee_id == actor.id or actor.role == "supervisor"


def may_hold(agent: Agent, queue_id: str) -> bool:
    """Who may hold a conversation of a queue (claim it, be assigned it):
    the queue's agents and every supervisor."""
    return agent.role == "supervisor" or queue_id in agent.queues


def _require_owner(conv: Conversation, actor: Agent) -> None:
    if is_owner(conv, actor):
        return
    if conv.assignee_id is None:
        raise DomainError(errors.NOT_ASSIGNEE, "Take this conversation from the inbox first.")
    raise DomainError(errors.NOT_ASSIGNEE, "This conversation is assigned to another agent.")


def require_sender(conv: Conversation, actor: Agent) -> None:
    """Who may send in the conversation now (an upload is checked before the file is kept)."""
    if not can_view(actor, conv) and conv.queue_id not in actor.queues:
        raise DomainError(errors.NOT_FOUND, "No such conversation.")
    _require_open(conv)
    _require_owner(conv, actor)


def require_touchpoint(actor: Agent, touchpoint: Touchpoint) -> None:
    """Only agents of the touchpoint's queue (and supervisors) write from it."""
    if not (actor.is_supervisor or touchpoint.queue_id in actor.queues):
        raise DomainError(errors.FORBIDDEN, "This touchpoint belongs to a queue you are not in.")


def _require_whatsapp(conv: Conversation, feature: str) -> None:
    if conv.channel != WHATSAPP_ONLY:
        raise DomainError(
            errors.NOT_SUPPORTED_ON_CHANNEL, f"{feature} is available on WhatsApp only, not on {conv.channel}."
        )


def _require_text(body: str, what: str = "Message") -> str:
    if not body.strip():
        raise DomainError(errors.INVALID_ARGUMENT, f"{what} is empty.")
    if len(body) > MAX_TEXT:
        raise DomainError(errors.INVALID_ARGUMENT, f"{what} is longer than {MAX_TEXT} characters.")
    return body


def _bump(conv: Conversation, **changes: object) -> Conversation:
    return replace(conv, version=conv.version + 1, **changes)


# --------------------------------------------------------------------------- inbound


def receive(
    latest: Conversation | None,
    *,
    new_conversation_id: str,
    message_id: str,
    touchpoint: Touchpoint,
    contact: Contact,
    inbound: Inbound,
    policy: WindowPolicy,
    now: int,
    entry_id: str,
) -> Outcome:
    """A contact wrote. ``latest`` is their newest conversation on this
    touchpoint: appended to while open; once ended, a new one starts in the
    touchpoint's queue inbox. A locked window reopening is recorded by a
    timeline entry ``unlocked`` (id ``entry_id``) just before the message,
    in the same commit."""
    if latest is None or latest.status != "open":
        base = Conversation(
            id=new_conversation_id,
            channel=touchpoint.channel,
            touchpoint_id=touchpoint.id,
            queue_id=touchpoint.queue_id,
            contact_id=contact.id,
            created_at=now,
        )
        before = None
    else:
        base = before = latest
    entry = None
    if before is not None and before.session_locked and not session.is_locked(_reopened(before, inbound.at), policy, now):
        entry = timeline_entry(before, "unlocked", message_id=entry_id, now=now)
        base = replace(base, message_count=entry.seq)
    seq = base.message_count + 1
    message = Message(
        id=message_id,
        conversation_id=base.id,
        seq=seq,
        direction="in",
        kind=inbound.kind,
        text=inbound.text,
        at=inbound.at,
        status="received",
        channel_message_id=inbound.channel_message_id,
        meta=inbound.meta,
        media=inbound.media,
        location=inbound.location,
        contacts=inbound.contacts,
        quote=inbound.quote,
    )
    anchor = max(inbound.at, base.last_inbound_at or inbound.at)
    after = _bump(
        base,
        message_count=seq,
        last_message_at=max(inbound.at, base.last_message_at or inbound.at),
        preview=text.preview(inbound.text),
        preview_direction="in",
        preview_kind=media.preview_kind(message),
        preview_duration_ms=None,
        unread=base.unread + 1,
        last_inbound_at=anchor,
    )
    after = replace(after, session_locked=session.is_locked(after, policy, now))
    return Outcome(before=before, after=after, message=message, entry=entry)


def _reopened(conv: Conversation, at: int) -> Conversation:
    """``conv`` with its window anchored as a contact's message at ``at`` anchors it."""
    return replace(conv, last_inbound_at=max(at, conv.last_inbound_at or at))


def timeline_entry(conv: Conversation, event: Literal["locked", "unlocked"], *, message_id: str, now: int) -> Message:
    """A timeline entry about the conversation's reply window (``locked``,
    ``unlocked``), next in its thread: shown inline to agents, never sent,
    never unread (the routing entries are built the same way, ``routing.entry``)."""
    return Message(
        id=message_id,
        conversation_id=conv.id,
        seq=conv.message_count + 1,
        direction="in",
        kind=TIMELINE,
        text="",
        at=now,
        status="received",
        meta={"event": event},
    )


MEDIA_KINDS = ("image", "video", "document", "audio", "sticker")
DELETED_PREVIEW = "[message deleted]"


def revise(conv: Conversation, message: Message, new_text: str | None, *, at: int, keep_deleted_text: bool) -> Outcome | None:
    """The contact edited (``new_text``) or deleted (None) one of their
    messages. Neither adds a message: the original changes, marked edited
    (its earlier text kept, oldest first) or deleted (its text dropped unless
    ``keep_deleted_text``). The preview follows when it is the last message.
    A deleted message stays deleted; an edit of one changes nothing (None)."""
    if message.direction != "in" or message.conversation_id != conv.id or message.deleted_at is not None:
        return None
    if new_text is None:
        kept = (*message.previous_texts, message.text) if keep_deleted_text else ()
        meta = {k: v for k, v in message.meta.items() if k != "caption"}
        updated = replace(message, text="", meta=meta, deleted_at=at, previous_texts=kept)
        preview = DELETED_PREVIEW
        updated = replace(updated, media=None, location=None, contacts=())
    else:
        if message.kind in MEDIA_KINDS:
            meta = {**message.meta, "caption": new_text}
            shown = " ".join(s for s in (f"[{message.kind}]", meta.get("filename", ""), new_text) if s)
        else:
            meta, shown = message.meta, new_text
        if shown == message.text:
            return None
        updated = replace(
            message, text=shown, meta=meta, edited_at=at, previous_texts=(*message.previous_texts, message.text)
        )
        preview = text.preview(shown)
    is_last = message.seq == conv.message_count
    if is_last:
        after = _bump(conv, preview=preview, preview_kind=media.preview_kind(updated))
    else:
        after = _bump(conv)
    return Outcome(before=conv, after=after, updated_message=updated)


def message_changed(conv: Conversation, updated: Message) -> Outcome:
    """A message changed without a command (its file stored or failed, a
    reaction on it): the thread hears ``message.updated``; when it is the
    last message, the list's preview follows (a voice note's length)."""
    if updated.conversation_id != conv.id:
        raise ValueError("the message is not in this conversation")
    if updated.seq == conv.message_count:
        duration = updated.media.duration_ms if updated.media is not None else None
        return Outcome(before=conv, after=_bump(conv, preview_duration_ms=duration), updated_message=updated)
    return Outcome(before=conv, after=_bump(conv), updated_message=updated)


def notice(conv: Conversation, *, message_id: str, body: str, at: int, channel_message_id: str | None = None) -> Outcome:
    """A line the channel adds to the thread about the contact (their number
    changed): shown in order, but the contact did not write, so no reply
    window opens and no unread bubble grows."""
    seq = conv.message_count + 1
    message = Message(
        id=message_id,
        conversation_id=conv.id,
        seq=seq,
        direction="in",
        kind="system",
        text=body,
        at=at,
        status="received",
        channel_message_id=channel_message_id,
    )
    return Outcome(before=conv, after=_bump(conv, message_count=seq), message=message)


# --------------------------------------------------------------------------- routing


def claim(conv: Conversation, actor: Agent) -> Outcome:
    """Take a conversation from the inbox (an offer ringing for it is taken
    back: the claim wins). Of two agents racing, the store's
    version check lets one write win; the loser re-reads and lands here with
    ``already_assigned``. Claiming one's own conversation again is a no-op."""
    _require_open(conv)
    if conv.assignee_id == actor.id:
        return Outcome(before=conv, after=conv, actor_id=actor.id)
    if conv.assignee_id is not None:
        raise DomainError(errors.ALREADY_ASSIGNED, "Another agent has already taken this conversation.")
    if not may_hold(actor, conv.queue_id):
        raise DomainError(errors.FORBIDDEN, "This conversation belongs to a queue you are not in.")
    return Outcome(before=conv, after=_bump(conv, assignee_id=actor.id, offer=None), actor_id=actor.id)


def assign(conv: Conversation, actor: Agent, target: Agent) -> Outcome:
    """Supervisor: give the conversation to a named agent (also from another agent)."""
    if not actor.is_supervisor:
        raise DomainError(errors.FORBIDDEN, "Only a supervisor may assign conversations to others.")
    _require_open(conv)
    if not may_hold(target, conv.queue_id):
        raise DomainError(errors.INVALID_ARGUMENT, f"{target.name} is not in this conversation's queue.")
    if conv.assignee_id == target.id:
        return Outcome(before=conv, after=conv, actor_id=actor.id)
    return Outcome(before=conv, after=_bump(conv, assignee_id=target.id, offer=None), actor_id=actor.id)


def send_to_inbox(conv: Conversation, actor: Agent, touchpoint: Touchpoint) -> Outcome:
    """Back to the *original* queue's inbox (the touchpoint's queue)."""
    _require_open(conv)
    if conv.assignee_id is None:
        raise DomainError(errors.NOT_ASSIGNEE, "This conversation is already in the inbox.")
    _require_owner(conv, actor)
    after = _bump(conv, assignee_id=None, queue_id=touchpoint.queue_id, offer=None, waiting_since=None)
    return Outcome(before=conv, after=after, actor_id=actor.id)


def end(conv: Conversation, actor: Agent, now: int) -> Outcome:
    _require_open(conv)
    _require_owner(conv, actor)
    after = _bump(conv, status="ended", ended_at=now, ended_by=actor.id, unread=0, offer=None)
    return Outcome(before=conv, after=after, actor_id=actor.id)


def read(conv: Conversation, actor: Agent) -> Outcome | None:
    """The assignee read the thread: its unread count drops to zero. Others
    who may see it (a supervisor looking in) do not clear the assignee's
    bubble; others who may not are refused."""
    if conv.assignee_id != actor.id:
        if can_view(actor, conv):
            return None
        raise DomainError(errors.NOT_ASSIGNEE, "This conversation is assigned to another agent.")
    if conv.unread == 0:
        return None
    return Outcome(before=conv, after=_bump(conv, unread=0), actor_id=actor.id)


# --------------------------------------------------------------------------- outbound


def _outgoing(
    conv: Conversation, actor: Agent, *, message_id: str, kind: str, body: str, now: int, meta: dict[str, str]
) -> Outcome:
    seq = conv.message_count + 1
    message = Message(
        id=message_id,
        conversation_id=conv.id,
        seq=seq,
        direction="out",
        kind=kind,
        text=body,
        at=now,
        status="pending",
        author_id=actor.id,
        meta=meta,
    )
    # Replying means the agent has read the thread: the bubble clears.
    after = _bump(
        conv,
        message_count=seq,
        last_message_at=now,
        preview=text.preview(body),
        preview_direction="out",
        preview_kind=None,
        preview_duration_ms=None,
        unread=0,
    )
    return Outcome(before=conv, after=after, actor_id=actor.id, message=message)


def send(
    conv: Conversation, actor: Agent, body: str, *, message_id: str, policy: WindowPolicy, now: int
) -> Outcome:
    """A free-form reply: only while the reply window is open."""
    _require_open(conv)
    _require_owner(conv, actor)
    _require_text(body)
    mode = session.reply_mode(conv, policy, now)
    # session_locked also holds when the channel itself reported the window closed.
    if mode == "locked" or conv.session_locked:
        hint = " Only a template message may be sent." if policy.templates else ""
        raise DomainError(errors.SESSION_LOCKED, "The contact's reply window has closed." + hint)
    meta = {"tag": policy.extended_tag} if mode == "tagged" else {}
    return _outgoing(conv, actor, message_id=message_id, kind="text", body=body, now=now, meta=meta)


def send_media(
    conv: Conversation,
    actor: Agent,
    media_file: Media,
    caption: str,
    *,
    upload: str,
    message_id: str,
    policy: WindowPolicy,
    now: int,
) -> Outcome:
    """A file (an image, audio, video or document the agent uploaded), with
    a caption where the channel takes one: under the same rules as text
    (owner, open, the reply window). ``upload`` names the upload, kept in
    ``meta`` so a retried command finds this message."""
    _require_open(conv)
    _require_owner(conv, actor)
    mode = session.reply_mode(conv, policy, now)
    if mode == "locked" or conv.session_locked:
        hint = " Only a template message may be sent." if policy.templates else ""
        raise DomainError(errors.SESSION_LOCKED, "The contact's reply window has closed." + hint)
    caption = media.check_caption(conv.channel, media_file.kind, caption)
    meta = {"upload": upload} | ({"caption": caption} if caption else {}) | ({"tag": policy.extended_tag} if mode == "tagged" else {})
    name = media_file.filename if media_file.kind == "document" else ""
    body = " ".join(s for s in (f"[{media_file.kind}]", name, caption) if s)
    outcome = _outgoing(conv, actor, message_id=message_id, kind=media_file.kind, body=body, now=now, meta=meta)
    assert outcome.message is not None
    message = replace(outcome.message, media=media_file)
    after = replace(outcome.after, preview_kind=media.preview_kind(message))
    return replace(outcome, message=message, after=after)


def render_template(template: Template, params: Sequence[str]) -> str:
    wanted = len(set(re.findall(r"\{\{(\d+)\}\}", template.text)))
    if len(params) != wanted:
        raise DomainError(
            errors.INVALID_ARGUMENT, f"Template {template.name} takes {wanted} parameters, got {len(params)}."
        )
    return re.sub(r"\{\{(\d+)\}\}", lambda m: params[int(m.group(1)) - 1], template.text)


def send_template(
    conv: Conversation,
    actor: Agent,
    template: Template,
    params: Sequence[str],
    *,
    message_id: str,
    policy: WindowPolicy,
    now: int,
) -> Outcome:
    """An approved template: allowed inside or outside the reply window."""
    _require_open(conv)
    _require_owner(conv, actor)
    if not policy.templates:
        raise DomainError(errors.NOT_SUPPORTED_ON_CHANNEL, f"{conv.channel} has no template messages.")
    body = render_template(template, params)
    meta = {"template": template.name, "language": template.language, "params": "\x1f".join(params)}
    return _outgoing(conv, actor, message_id=message_id, kind="template", body=body, now=now, meta=meta)


def start(
    latest: Conversation | None,
    *,
    new_conversation_id: str,
    message_id: str,
    actor: Agent,
    touchpoint: Touchpoint,
    contact: Contact,
    policy: WindowPolicy,
    now: int,
    template: Template | None = None,
    params: Sequence[str] = (),
    body: str | None = None,
) -> Outcome:
    """Outbound: a new conversation assigned to the caller, opened with a
    template (or free text while the contact's window is still open: the
    window belongs to the contact and the number, not to a conversation)."""
    require_touchpoint(actor, touchpoint)
    if latest is not None and latest.is_open:
        raise DomainError(
            errors.CONVERSATION_OPEN, f"An open conversation with this contact exists ({latest.id})."
        )
    conv = Conversation(
        id=new_conversation_id,
        version=0,
        channel=touchpoint.channel,
        touchpoint_id=touchpoint.id,
        queue_id=touchpoint.queue_id,
        contact_id=contact.id,
        origin="outbound",
        assignee_id=actor.id,
        created_at=now,
        last_inbound_at=latest.last_inbound_at if latest else None,
    )
    conv = replace(conv, session_locked=session.is_locked(conv, policy, now))
    if template is not None:
        outcome = send_template(conv, actor, template, params, message_id=message_id, policy=policy, now=now)
    elif body is not None:
        outcome = send(conv, actor, body, message_id=message_id, policy=policy, now=now)
    else:
        raise DomainError(errors.INVALID_ARGUMENT, "Start a conversation with a template or a message.")
    return replace(outcome, before=None)


DELIVERY_RANK = {"pending": 0, "sent": 1, "delivered": 2, "read": 3}
"""The order delivery states move in (never back); ``failed`` stands apart."""


def delivery(
    conv: Conversation,
    message: Message,
    status: str,
    *,
    channel_message_id: str | None = None,
    error: tuple[str, str] | None = None,
    window_closed: bool = False,
) -> Outcome | None:
    """A channel's report on an outbound message. States only move forward
    (pending < sent < delivered < read); ``read`` may skip ``delivered``;
    ``failed`` ends a message not yet delivered. Stale or repeated reports
    change nothing (None). ``window_closed``: the channel refused the send
    because the reply window is closed (WhatsApp 131047): lock now, trusting
    the channel over our clock."""
    rank = DELIVERY_RANK
    current = message.status
    if current == "failed" or message.direction != "out":
        return None
    if status == "failed":
        if rank.get(current, 0) >= rank["delivered"]:
            return None
        code, why = error or ("unknown", "The channel reported a failure.")
        updated = replace(message, status="failed", error_code=code, error_message=why)
    elif status in rank and rank[status] > rank.get(current, 0):
        updated = replace(message, status=status)
    else:
        return None
    if channel_message_id and not updated.channel_message_id:
        updated = replace(updated, channel_message_id=channel_message_id)
    # The version moves even when nothing else does: the commit's version check
    # then also orders two reports racing on different nodes.
    locks = window_closed and conv.is_open and not conv.session_locked
    after = _bump(conv, session_locked=True) if locks else _bump(conv)
    return Outcome(before=conv, after=after, updated_message=updated)


# --------------------------------------------------------------------------- whatsapp extras


def add_note(conv: Conversation, actor: Agent, body: str, *, note_id: str, now: int) -> Outcome:
    """Internal note, never sent to the contact. Allowed after End Chat too
    (wrap-up time); the conversation itself does not change."""
    _require_whatsapp(conv, "Notes")
    _require_owner(conv, actor)
    _require_text(body, "Note")
    note = Note(id=note_id, conversation_id=conv.id, author_id=actor.id, text=body, at=now)
    return Outcome(before=conv, after=conv, actor_id=actor.id, note=note)


def wrap_up(
    conv: Conversation, actor: Agent, disposition: str, note: str, *, dispositions: Sequence[str], now: int
) -> Outcome:
    """After End Chat: how the conversation ended. Recording it again corrects it."""
    _require_whatsapp(conv, "Wrap-up")
    if conv.is_open:
        raise DomainError(errors.CONVERSATION_OPEN, "End the chat before wrapping it up.")
    _require_owner(conv, actor)
    if disposition not in dispositions:
        raise DomainError(errors.INVALID_ARGUMENT, f"Unknown disposition {disposition!r}.")
    if len(note) > MAX_TEXT:
        raise DomainError(errors.INVALID_ARGUMENT, f"Note is longer than {MAX_TEXT} characters.")
    record = WrapUp(agent_id=actor.id, disposition=disposition, note=note, at=now)
    return Outcome(before=conv, after=_bump(conv, wrap_up=record), actor_id=actor.id, wrap_up=record)


# --------------------------------------------------------------------------- time


def expire(conv: Conversation, policy: WindowPolicy, now: int, *, message_id: str) -> Outcome | None:
    """The reply window passed: lock, once, with its timeline entry
    ``locked`` (id ``message_id``) in the same commit. None when nothing is
    due (the contact wrote meanwhile, the lock was already announced, or it
    ended)."""
    if not conv.is_open or conv.session_locked or not session.is_locked(conv, policy, now):
        return None
    record = timeline_entry(conv, "locked", message_id=message_id, now=now)
    return Outcome(before=conv, after=_bump(conv, session_locked=True, message_count=record.seq), message=record)


def expire_ahead(conv: Conversation, policy: WindowPolicy, *, message_id: str) -> tuple[int, Outcome] | None:
    """``expire`` decided ahead, for the moment the window passes: (that
    moment, the lock as ``expire`` would decide it then, its timeline entry
    stamped then). None when no lock will be due (no window, locked already,
    ended). Valid while ``conv`` is what is stored (a commit of the lock
    checks its version) and once its moment has come; stamp it with the time
    it really happens (``stamped``)."""
    due = session.expires_at(conv, policy)
    if due is None:
        return None
    outcome = expire(conv, policy, due, message_id=message_id)
    return (due, outcome) if outcome is not None else None


def stamped(lock: Outcome, now: int) -> Outcome:
    """A lock decided ahead (``expire_ahead``), its timeline entry at ``now``:
    what ``expire`` decides at ``now`` (from its moment on) for the same
    conversation. Nothing else in it depends on the time."""
    assert lock.message is not None
    return replace(lock, message=replace(lock.message, at=now))
