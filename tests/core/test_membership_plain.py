"""The membership helpers read ``status`` directly (no ``is_open`` property
call: they run several times per stored change, in the commit and in the
fan-out). Each is checked here against its rule written with the property,
over every status, assignee, offer, channel and wrap-up combination."""

from __future__ import annotations

import itertools
from typing import get_args

from msgspec.structs import replace

from server.core import fanout, routing
from server.core.model import Conversation, Offer, Status, WrapUp

BASE = Conversation(id="c1", channel="whatsapp", touchpoint_id="tp", queue_id="sales", contact_id="whatsapp:1", created_at=1)
OFFERS = (None, Offer(agent_id="ana", at=1, deadline=2), Offer(agent_id="bruno", at=1, deadline=2))
WRAP_UPS = (None, WrapUp(agent_id="ana", disposition="ok", note="", at=3))


def every_conversation() -> list[Conversation | None]:
    out: list[Conversation | None] = [None]
    for status, assignee, offer, channel, wrap_up in itertools.product(
        get_args(Status), (None, "ana", "bruno"), OFFERS, ("whatsapp", "messenger"), WRAP_UPS
    ):
        out.append(replace(BASE, status=status, assignee_id=assignee, offer=offer, channel=channel, wrap_up=wrap_up))
    return out


def test_status_open_is_what_is_open_means() -> None:
    assert set(get_args(Status)) == {"open", "ended"}
    for conv in every_conversation():
        if conv is not None:
            assert conv.is_open == (conv.status == "open")


def test_membership_helpers_match_their_rules_written_with_is_open() -> None:
    seen = 0
    for c in every_conversation():
        open_ = c is not None and c.is_open
        assert fanout.in_inbox(c) == (open_ and c is not None and c.assignee_id is None)
        assert fanout.holder(c) == (c.assignee_id if c is not None and open_ else None)
        owed = None if c is None or c.is_open or c.channel != "whatsapp" or c.wrap_up is not None else c.assignee_id
        assert fanout.wrap_up_holder(c) == owed
        line = None if c is None or not c.is_open or c.assignee_id is not None else (c.queue_id, c.offer is not None)
        assert routing.line_of(c) == line
        if c is None or not c.is_open:
            assert routing.loaded(c) == ()
        else:
            ringing = c.offer.agent_id if c.offer is not None else None
            if c.assignee_id is None:
                assert routing.loaded(c) == ((ringing,) if ringing else ())
            else:
                want = (c.assignee_id, ringing) if ringing and ringing != c.assignee_id else (c.assignee_id,)
                assert routing.loaded(c) == want
        if c is not None:
            assert routing.is_waiting(c) == (c.is_open and c.assignee_id is None and c.offer is None)
            seen += 1
        assert routing.is_ringing(c) == (open_ and c is not None and c.assignee_id is None and c.offer is not None)
    assert seen == 2 * 3 * 3 * 2 * 2


def test_supervisor_checks_read_role_directly() -> None:
    from server.core.conversation import can_view, is_owner, may_hold
    from server.core.model import Agent

    agents = [Agent(id=i, name=i, role=r, queues=q) for i in ("ana", "sofia") for r in ("agent", "supervisor") for q in ((), ("sales",))]
    for agent in agents:
        for c in every_conversation():
            if c is None:
                continue
            sup = agent.is_supervisor
            assert can_view(agent, c) == (
                sup or c.assignee_id == agent.id or (c.assignee_id is None and c.is_open and c.queue_id in agent.queues)
            )
            assert is_owner(c, agent) == (c.assignee_id == agent.id or sup)
            assert may_hold(agent, c.queue_id) == (sup or c.queue_id in agent.queues)


def test_inbox_counts_of_matches_its_rule() -> None:
    from server.core.conversation import Outcome

    convs = every_conversation()
    moved = [replace(c, queue_id="support", last_message_at=9) for c in convs if c is not None]
    for b in convs:
        for a in [c for c in convs if c is not None] + moved:
            outcome = Outcome(before=b, after=a)
            if fanout.in_inbox(b) != fanout.in_inbox(a):
                want = b.queue_id if b is not None and fanout.in_inbox(b) else a.queue_id
            elif b is not None and fanout.in_inbox(a) and (b.last_message_at or b.created_at) != (a.last_message_at or a.created_at):
                want = a.queue_id
            else:
                want = None
            assert fanout.inbox_counts_of(outcome) == want
