"""Who hears about each change: routing of outcomes to streams (pure)."""

from __future__ import annotations

from protocol import messages as p
from server.core import conversation as rules
from server.core.fanout import SHOWN_AS_IS, Totals, affected_agents, publications, shows_change
from server.core.model import Contact
from server.core.views import summary
from tests.core.test_conversation import ANA, BRUNO, CUSTOMER, SOFIA, T0, WA, WA_POLICY, claimed, open_conv, receive


def route(outcome: rules.Outcome, totals: dict[str, Totals] | None = None, contact: Contact = CUSTOMER,
          before_contact: Contact | None = None) -> list[tuple[str, str]]:
    before = summary(outcome.before, before_contact or contact, WA, WA_POLICY) if outcome.before else None
    after = summary(outcome.after, contact, WA, WA_POLICY)
    totals = totals or {a: Totals(1, 0) for a in affected_agents(outcome)}
    return [(pub.stream, pub.event.__struct_config__.tag) for pub in publications(outcome, before, after, totals)]  # type: ignore[misc]


def test_new_conversation_enters_the_queue_inbox() -> None:
    assert route(receive(None)) == [("queue:sales", "inbox.added"), ("conv:c1", "message.created")]


def test_message_on_an_unassigned_conversation_updates_the_inbox() -> None:
    assert route(receive(open_conv(), at=T0 + 1)) == [("queue:sales", "inbox.updated"), ("conv:c1", "message.created")]


def test_claim_leaves_the_inbox_and_joins_the_claimers_list() -> None:
    routes = route(rules.claim(open_conv(), ANA))
    assert routes == [
        ("queue:sales", "inbox.removed"),
        ("agent:ana", "assigned.added"),
        ("conv:c1", "conversation.updated"),
    ]


def test_claim_reason_differs_from_supervisor_assignment() -> None:
    claim = rules.claim(open_conv(), ANA)
    assign = rules.assign(open_conv(), SOFIA, ANA)
    before = summary(claim.before, CUSTOMER, WA, WA_POLICY)  # type: ignore[arg-type]
    after = summary(claim.after, CUSTOMER, WA, WA_POLICY)
    ev1 = publications(claim, before, after, {"ana": Totals(1, 1)})[0].event
    ev2 = publications(assign, before, after, {"ana": Totals(1, 1)})[0].event
    assert isinstance(ev1, p.InboxRemoved) and ev1.reason == "claimed" and ev1.agent_id == "ana"
    assert isinstance(ev2, p.InboxRemoved) and ev2.reason == "assigned"
    assert (ev1.by, ev2.by) == ("ana", "sofia")  # who did it: the screens say so


def test_a_reassignment_says_to_whom_and_by_whom() -> None:
    out = rules.assign(claimed(ANA), SOFIA, BRUNO)
    before = summary(out.before, CUSTOMER, WA, WA_POLICY)  # type: ignore[arg-type]
    after = summary(out.after, CUSTOMER, WA, WA_POLICY)
    totals = {"ana": Totals(0, 0), "bruno": Totals(1, 0)}
    removed = publications(out, before, after, totals)[0].event
    assert isinstance(removed, p.AssignedRemoved) and removed.reason == "reassigned"
    assert (removed.agent_id, removed.by) == ("bruno", "sofia")


def test_message_on_an_assigned_conversation_goes_to_the_assignee_only() -> None:
    routes = route(receive(claimed(ANA), at=T0 + 1))
    assert routes == [("agent:ana", "assigned.updated"), ("agent:ana", "alert.raised"), ("conv:c1", "message.created")]


def test_alerts_are_for_what_the_agent_did_not_do() -> None:
    claim = publications(*_summaries(rules.claim(open_conv(), ANA)), {"ana": Totals(1, 0)})
    assert not [x for x in claim if isinstance(x.event, p.Alert)]  # their own claim
    given = publications(*_summaries(rules.assign(open_conv(), SOFIA, ANA)), {"ana": Totals(1, 0)})
    alert = next(x for x in given if isinstance(x.event, p.Alert))
    assert alert.stream == "agent:ana" and alert.event.reason == "assigned"  # type: ignore[union-attr]
    wrote = publications(*_summaries(receive(claimed(ANA), at=T0 + 1)), {"ana": Totals(1, 1)})
    alert = next(x for x in wrote if isinstance(x.event, p.Alert))
    assert alert.event.reason == "message" and alert.event.preview  # type: ignore[union-attr]
    sent = publications(*_summaries(rules.send(claimed(ANA), ANA, "hi", message_id="m9", policy=WA_POLICY, now=T0 + 1)), {"ana": Totals(1, 0)})
    assert not [x for x in sent if isinstance(x.event, p.Alert)]  # their own message


def _summaries(out: rules.Outcome) -> tuple[rules.Outcome, p.ConversationSummary | None, p.ConversationSummary]:
    before = summary(out.before, CUSTOMER, WA, WA_POLICY) if out.before else None
    return out, before, summary(out.after, CUSTOMER, WA, WA_POLICY)


def test_counters_travel_with_assigned_events() -> None:
    out = receive(claimed(ANA), at=T0 + 1)
    before = summary(out.before, CUSTOMER, WA, WA_POLICY)  # type: ignore[arg-type]
    after = summary(out.after, CUSTOMER, WA, WA_POLICY)
    event = publications(out, before, after, {"ana": Totals(3, 7)})[0].event
    assert isinstance(event, p.AssignedUpdated) and (event.count, event.unread_total) == (3, 7)
    assert event.conversation.unread == 2


def test_send_to_inbox_removes_from_list_and_adds_to_inbox() -> None:
    routes = route(rules.send_to_inbox(claimed(ANA), ANA, WA))
    assert routes == [
        ("queue:sales", "inbox.added"),
        ("agent:ana", "assigned.removed"),
        ("conv:c1", "conversation.updated"),
    ]


def test_reassignment_moves_between_lists() -> None:
    routes = route(rules.assign(claimed(ANA), SOFIA, BRUNO))
    assert routes == [
        ("agent:ana", "assigned.removed"),
        ("agent:bruno", "assigned.added"),
        ("agent:bruno", "alert.raised"),
        ("conv:c1", "conversation.updated"),
    ]


def test_end_chat_leaves_the_list_for_the_to_wrap_up_list() -> None:
    routes = route(rules.end(claimed(ANA), ANA, T0 + 1))
    assert routes == [
        ("agent:ana", "assigned.removed"),
        ("agent:ana", "to_wrap_up.added"),
        ("conv:c1", "conversation.updated"),
    ]


def test_the_wrap_up_takes_it_off_the_to_wrap_up_list_once() -> None:
    ended = rules.end(claimed(ANA), ANA, T0 + 1).after
    first = rules.wrap_up(ended, ANA, "Resolved", "", dispositions=["Resolved"], now=T0 + 2)
    assert route(first) == [
        ("agent:ana", "to_wrap_up.removed"),
        ("conv:c1", "conversation.updated"),
        ("conv:c1", "wrap_up.recorded"),
    ]
    again = rules.wrap_up(first.after, ANA, "Resolved", "more", dispositions=["Resolved"], now=T0 + 3)
    assert ("agent:ana", "to_wrap_up.removed") not in route(again)


def test_read_updates_the_agents_list_on_every_screen() -> None:
    routes = route(rules.read(claimed(ANA), ANA))  # type: ignore[arg-type]
    assert routes == [("agent:ana", "assigned.updated"), ("conv:c1", "conversation.updated")]


def test_session_lock_goes_to_the_assignee_and_viewers() -> None:
    out = rules.expire(claimed(ANA), WA_POLICY, T0 + 24 * 3600 * 1000, message_id="mlock")
    assert out is not None
    routes = route(out)
    assert ("agent:ana", "session.locked") in routes and ("conv:c1", "session.locked") in routes
    assert ("agent:ana", "assigned.updated") in routes


def test_session_lock_of_an_unassigned_conversation_goes_to_the_queue() -> None:
    out = rules.expire(open_conv(), WA_POLICY, T0 + 24 * 3600 * 1000, message_id="mlock")
    assert out is not None
    assert ("queue:sales", "session.locked") in route(out)


def test_unlock_when_the_contact_writes_again() -> None:
    locked = rules.expire(claimed(ANA), WA_POLICY, T0 + 24 * 3600 * 1000, message_id="mlock")
    assert locked is not None
    routes = route(receive(locked.after, at=T0 + 25 * 3600 * 1000))
    assert ("agent:ana", "session.unlocked") in routes and ("conv:c1", "session.unlocked") in routes


def test_the_lock_and_unlock_timeline_entries_go_live_on_the_thread_in_order() -> None:
    locked = rules.expire(claimed(ANA), WA_POLICY, T0 + 24 * 3600 * 1000, message_id="mlock")
    assert locked is not None
    after = summary(locked.after, CUSTOMER, WA, WA_POLICY)
    pubs = publications(locked, summary(claimed(ANA), CUSTOMER, WA, WA_POLICY), after, {"ana": Totals(1, 0)})
    thread = [pub.event for pub in pubs if pub.stream == "conv:c1"]
    assert [type(e) for e in thread] == [p.SessionLocked, p.MessageCreated]
    assert thread[1].message.kind == "timeline" and thread[1].message.meta == {"event": "locked"}  # type: ignore[union-attr]
    assert not [pub for pub in pubs if isinstance(pub.event, p.Alert)]  # a lock is no message from the customer
    renewed = receive(locked.after, "back", at=T0 + 25 * 3600 * 1000)
    pubs = publications(renewed, after, summary(renewed.after, CUSTOMER, WA, WA_POLICY), {"ana": Totals(1, 1)})
    created = [pub.event.message for pub in pubs if isinstance(pub.event, p.MessageCreated)]
    assert [(m.kind, m.meta.get("event"), m.text) for m in created] == [("timeline", "unlocked", ""), ("text", None, "back")]
    assert [pub.event.reason for pub in pubs if isinstance(pub.event, p.Alert)] == ["message"]  # the customer's, once


def test_contact_rename_republishes_to_everyone_who_shows_it() -> None:
    conv = claimed(ANA)
    named = Contact(id=CUSTOMER.id, channel="whatsapp", address=CUSTOMER.address, name="Rosa")
    routes = route(rules.Outcome(before=conv, after=conv), contact=named, before_contact=CUSTOMER)
    assert routes == [("agent:ana", "assigned.updated"), ("conv:c1", "conversation.updated")]


def test_nothing_changed_nothing_published() -> None:
    conv = claimed(ANA)
    assert route(rules.Outcome(before=conv, after=conv)) == []


def test_a_delivery_report_reaches_only_the_thread() -> None:
    conv = claimed(ANA)
    sent = rules.send(conv, ANA, "hi", message_id="m2", policy=WA_POLICY, now=T0 + 1)
    assert sent.message is not None
    report = rules.delivery(sent.after, sent.message, "delivered")
    assert report is not None and report.after.version == sent.after.version + 1
    assert route(report) == [("conv:c1", "message.updated")]


# shows_change: a publisher may skip the summary before a change that shows for certain.

OTHER: dict[str, object] = {
    "status": "ended",
    "assignee_id": "someone-else",
    "queue_id": "support",
    "last_message_at": T0 + 99_000,
    "preview": "something else",
    "preview_direction": "out",
    "preview_kind": "image",
    "unread": 42,
    "session_locked": True,
    "ended_at": T0 + 5,
}


def test_each_field_the_summary_copies_as_is_shows_a_change_and_nothing_else_does() -> None:
    from msgspec.structs import replace

    assert set(OTHER) == set(SHOWN_AS_IS)
    conv = open_conv()
    before = summary(conv, CUSTOMER, WA, WA_POLICY)
    for field in SHOWN_AS_IS:
        changed = replace(conv, **{field: OTHER[field]})
        assert getattr(changed, field) != getattr(conv, field), field
        assert shows_change(conv, changed), field
        after = summary(changed, CUSTOMER, WA, WA_POLICY)
        assert replace(before, version=after.version) != after, f"{field} does not show in the summary"
    assert not shows_change(conv, replace(conv, version=conv.version + 1))  # a new version alone shows nothing


def test_publications_are_the_same_with_the_summary_before_skipped_when_the_change_shows() -> None:
    outcomes = [
        receive(open_conv(), at=T0 + 1),
        receive(claimed(ANA), at=T0 + 1),
        rules.claim(open_conv(), ANA),
        rules.assign(claimed(ANA), SOFIA, BRUNO),
        rules.end(claimed(ANA), ANA, now=T0 + 2),
    ]
    for outcome in outcomes:
        assert outcome.before is not None
        assert shows_change(outcome.before, outcome.after)
        after = summary(outcome.after, CUSTOMER, WA, WA_POLICY)
        totals = {a: Totals(1, 0) for a in affected_agents(outcome)}
        full = publications(outcome, summary(outcome.before, CUSTOMER, WA, WA_POLICY), after, totals)
        assert publications(outcome, None, after, totals) == full
