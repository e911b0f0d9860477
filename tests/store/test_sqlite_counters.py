"""The SQLite commit moves every counter in one pass (``_move_counters``):
the statements it makes are those the one-method-per-rule version made
(kept below as the reference, as it was before, calling the core's rules), in
the same order, for every pair of conversation states a commit can see."""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any

from msgspec.structs import replace

from server.core import fanout, routing
from server.core.conversation import Outcome
from server.core.model import Conversation, Offer, WrapUp
from server.store.sqlite import SqliteStore

BASE = Conversation(id="c1", channel="whatsapp", touchpoint_id="tp", queue_id="sales", contact_id="whatsapp:1", created_at=1)


class Recording:
    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        self.statements.append((sql, tuple(args)))


class Reference:
    """The four methods ``_move_counters`` replaced, as they were (and, in
    ``reference``, the wrap-up lines that followed them in ``_store``)."""

    @staticmethod
    def _move_totals(db: sqlite3.Connection, outcome: Outcome) -> None:
        """The agents' counters, in the commit's transaction: out of the
        holder before, into the holder after (``before`` is what was stored:
        the version check passed)."""
        deltas: dict[str, tuple[int, int]] = {}
        for conv, sign in ((outcome.before, -1), (outcome.after, 1)):
            agent = fanout.holder(conv)
            if conv is not None and agent is not None:
                count, unread = deltas.get(agent, (0, 0))
                deltas[agent] = (count + sign, unread + sign * conv.unread)
        for agent, (count, unread) in deltas.items():
            if count or unread:
                db.execute(
                    "INSERT INTO agent_totals VALUES (?, ?, ?) ON CONFLICT (agent_id)"
                    " DO UPDATE SET count = count + excluded.count, unread = unread + excluded.unread",
                    (agent, count, unread),
                )

    @staticmethod
    def _move_loads(db: sqlite3.Connection, outcome: Outcome) -> None:
        """The agents' routing loads (``routing.loaded``), in the commit's transaction."""
        deltas: dict[tuple[str, str], int] = {}
        for conv, sign in ((outcome.before, -1), (outcome.after, 1)):
            for agent in routing.loaded(conv):
                assert conv is not None
                deltas[(agent, conv.channel)] = deltas.get((agent, conv.channel), 0) + sign
        for (agent, channel), n in deltas.items():
            if n:
                db.execute(
                    "INSERT INTO agent_load VALUES (?, ?, ?) ON CONFLICT (agent_id, channel)"
                    " DO UPDATE SET count = count + excluded.count",
                    (agent, channel, n),
                )

    @staticmethod
    def _move_line(db: sqlite3.Connection, outcome: Outcome) -> None:
        """The queues' lines (waiting by arrival, and ringing), in the commit's transaction."""
        before, after = outcome.before, outcome.after
        was, now = routing.line_of(before), routing.line_of(after)
        if now is None:
            if was is not None:
                db.execute("DELETE FROM line WHERE conversation_id = ?", (after.id,))
        elif was != now or before is None or routing.arrival(before) != routing.arrival(after):
            db.execute(
                "INSERT OR REPLACE INTO line VALUES (?, ?, ?, ?)",
                (after.id, now[0], int(now[1]), routing.arrival(after)[0]),
            )

    @staticmethod
    def _move_inbox(db: sqlite3.Connection, outcome: Outcome) -> None:
        """The queues' Inbox counters, in the commit's transaction (a snapshot
        reads one row instead of counting the Inbox)."""
        deltas: dict[str, int] = {}
        for conv, sign in ((outcome.before, -1), (outcome.after, 1)):
            if conv is not None and fanout.in_inbox(conv):
                deltas[conv.queue_id] = deltas.get(conv.queue_id, 0) + sign
        for queue_id, delta in deltas.items():
            if delta:
                db.execute(
                    "INSERT INTO inbox_counts VALUES (?, ?) ON CONFLICT (queue_id) DO UPDATE SET count = count + excluded.count",
                    (queue_id, delta),
                )

def reference(db: Any, outcome: Outcome) -> None:
    Reference._move_totals(db, outcome)
    Reference._move_line(db, outcome)
    Reference._move_loads(db, outcome)
    Reference._move_inbox(db, outcome)
    owed_before, owed_after = fanout.wrap_up_holder(outcome.before), fanout.wrap_up_holder(outcome.after)
    if owed_before is not None and owed_before != owed_after:
        db.execute("DELETE FROM to_wrap_up WHERE agent_id = ? AND conversation_id = ?", (owed_before, outcome.after.id))
    if owed_after is not None and owed_after != owed_before:
        db.execute("INSERT OR IGNORE INTO to_wrap_up VALUES (?, ?)", (owed_after, outcome.after.id))


def states() -> list[Conversation]:
    offers = (None, Offer(agent_id="ana", at=1, deadline=2), Offer(agent_id="bruno", at=1, deadline=2))
    out = []
    wrap_ups = (None, WrapUp(agent_id="ana", disposition="ok", note="", at=3))
    for status, assignee, offer, queue, channel, unread, waiting, wrap_up in itertools.product(
        ("open", "ended"), (None, "ana", "bruno"), offers, ("sales", "support"), ("whatsapp", "messenger"), (0, 2),
        (None, 5), wrap_ups,
    ):
        out.append(
            replace(BASE, status=status, assignee_id=assignee, offer=offer, queue_id=queue, channel=channel,
                    unread=unread, waiting_since=waiting, wrap_up=wrap_up)
        )
    return out


def test_one_pass_makes_the_statements_the_rules_made() -> None:
    every = states()
    seen = 0
    for before in [None, *every]:
        for after in every:
            outcome = Outcome(before=before, after=after)
            want, got = Recording(), Recording()
            reference(want, outcome)
            SqliteStore._move_counters(got, outcome)  # type: ignore[arg-type]
            assert got.statements == want.statements, (before, after)
            seen += bool(want.statements)
    assert seen > 40_000  # most pairs move something



def test_a_change_to_no_field_the_counters_read_moves_nothing() -> None:
    """A lock, a note, a delivery report: ``_move_counters`` returns before
    working anything out (``_COUNTED`` equal before and after); the rules
    agree that nothing moves, whatever the state."""
    for before in states():
        after = replace(
            before, version=before.version + 1, session_locked=True, message_count=before.message_count + 1,
            preview="later", last_message_at=9, last_inbound_at=9,
        )
        outcome = Outcome(before=before, after=after)
        want, got = Recording(), Recording()
        reference(want, outcome)
        SqliteStore._move_counters(got, outcome)  # type: ignore[arg-type]
        assert got.statements == want.statements == [], before
