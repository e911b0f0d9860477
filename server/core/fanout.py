"""Who hears about a change: an Outcome → (stream, event) publications. Pure.

Streams and who listens to them:

    queue:<queue_id>   the queue's Inbox: its agents and every supervisor
    agent:<agent_id>   the agent's Assigned and To wrap up lists, counters, alerts: all their screens
    conv:<conv_id>     one thread: whoever has it open (and may see it)

Routing is by membership: a conversation is *in the inbox* of its queue while
open and unassigned, and *in the list* of its assignee while open and assigned.
Comparing membership before and after a change gives added / removed / updated
events, so every transition is routed by the same few lines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, NamedTuple

from msgspec.structs import replace

from protocol import messages as p
from server.core.conversation import TIMELINE, Outcome
from server.core.model import Conversation
from server.core.views import message_view, note_view, offer_view, wrap_up_view

log = logging.getLogger(__name__)


class Publication(NamedTuple):
    stream: str
    event: p.AnyEvent


@dataclass(frozen=True, slots=True)
class Totals:
    """An agent's Assigned counter and total unread, after the change."""

    count: int
    unread_total: int


def queue_stream(queue_id: str) -> str:
    return f"queue:{queue_id}"


def agent_stream(agent_id: str) -> str:
    return f"agent:{agent_id}"


def conv_stream(conv_id: str) -> str:
    return f"conv:{conv_id}"


def in_inbox(conv: Conversation | None) -> bool:
    return conv is not None and conv.status == "open" and conv.assignee_id is None


def holder(conv: Conversation | None) -> str | None:
    """The agent in whose Assigned list the conversation sits, if any."""
    return conv.assignee_id if conv is not None and conv.status == "open" else None


def inbox_row(summary: p.ConversationSummary) -> p.ConversationSummary:
    """How a conversation shows in its queue's Inbox (the queue stream, Inbox
    pages, the snapshot's window): without the offer ringing for it. Who a
    waiting conversation rings for is the business of that agent (``offer.rung``
    on their stream) and of the supervisors (the floor's ``ringing``), so an
    offer ringing or ending changes no Inbox row: in an automatic queue, the
    pass's offers are not fanned out to every agent of the queue."""
    return summary if summary.offer is None else replace(summary, offer=None)


def wrap_up_holder(conv: Conversation | None) -> str | None:
    """The agent in whose *To wrap up* list the conversation sits, if any: a
    WhatsApp conversation (the only channel with a wrap-up phase) ended while
    theirs, until its wrap-up is recorded."""
    if conv is None or conv.status == "open" or conv.channel != "whatsapp" or conv.wrap_up is not None:
        return None
    return conv.assignee_id


def wrap_up_order(conv: Conversation) -> tuple[int, str]:
    """The *To wrap up* list's order: ended first first."""
    return (conv.ended_at or 0, conv.id)


def affected_agents(outcome: Outcome) -> set[str]:
    """Agents whose Totals the publications need."""
    return {a for a in (holder(outcome.before), holder(outcome.after)) if a}


SHOWN_AS_IS = (
    "status", "assignee_id", "queue_id", "last_message_at", "preview", "preview_direction", "preview_kind",
    "unread", "session_locked", "ended_at",
)
"""Conversation fields the summary (views.summary) copies as they are."""


def shows_change(before: Conversation, after: Conversation) -> bool:
    """True when the change shows in the conversation's summary for certain:
    a field the summary copies as it is differs. False: it may still show
    (the contact, the window, the permissions): compare the summaries. Lets
    a publisher skip building the summary before the change, which
    ``publications`` needs only to tell whether anything shows."""
    return (
        before.status != after.status
        or before.assignee_id != after.assignee_id
        or before.queue_id != after.queue_id
        or before.last_message_at != after.last_message_at
        or before.preview != after.preview
        or before.preview_direction != after.preview_direction
        or before.preview_kind != after.preview_kind
        or before.unread != after.unread
        or before.session_locked != after.session_locked
        or before.ended_at != after.ended_at
    )


def inbox_counts_of(outcome: Outcome) -> str | None:
    """The queue whose Inbox counts the publications carry: one joined or
    left, or one whose member's activity moved (the oldest may change)."""
    b, a = outcome.before, outcome.after
    was_in, is_in = in_inbox(b), in_inbox(a)  # each worked out once (this runs for every stored change)
    if was_in != is_in:
        return b.queue_id if b is not None and was_in else a.queue_id
    if b is not None and is_in and (b.last_message_at or b.created_at) != (a.last_message_at or a.created_at):
        return a.queue_id
    return None


def _alert(outcome: Outcome, after: p.ConversationSummary, *, moved: bool) -> p.Alert | None:
    """What the holder must notice: the conversation given to them by someone
    else (not their own claim or start), or the customer writing in it."""
    reason: Literal["assigned", "message"] | None = None
    if moved and outcome.actor_id != after.assignee_id:
        reason = "assigned"
    elif outcome.message is not None and outcome.message.direction == "in" and outcome.message.kind != TIMELINE:
        reason = "message"
    if reason is None:
        return None
    return p.Alert(
        reason=reason, conversation_id=after.id, contact_name=after.contact.display_name, preview=after.preview
    )
def floor_stream(queue_id: str) -> str:
    """A queue's live floor (automatic queues): its supervisors."""
    return f"floor:{queue_id}"


WithdrawnReason = Literal["accepted", "declined", "timed_out", "withdrawn", "taken"]


def _offer_publications(outcome: Outcome, after: p.ConversationSummary) -> list[Publication]:
    """An offer that stopped ringing: ``offer.withdrawn`` to its agent (why,
    from the timeline entry committed with it); a new one: ``offer.rung``."""
    old = outcome.before.offer if outcome.before is not None else None
    new = outcome.after.offer
    if old == new:
        return []
    out: list[Publication] = []
    if old is not None:
        event = outcome.message.meta.get("event") if outcome.message is not None else None
        reason: WithdrawnReason = "taken"
        if event in ("accepted", "declined", "timed_out", "withdrawn"):
            reason = event  # type: ignore[assignment]
        out.append(Publication(agent_stream(old.agent_id), p.OfferWithdrawn(conversation_id=after.id, reason=reason)))
    if new is not None:
        out.append(Publication(agent_stream(new.agent_id), p.OfferRung(conversation=after, offer=offer_view(after.id, new))))
        # An offer is something the agent must notice too: it rings like the others.
        alert = p.Alert(reason="offer", conversation_id=after.id, contact_name=after.contact.display_name, preview=after.preview)
        out.append(Publication(agent_stream(new.agent_id), alert))
    return out


def publications(
    outcome: Outcome,
    before: p.ConversationSummary | None,
    after: p.ConversationSummary,
    totals: dict[str, Totals],
    counts: p.QueueCounts | None = None,
) -> list[Publication]:
    """``counts``: the Inbox of ``inbox_counts_of(outcome)`` after the change.
    ``before``: the summary before the change; None for a new conversation,
    or when ``shows_change`` already says the change shows (it is only
    compared with ``after``)."""
    b, a = outcome.before, outcome.after
    # A new version alone is no news to anyone (e.g. a delivery report).
    changed = before is None or replace(before, version=after.version) != after
    out: list[Publication] = []
    # Each membership worked out once (this runs for every stored change).
    a_open = a.status == "open"
    was_in, is_in = in_inbox(b), a_open and a.assignee_id is None

    # Inbox of the queue.
    if b is not None and was_in and not is_in:
        reason: Literal["claimed", "assigned", "ended"]
        if not a_open:
            reason = "ended"
        else:
            reason = "claimed" if a.assignee_id == outcome.actor_id else "assigned"
        out.append(
            Publication(
                queue_stream(b.queue_id),
                p.InboxRemoved(
                    conversation_id=a.id,
                    queue_id=b.queue_id,
                    reason=reason,
                    agent_id=a.assignee_id,
                    counts=counts,
                    by=outcome.actor_id,
                ),
            )
        )
    elif is_in and not was_in:
        out.append(Publication(queue_stream(a.queue_id), p.InboxAdded(conversation=inbox_row(after), counts=counts)))
    elif is_in and changed:
        row = inbox_row(after)
        if before is None or replace(before, version=row.version, offer=None) != row:  # not an offer alone
            out.append(Publication(queue_stream(a.queue_id), p.InboxUpdated(conversation=row, counts=counts)))

    # Assigned lists.
    old, new = holder(b), a.assignee_id if a_open else None
    if old is not None and old != new:
        removed: Literal["sent_to_inbox", "ended", "reassigned"]
        if not a_open:
            removed = "ended"
        else:
            removed = "sent_to_inbox" if new is None else "reassigned"
        t = totals[old]
        out.append(
            Publication(
                agent_stream(old),
                p.AssignedRemoved(
                    conversation_id=a.id,
                    reason=removed,
                    count=t.count,
                    unread_total=t.unread_total,
                    agent_id=new,
                    by=outcome.actor_id,
                ),
            )
        )
    if new is not None and (old != new or changed):
        t = totals[new]
        event: p.AnyEvent
        if old != new:
            event = p.AssignedAdded(conversation=after, count=t.count, unread_total=t.unread_total)
        else:
            event = p.AssignedUpdated(conversation=after, count=t.count, unread_total=t.unread_total)
        out.append(Publication(agent_stream(new), event))
        alert = _alert(outcome, after, moved=old != new)
        if alert is not None:
            out.append(Publication(agent_stream(new), alert))

    # The To wrap up lists.
    owed_before, owed_after = wrap_up_holder(b), None if a_open else wrap_up_holder(a)
    if owed_before is not None and owed_before != owed_after:
        out.append(Publication(agent_stream(owed_before), p.ToWrapUpRemoved(conversation_id=a.id)))
    if owed_after is not None and owed_after != owed_before:
        out.append(Publication(agent_stream(owed_after), p.ToWrapUpAdded(conversation=after)))

    # Session lock / unlock: to whoever has the conversation in a list, and to viewers.
    if b is not None and a_open and b.session_locked != a.session_locked:
        lock: p.AnyEvent | None = None
        if a.session_locked:
            lock = p.SessionLocked(conversation_id=a.id, expires_at=after.session_expires_at)
        elif after.session_expires_at is not None:
            lock = p.SessionUnlocked(conversation_id=a.id, expires_at=after.session_expires_at)
        else:
            log.error("%s: unlocked with no session expiry: session.unlocked not published", a.id)
        if lock is not None:
            out.append(Publication(agent_stream(new) if new else queue_stream(a.queue_id), lock))
            out.append(Publication(conv_stream(a.id), lock))

    # The thread.
    stream = conv_stream(a.id)
    if outcome.entry is not None:
        out.append(Publication(stream, p.MessageCreated(message=message_view(outcome.entry), conversation=after)))
    if outcome.message is not None:
        out.append(Publication(stream, p.MessageCreated(message=message_view(outcome.message), conversation=after)))
    elif changed:
        out.append(Publication(stream, p.ConversationUpdated(conversation=after)))
    if outcome.updated_message is not None:
        out.append(Publication(stream, p.MessageUpdated(message=message_view(outcome.updated_message))))
    if outcome.note is not None:
        out.append(Publication(stream, p.NoteAdded(note=note_view(outcome.note))))
    if outcome.wrap_up is not None:
        out.append(Publication(stream, p.WrapUpRecorded(wrap_up=wrap_up_view(a.id, outcome.wrap_up))))
    out.extend(_offer_publications(outcome, after))
    return out
