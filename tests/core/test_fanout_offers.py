"""Who hears about a routed offer (pure): the offered agent and the thread,
not every agent of the queue. An Inbox row carries no offer, so an offer
ringing or ending changes no row; what does change a row (the customer
writing, the conversation taken) still reaches the whole queue."""

from __future__ import annotations

from protocol import messages as p
from server.core import conversation as rules
from server.core import routing
from server.core.fanout import Totals, affected_agents, publications
from server.core.views import summary
from tests.core.test_conversation import ANA, BRUNO, CUSTOMER, T0, WA, WA_POLICY, open_conv, receive

POLICY = routing.Policy(capacity=100, weights={"whatsapp": 20}, offer_timeout_ms=1000)


def published(outcome: rules.Outcome) -> list[tuple[str, p.AnyEvent]]:
    before = summary(outcome.before, CUSTOMER, WA, WA_POLICY) if outcome.before else None
    after = summary(outcome.after, CUSTOMER, WA, WA_POLICY)
    totals = {a: Totals(1, 0) for a in affected_agents(outcome)}
    return [(pub.stream, pub.event) for pub in publications(outcome, before, after, totals)]


def kinds(outcome: rules.Outcome) -> list[tuple[str, str]]:
    return [(stream, event.__struct_config__.tag) for stream, event in published(outcome)]  # type: ignore[misc]


def ringing_for_ana() -> rules.Outcome:
    return routing.offer(open_conv(), "ana", policy=POLICY, now=T0 + 1, message_id="m-offer")


def test_an_offer_rings_for_its_agent_and_the_thread_only() -> None:
    assert kinds(ringing_for_ana()) == [
        ("conv:c1", "message.created"),
        ("agent:ana", "offer.rung"),
        ("agent:ana", "alert.raised"),
    ]


def test_a_declined_or_timed_out_offer_is_no_news_to_the_queue() -> None:
    ringing = ringing_for_ana().after
    declined = routing.decline(ringing, ANA, now=T0 + 2, message_id="m-declined")
    assert kinds(declined) == [("conv:c1", "message.created"), ("agent:ana", "offer.withdrawn")]
    assert ringing.offer is not None
    timed_out = routing.time_out(ringing, now=ringing.offer.deadline, message_id="m-late")
    assert timed_out is not None
    assert [k for k in kinds(timed_out) if k[0].startswith("queue:")] == []


def test_the_customer_writing_while_it_rings_updates_the_row_without_the_offer() -> None:
    published_ = published(receive(ringing_for_ana().after, "still there?", at=T0 + 3))
    rows = [e for stream, e in published_ if stream == "queue:sales"]
    assert len(rows) == 1 and isinstance(rows[0], p.InboxUpdated)
    assert rows[0].conversation.preview == "still there?" and rows[0].conversation.offer is None
    thread = [e for stream, e in published_ if stream == "conv:c1"]
    assert isinstance(thread[0], p.MessageCreated) and thread[0].conversation.offer is not None  # the thread's header shows it


def test_accepted_or_claimed_while_ringing_it_leaves_the_inbox() -> None:
    ringing = ringing_for_ana().after
    accepted = routing.accept(ringing, ANA, now=T0 + 2, message_id="m-accepted")
    assert ("queue:sales", "inbox.removed") in kinds(accepted)
    taken = rules.claim(ringing, BRUNO)
    assert ("queue:sales", "inbox.removed") in kinds(taken)
    assert ("agent:ana", "offer.withdrawn") in kinds(taken)
