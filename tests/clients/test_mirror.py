"""The mirror, fed snapshots and events by hand (no I/O)."""

from __future__ import annotations

from msgspec.structs import replace

from clients.switchboard_client.mirror import Mirror
from protocol import messages as p

CONTACT = p.ContactView(id="whatsapp:55", channel="whatsapp", address="55", display_name="+55", initials=None, known=False)


def summary(cid: str = "c1", version: int = 1, **kw: object) -> p.ConversationSummary:
    fields: dict[str, object] = dict(
        id=cid, version=version, channel="whatsapp", touchpoint_id="wa", touchpoint_name="+1 555", queue_id="sales",
        status="open", assignee_id=None, contact=CONTACT, created_at=1, last_message_at=1, preview="hi",
        preview_direction="in", unread=1, session_expires_at=10, session_locked=False,
    )
    fields.update(kw)
    return p.ConversationSummary(**fields)  # type: ignore[arg-type]


def snapshot(inbox: list[p.ConversationSummary] = [], assigned: list[p.ConversationSummary] = []) -> p.Snapshot:
    return p.Snapshot(
        epoch="e", streams={}, inbox=inbox, assigned=assigned, unread_total=sum(s.unread for s in assigned),
        queues=[p.QueueView(id="sales", name="Sales")], agents=[], touchpoints=[], templates=[],
        dispositions=["Resolved"], server_time=5_000,
    )


def test_snapshot_loads_lists_counters_and_clock_offset() -> None:
    m = Mirror()
    changes = m.load(snapshot([summary("c1")], [summary("c2", assignee_id="ana", unread=3)]), local_now=4_000)
    assert [c.kind for c in changes] == ["reset"]
    assert list(m.inbox) == ["c1"] and list(m.assigned) == ["c2"]
    assert (m.assigned_count, m.unread_total, m.inbox_count) == (1, 3, 1)
    assert m.server_time_offset == 1_000
    assert m.dispositions == ["Resolved"]


def test_claim_moves_a_row_from_inbox_to_assigned_with_counters() -> None:
    m = Mirror()
    m.load(snapshot([summary("c1")]))
    removed = m.apply(p.InboxRemoved(conversation_id="c1", queue_id="sales", reason="claimed", agent_id="ana"))
    added = m.apply(p.AssignedAdded(conversation=summary("c1", 2, assignee_id="ana"), count=1, unread_total=1))
    assert [c.kind for c in removed + added] == ["inbox.removed", "assigned.added"]
    assert m.inbox == {} and m.assigned["c1"].assignee_id == "ana"
    assert (m.assigned_count, m.unread_total) == (1, 1)


def test_an_older_version_never_replaces_a_newer_one() -> None:
    m = Mirror()
    m.load(snapshot([summary("c1", 5, preview="newest")]))
    m.apply(p.InboxUpdated(conversation=summary("c1", 3, preview="older")))  # a replayed event
    assert m.inbox["c1"].preview == "newest"


def test_a_thread_summary_refreshes_rows_but_never_moves_them() -> None:
    m = Mirror()
    m.load(snapshot([summary("c1", 1)], [summary("c2", 1, assignee_id="ana")]))
    m.apply(p.ConversationUpdated(conversation=summary("c1", 2, assignee_id="bruno")))
    assert m.inbox["c1"].version == 1  # still listed until queue:sales says it left
    m.apply(p.ConversationUpdated(conversation=summary("c2", 2, assignee_id="ana", session_locked=True)))
    assert m.assigned["c2"].session_locked and [s.id for s in m.locked()] == ["c2"]


def test_session_lock_events_are_reported_as_changes() -> None:
    m = Mirror()
    m.load(snapshot([], [summary("c2", assignee_id="ana")]))
    changes = m.apply(p.SessionLocked(conversation_id="c2", expires_at=10))
    assert [(c.kind, c.conversation_id) for c in changes] == [("session.locked", "c2")]


def test_thread_collects_messages_notes_wrap_up_in_order() -> None:
    m = Mirror()
    m.load(snapshot([], [summary("c1", assignee_id="ana")]))
    msg = p.MessageView(id="m1", conversation_id="c1", seq=1, direction="in", kind="text", text="hi", at=1, status="received")
    m.load_thread(
        p.ThreadResult(conversation=summary("c1", 1, assignee_id="ana"), messages=[msg], has_more=False, notes=[], wrap_up=None, stream_seq=3)
    )
    second = replace(msg, id="m2", seq=2, direction="out", status="pending", text="hello")
    m.apply(p.MessageCreated(message=second, conversation=summary("c1", 2, assignee_id="ana", preview="hello")))
    m.apply(p.MessageUpdated(message=replace(second, status="delivered")))
    note = p.NoteView(id="n1", conversation_id="c1", author_id="ana", text="vip", at=3)
    m.apply(p.NoteAdded(note=note))
    m.apply(p.NoteAdded(note=note))  # replayed: kept once
    thread = m.threads["c1"]
    assert [(x.seq, x.status) for x in thread.ordered()] == [(1, "received"), (2, "delivered")]
    assert thread.notes == [note]
    assert m.assigned["c1"].preview == "hello"
    assert m.conversation("c1") is not None and m.conversation("c1").version == 2  # type: ignore[union-attr]


def test_assigned_removed_updates_counters_even_for_an_unknown_row() -> None:
    m = Mirror()
    m.load(snapshot([], [summary("c1", assignee_id="ana", unread=2)]))
    m.apply(p.AssignedRemoved(conversation_id="c1", reason="ended", count=0, unread_total=0))
    assert m.assigned == {} and (m.assigned_count, m.unread_total) == (0, 0)


def test_a_contact_rename_at_the_same_version_is_taken() -> None:
    """The server republishes a renamed contact's conversations without a new
    version; the later event of the stream wins."""
    m = Mirror()
    m.load(snapshot([summary("c1", 4)]))
    known = replace(CONTACT, display_name="Maria José", initials="MJ", known=True)
    m.apply(p.InboxUpdated(conversation=summary("c1", 4, contact=known)))
    assert m.inbox["c1"].contact.display_name == "Maria José"


def windowed(rows: list[p.ConversationSummary], cursor: str | None, total: int) -> p.Snapshot:
    snap = snapshot(rows)
    snap.inbox_cursor = cursor
    snap.inbox_counts = [p.QueueCounts(queue_id="sales", inbox=total, oldest_at=1)]
    return snap


def counts(n: int) -> p.QueueCounts:
    return p.QueueCounts(queue_id="sales", inbox=n, oldest_at=1)


def test_the_inbox_is_a_window_plus_counts() -> None:
    m = Mirror()
    m.load(windowed([summary("c1", last_message_at=10), summary("c2", last_message_at=20)], "20:c2", 500))
    assert m.inbox_count == 500, "the whole Inbox, from the counts, not the window's two rows"

    # A newer conversation waits behind the window's end: counted, not kept.
    changes = m.apply(p.InboxAdded(conversation=summary("c9", last_message_at=900), counts=counts(501)))
    assert [c.kind for c in changes] == ["inbox.counts"]
    assert "c9" not in m.inbox and m.inbox_count == 501
    # One sorting inside the window is kept.
    m.apply(p.InboxAdded(conversation=summary("c3", last_message_at=15), counts=counts(502)))
    assert [s.id for s in m.inbox_window()] == ["c1", "c3", "c2"]
    # A row whose activity moves past the window's end leaves it (a later page brings it).
    m.apply(p.InboxUpdated(conversation=summary("c1", version=2, last_message_at=950), counts=counts(502)))
    assert [s.id for s in m.inbox_window()] == ["c3", "c2"]
    # Removed outside the window: the count still moves.
    assert [c.kind for c in m.apply(p.InboxRemoved(conversation_id="c9", queue_id="sales", reason="claimed",
                                                   counts=counts(501)))] == ["inbox.counts"]
    assert m.inbox_count == 501

    m.load_inbox_page(p.InboxPageResult(conversations=[summary("c4", last_message_at=30)], cursor=None))
    assert m.inbox_cursor is None and [s.id for s in m.inbox_window()] == ["c3", "c2", "c4"]
    # The window now reaches the end: every new one is kept.
    m.apply(p.InboxAdded(conversation=summary("c10", last_message_at=1000), counts=counts(502)))
    assert [s.id for s in m.inbox_window()][-1] == "c10"


def test_an_old_server_without_counts_counts_the_window() -> None:
    m = Mirror()
    m.load(snapshot([summary("c1"), summary("c2")]))
    m.apply(p.InboxAdded(conversation=summary("c3", last_message_at=99)))
    assert m.inbox_count == 3


def test_canned_lists_keep_the_highest_version() -> None:
    def canned(version: int, *shortcuts: str) -> p.CannedListView:
        responses = [p.CannedResponseView(id=s, shortcut=s, text=s, updated_at=version, updated_by="sofia") for s in shortcuts]
        return p.CannedListView(list_id="queue:sales", version=version, editors=["role:supervisor"], responses=responses)

    m = Mirror()
    m.load(replace(snapshot(), canned=[canned(1, "ola")]))
    assert [c.kind for c in m.apply(p.CannedUpdated(canned=canned(2, "ola", "tchau")))] == ["canned.updated"]
    assert m.apply(p.CannedUpdated(canned=canned(1))) == []  # a replayed older list
    assert [r.shortcut for r in m.canned["queue:sales"].responses] == ["ola", "tchau"]
