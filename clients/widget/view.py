"""What the desktop widget shows, as pure functions of the client's mirror:
testable without a display, and the Tk window only copies it to the screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from clients.switchboard_client.mirror import Change, Mirror
from clients.widget.i18n import ENGLISH, Words


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
    """The agent's conversations, unread first (all of them: the window scrolls)."""
    title: str
    """The window's title: with the unread count when there is one."""
    routing: str | None = None
    """The agent's routing status (available, away, offline); None: no queue routes automatically."""
    offers: tuple[Row, ...] = ()
    """What rings for the agent now."""


@dataclass(frozen=True)
class Alert:
    kind: Literal["assigned", "inbox", "locked", "message", "offer"]
    conversation_id: str
    text: str


def status_text(state: str, words: Words = ENGLISH) -> str:
    _ = words._
    texts = {
        "idle": _("Starting…"),
        "connecting": _("Connecting…"),
        "live": _("Live"),
        "reconnecting": _("Reconnecting…"),
        "failed": _("Offline: log in again"),
        "closed": _("Closed"),
    }
    return texts.get(state, state)


def view_of(mirror: Mirror, state: str = "live", agent: str = "", words: Words = ENGLISH) -> WidgetView:
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
        for s in mine
    )
    unread = mirror.unread_total
    title = words._("Switchboard · {count} unread").format(count=words.number(unread)) if unread else "Switchboard"
    return WidgetView(
        agent=agent,
        status=status_text(state, words),
        assigned=mirror.assigned_count,
        inbox=mirror.inbox_count,
        unread=mirror.unread_total,
        locked=len(mirror.locked()),
        rows=rows,
        title=title,
        routing=mirror.status.status if mirror.status is not None else None,
        offers=tuple(
            Row(conversation_id=cid, name=o.conversation.contact.display_name, channel=o.conversation.channel, unread=0, locked=False)
            for cid, o in mirror.offers.items()
        ),
    )


def alerts_of(mirror: Mirror, changes: list[Change], words: Words = ENGLISH) -> list[Alert]:
    """The changes worth interrupting the agent for: a conversation assigned
    to them, a new one in their Inbox, one of theirs whose session locked.
    (New messages in their conversations: ``MessageAlerts``.)"""
    _ = words._
    alerts: list[Alert] = []
    for change in changes:
        cid = change.conversation_id
        if cid is None:
            continue
        summary = mirror.conversation(cid)
        name = summary.contact.display_name if summary else _("a contact")
        if change.kind == "assigned.added":
            alerts.append(Alert("assigned", cid, _("Assigned to you: {name}").format(name=name)))
        elif change.kind == "inbox.added":
            if summary and summary.preview:
                text = _("New in Inbox: {name}: {preview}").format(name=name, preview=summary.preview)
            else:
                text = _("New in Inbox: {name}").format(name=name)
            alerts.append(Alert("inbox", cid, text))
        elif change.kind == "session.locked" and cid in mirror.assigned:
            alerts.append(Alert("locked", cid, _("Session closed: {name}").format(name=name)))
        elif change.kind == "offer.rung" and cid in mirror.offers:
            by = mirror.offers[cid].offer.by
            if by:
                alerts.append(Alert("offer", cid, _("Transferred to you by {agent}: {name}").format(agent=by, name=name)))
            else:
                alerts.append(Alert("offer", cid, _("Offered to you: {name}").format(name=name)))
    return alerts


class MessageAlerts:
    """A new customer message in one of the agent's conversations: the
    conversation's unread count rose. Remembers each conversation's count;
    after a reconnect that reloaded everything (``reset``) it alerts for what
    rose meanwhile, so a message missed while offline still rings. The first
    load alerts for nothing (those are not news)."""

    def __init__(self) -> None:
        self.unread: dict[str, int] | None = None

    def __call__(self, mirror: Mirror, changes: list[Change], words: Words = ENGLISH) -> list[Alert]:
        before = self.unread
        self.unread = {s.id: s.unread for s in mirror.assigned.values()}
        if before is None:
            return []
        touched = {c.conversation_id for c in changes if c.kind in ("assigned.updated", "reset")}
        if any(c.kind == "reset" for c in changes):
            touched = set(self.unread)
        alerts = []
        for cid in sorted(touched - {None}, key=str):
            assert cid is not None
            summary = mirror.assigned.get(cid)
            if summary is None or cid not in before or summary.unread <= before[cid]:
                continue
            text = words._("New message from {name}: {preview}").format(name=summary.contact.display_name, preview=summary.preview)
            alerts.append(Alert("message", cid, text))
        return alerts


def conversation_url(base_url: str, conversation_id: str) -> str:
    """The web app opened at one conversation (its URL fragment route)."""
    return f"{base_url.rstrip('/')}/#/c/{quote(conversation_id, safe='')}"
