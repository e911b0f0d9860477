"""The agent's state as the server last described it, kept up to date from
events. Pure: no sockets, no clock, no awaits; feed it a snapshot and events,
read what it holds and the changes each step made.

Two rules make replays harmless (a resume may repeat events the snapshot
already covered):

- Summaries are whole values with a ``version``; the mirror never lets an
  older one replace a newer one.
- Membership (who is in the Inbox, who is in the Assigned list) changes only
  through the list streams (``queue:<id>``, ``agent:<id>``), whose events
  arrive in order. A summary from a thread stream (``conv:<id>``) refreshes a
  row already listed but never moves it between lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from protocol import messages as p

ChangeKind = Literal[
    "reset",
    "inbox.added",
    "inbox.updated",
    "inbox.removed",
    "inbox.page",
    "inbox.counts",
    "assigned.added",
    "assigned.updated",
    "assigned.removed",
    "session.locked",
    "session.unlocked",
    "thread",
    "message.created",
    "message.updated",
    "note.added",
    "wrap_up.recorded",
    "to_wrap_up.added",
    "to_wrap_up.removed",
    "conversation.updated",
    "agent.status",
    "offer.rung",
    "offer.withdrawn",
    "floor.updated",
    "canned.updated",
]


def allowed(summary: p.ConversationSummary, principals: list[str]) -> frozenset[p.Action]:
    """What the server says an agent may do to a conversation: the union of
    the summary's grants (``can``) to the agent's principals (``Welcome``)."""
    return frozenset(action for key in principals for action in summary.can.get(key, ()))


@dataclass(frozen=True)
class Change:
    """What one step changed, for change callbacks and alerts."""

    kind: ChangeKind
    conversation_id: str | None = None
    event: p.EventBody | None = None


@dataclass
class Thread:
    """An open conversation: its summary and the messages loaded so far."""

    conversation: p.ConversationSummary
    messages: dict[int, p.MessageView] = field(default_factory=dict)
    """By ``seq``; ``ordered()`` gives them in thread order."""
    has_more: bool = False
    notes: list[p.NoteView] = field(default_factory=list)
    wrap_up: p.WrapUpView | None = None

    def ordered(self) -> list[p.MessageView]:
        return [self.messages[s] for s in sorted(self.messages)]


def _newer(old: p.ConversationSummary | None, new: p.ConversationSummary) -> bool:
    """Not older. An equal version is taken too: a contact's rename is
    republished with the conversation's version unchanged, and events of one
    stream arrive in order, so the later of two equal versions is the fresher."""
    return old is None or new.version >= old.version


def _waiting_key(s: p.ConversationSummary) -> tuple[int, str]:
    """The Inbox's order: oldest activity first (docs/PROTOCOL.md, the Inbox as a window)."""
    return (s.last_message_at or s.created_at, s.id)


def _in_inbox(s: p.ConversationSummary) -> bool:
    return s.status == "open" and s.assignee_id is None


class Mirror:
    def __init__(self) -> None:
        self.agent: p.AgentView | None = None
        self.inbox: dict[str, p.ConversationSummary] = {}
        """The Inbox *window*: the oldest waiting, as far as pages were read."""
        self.inbox_cursor: str | None = None
        """Where the next ``inbox_page`` continues (None: the window is the whole Inbox)."""
        self.queue_counts: dict[str, p.QueueCounts] = {}
        """Each visible queue's Inbox in numbers, kept right by the events."""
        self.assigned: dict[str, p.ConversationSummary] = {}
        self.assigned_count = 0
        self.unread_total = 0
        self.to_wrap_up: dict[str, p.ConversationSummary] = {}
        """Ended WhatsApp conversations of the agent waiting for their wrap-up."""
        self.threads: dict[str, Thread] = {}
        self.queues: list[p.QueueView] = []
        self.agents: list[p.AgentView] = []
        self.touchpoints: list[p.TouchpointView] = []
        self.templates: list[p.TemplateView] = []
        self.dispositions: list[str] = []
        self.canned: dict[str, p.CannedListView] = {}
        """Canned response lists by list id (``queue:<id>``, ``agent:<id>``), the highest version of each."""
        self.server_time_offset = 0
        """Server clock minus local clock (ms), from the last snapshot; for countdowns."""
        self.loaded = False
        self.status: p.AgentStatusView | None = None
        """Routing: the agent's status (None: no queue routes automatically)."""
        self.offers: dict[str, p.OfferRung] = {}
        """Routing: what rings for the agent, by conversation id."""
        self.floors: dict[str, p.QueueFloor] = {}
        """Routing (supervisors): each automatic queue's floor."""

    # ------------------------------------------------------------------ reading

    @property
    def inbox_count(self) -> int:
        """The whole Inbox, not the window (a server without counts: the window)."""
        if self.queue_counts:
            return sum(c.inbox for c in self.queue_counts.values())
        return len(self.inbox)

    def inbox_window(self) -> list[p.ConversationSummary]:
        """The window in the order agents work in: oldest waiting first."""
        return sorted(self.inbox.values(), key=_waiting_key)

    def _fits(self, s: p.ConversationSummary) -> bool:
        """A row belongs in the window when the window reaches the end of the
        Inbox, or when it sorts before the window's last row."""
        if self.inbox_cursor is None:
            return True
        others = [_waiting_key(r) for r in self.inbox.values() if r.id != s.id]
        return bool(others) and _waiting_key(s) < max(others)

    def _count(self, counts: p.QueueCounts | None) -> None:
        if counts is not None:
            self.queue_counts[counts.queue_id] = counts

    def conversation(self, conv_id: str) -> p.ConversationSummary | None:
        """The freshest summary known for a conversation, wherever it is listed."""
        best: p.ConversationSummary | None = None
        for source in (self.assigned.get(conv_id), self.inbox.get(conv_id)):
            if source is not None and _newer(best, source):
                best = source
        thread = self.threads.get(conv_id)
        if thread is not None and _newer(best, thread.conversation):
            best = thread.conversation
        return best

    def locked(self) -> list[p.ConversationSummary]:
        """Assigned conversations whose reply window has closed."""
        return [s for s in self.assigned.values() if s.session_locked]

    # ------------------------------------------------------------------ feeding

    def load(self, snapshot: p.Snapshot, *, local_now: int | None = None) -> list[Change]:
        """Replace everything with a snapshot (first connection or resync).
        Threads are dropped: the client reopens the ones still wanted."""
        self.inbox = {s.id: s for s in snapshot.inbox}
        self.inbox_cursor = snapshot.inbox_cursor
        self.queue_counts = {c.queue_id: c for c in snapshot.inbox_counts}
        self.assigned = {s.id: s for s in snapshot.assigned}
        self.assigned_count = len(snapshot.assigned)
        self.unread_total = snapshot.unread_total
        self.to_wrap_up = {s.id: s for s in snapshot.to_wrap_up}
        self.threads = {}
        self.queues = list(snapshot.queues)
        self.agents = list(snapshot.agents)
        self.touchpoints = list(snapshot.touchpoints)
        self.templates = list(snapshot.templates)
        self.dispositions = list(snapshot.dispositions)
        self.canned = {c.list_id: c for c in snapshot.canned}
        if local_now is not None:
            self.server_time_offset = snapshot.server_time - local_now
        self.status = snapshot.status
        self.offers = {o.offer.conversation_id: o for o in snapshot.offers}
        self.floors = {f.queue_id: f for f in snapshot.floors}
        self.loaded = True
        return [Change("reset")]

    def load_thread(self, result: p.ThreadResult) -> list[Change]:
        cid = result.conversation.id
        thread = Thread(
            conversation=result.conversation,
            messages={m.seq: m for m in result.messages},
            has_more=result.has_more,
            notes=list(result.notes),
            wrap_up=result.wrap_up,
        )
        old = self.threads.get(cid)
        if old is not None:  # keep what live events added while the page was read
            for seq, m in old.messages.items():
                thread.messages.setdefault(seq, m)
            if not _newer(old.conversation, thread.conversation):
                thread.conversation = old.conversation
        self.threads[cid] = thread
        self._refresh(result.conversation)
        return [Change("thread", cid)]

    def load_inbox_page(self, page: p.InboxPageResult) -> list[Change]:
        """The next page of the window (asked with ``inbox_cursor``)."""
        for row in page.conversations:
            if _newer(self.inbox.get(row.id), row):
                self.inbox[row.id] = row
        self.inbox_cursor = page.cursor
        return [Change("inbox.page")]

    def load_page(self, conv_id: str, page: p.PageResult) -> list[Change]:
        thread = self.threads.get(conv_id)
        if thread is None:
            return []
        for m in page.messages:
            thread.messages.setdefault(m.seq, m)
        thread.has_more = page.has_more
        return [Change("thread", conv_id)]

    def drop_thread(self, conv_id: str) -> None:
        self.threads.pop(conv_id, None)

    def apply(self, event: p.EventBody) -> list[Change]:
        """One event body, in its stream's order. Returns what changed."""
        match event:
            case p.InboxAdded(conversation=s, counts=counts) | p.InboxUpdated(conversation=s, counts=counts):
                self._count(counts)
                old = self.inbox.get(s.id)
                if not self._fits(s):
                    # Beyond the window: a later page brings it (or it left it).
                    if old is None:
                        return [Change("inbox.counts")] if counts is not None else []
                    del self.inbox[s.id]
                    return [Change("inbox.removed", s.id, event)]
                if _newer(old, s):
                    self.inbox[s.id] = s
                self._refresh(s)
                added = old is None and isinstance(event, p.InboxAdded)
                return [Change("inbox.added" if added else "inbox.updated", s.id, event)]
            case p.InboxRemoved(conversation_id=cid, counts=counts):
                self._count(counts)
                if self.inbox.pop(cid, None) is None:
                    return [Change("inbox.counts")] if counts is not None else []
                return [Change("inbox.removed", cid, event)]
            case p.AssignedAdded(conversation=s, count=count, unread_total=unread):
                old = self.assigned.get(s.id)
                if _newer(old, s):
                    self.assigned[s.id] = s
                self.assigned_count, self.unread_total = count, unread
                self._refresh(s)
                return [Change("assigned.added" if old is None else "assigned.updated", s.id, event)]
            case p.AssignedUpdated(conversation=s, count=count, unread_total=unread):
                if _newer(self.assigned.get(s.id), s):
                    self.assigned[s.id] = s
                self.assigned_count, self.unread_total = count, unread
                self._refresh(s)
                return [Change("assigned.updated", s.id, event)]
            case p.AssignedRemoved(conversation_id=cid, count=count, unread_total=unread):
                self.assigned.pop(cid, None)
                self.assigned_count, self.unread_total = count, unread
                return [Change("assigned.removed", cid, event)]
            case p.SessionLocked(conversation_id=cid) | p.SessionUnlocked(conversation_id=cid):
                # The new summary (session_locked, expiry) travels in the
                # list/thread event published just before; this one is the alert.
                kind: ChangeKind = "session.locked" if isinstance(event, p.SessionLocked) else "session.unlocked"
                return [Change(kind, cid, event)]
            case p.ConversationUpdated(conversation=s):
                self._refresh(s)
                return [Change("conversation.updated", s.id, event)]
            case p.MessageCreated(message=m, conversation=s):
                thread = self.threads.get(m.conversation_id)
                if thread is not None:
                    thread.messages[m.seq] = m
                self._refresh(s)
                return [Change("message.created", m.conversation_id, event)]
            case p.MessageUpdated(message=m):
                thread = self.threads.get(m.conversation_id)
                if thread is not None:
                    thread.messages[m.seq] = m
                return [Change("message.updated", m.conversation_id, event)]
            case p.NoteAdded(note=n):
                thread = self.threads.get(n.conversation_id)
                if thread is not None and all(x.id != n.id for x in thread.notes):
                    thread.notes.append(n)
                return [Change("note.added", n.conversation_id, event)]
            case p.WrapUpRecorded(wrap_up=w):
                thread = self.threads.get(w.conversation_id)
                if thread is not None:
                    thread.wrap_up = w
                return [Change("wrap_up.recorded", w.conversation_id, event)]
            case p.ToWrapUpAdded(conversation=s):
                if _newer(self.to_wrap_up.get(s.id), s):
                    self.to_wrap_up[s.id] = s
                return [Change("to_wrap_up.added", s.id, event)]
            case p.ToWrapUpRemoved(conversation_id=cid):
                self.to_wrap_up.pop(cid, None)
                return [Change("to_wrap_up.removed", cid, event)]
            case p.AgentStatusChanged(agent=status):
                self.status = status
                return [Change("agent.status", None, event)]
            case p.OfferRung(offer=offer, conversation=s):
                self.offers[offer.conversation_id] = event
                self._refresh(s)
                return [Change("offer.rung", offer.conversation_id, event)]
            case p.OfferWithdrawn(conversation_id=cid):
                self.offers.pop(cid, None)
                return [Change("offer.withdrawn", cid, event)]
            case p.FloorUpdated(floor=floor):
                self.floors[floor.queue_id] = floor
                return [Change("floor.updated", None, event)]
            case p.CannedUpdated(canned=lst):
                known = self.canned.get(lst.list_id)
                if known is not None and known.version >= lst.version:
                    return []
                self.canned[lst.list_id] = lst
                return [Change("canned.updated", None, event)]
        return []

    def _refresh(self, s: p.ConversationSummary) -> None:
        """A newer summary from any stream refreshes the rows that list it,
        as long as it still belongs there (membership moves by list events)."""
        old = self.inbox.get(s.id)
        if old is not None and _newer(old, s) and _in_inbox(s):
            self.inbox[s.id] = s
        old = self.assigned.get(s.id)
        if old is not None and _newer(old, s) and s.status == "open" and s.assignee_id == old.assignee_id:
            self.assigned[s.id] = s
        thread = self.threads.get(s.id)
        if thread is not None and _newer(thread.conversation, s):
            thread.conversation = s
