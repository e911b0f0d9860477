"""What the desktop widget shows, as pure functions of the client's mirror:
testable without a display, and the Tk window only copies it to the screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from clients.switchboard_client.mirror import Change, Mirror

MAX_ROWS = 5


@dataclass(frozen=True)
class Row:
    conversation_id: str
    name: str
    channel: str
    unread: int
    locked: bool


@dataclass(frozen=True)
class WidgetView:
    agent: str
    status: str
    """"Live", "Reconnecting…", "Offline", …"""
    assigned: int
    inbox: int
    unread: int
    locked: int
    rows: tuple[Row, ...]
    """The agent's conversations, unread first, at most MAX_ROWS."""
    routing: str | None = None
    """The agent's routing status (available, away, offline); None: no queue routes automatically."""
    offers: tuple[Row, ...] = ()
    """What rings for the agent now."""

    @property
    def title(self) -> str:
        return f"Switchboard · {self.unread} unread" if self.unread else "Switchboard"


@dataclass(frozen=True)
class Alert:
    kind: Literal["assigned", "inbox", "locked", "offer"]
    conversation_id: str
    text: str


STATUS = {
    "idle": "Starting…",
    "connecting": "Connecting…",
    "live": "Live",
    "reconnecting": "Reconnecting…",
    "failed": "Offline: log in again",
    "closed": "Closed",
}


def view_of(mirror: Mirror, state: str = "live", agent: str = "") -> WidgetView:
    mine = sorted(
        mirror.assigned.values(),
        key=lambda s: (s.unread == 0, -(s.last_message_at or s.created_at)),
    )
    rows = tuple(
        Row(
            conversation_id=s.id,
            name=s.contact.display_name,
            channel=s.channel,
            unread=s.unread,
            locked=s.session_locked and s.last_message_at is not None,
        )
        for s in mine[:MAX_ROWS]
    )
    return WidgetView(
        agent=agent,
        status=STATUS.get(state, state),
        assigned=mirror.assigned_count,
        inbox=mirror.inbox_count,
        unread=mirror.unread_total,
        locked=len(mirror.locked()),
        rows=rows,
        routing=mirror.status.status if mirror.status is not None else None,
        offers=tuple(
            Row(conversation_id=cid, name=o.conversation.contact.display_name, channel=o.conversation.channel, unread=0, locked=False)
            for cid, o in mirror.offers.items()
        ),
    )


def alerts_of(mirror: Mirror, changes: list[Change]) -> list[Alert]:
    """The changes worth interrupting the agent for: a conversation assigned
    to them, a new one in their Inbox, one of theirs whose session locked."""
    alerts: list[Alert] = []
    for change in changes:
        cid = change.conversation_id
        if cid is None:
            continue
        summary = mirror.conversation(cid)
        name = summary.contact.display_name if summary else "a contact"
        if change.kind == "assigned.added":
            alerts.append(Alert("assigned", cid, f"Assigned to you: {name}"))
        elif change.kind == "inbox.added":
            preview = f": {summary.preview}" if summary and summary.preview else ""
            alerts.append(Alert("inbox", cid, f"New in Inbox: {name}{preview}"))
        elif change.kind == "session.locked" and cid in mirror.assigned:
            alerts.append(Alert("locked", cid, f"Session closed: {name}"))
        elif change.kind == "offer.rung" and cid in mirror.offers:
            by = mirror.offers[cid].offer.by
            alerts.append(Alert("offer", cid, f"Transferred to you by {by}: {name}" if by else f"Offered to you: {name}"))
    return alerts


def conversation_url(base_url: str, conversation_id: str) -> str:
    """The web app opened at one conversation (its URL fragment route)."""
    return f"{base_url.rstrip('/')}/#/c/{quote(conversation_id, safe='')}"
