"""Routing rules: choosing, planning, offers, transfers, timeline entries,
and property tests of the floor's invariants over random event sequences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from protocol import errors
from server.core import routing
from server.core.conversation import end
from server.core.errors import DomainError
from server.core.model import Agent, Conversation, Queue

POLICY = routing.Policy(capacity=100, weights={"whatsapp": 20, "messenger": 30}, offer_timeout_ms=1000)


def conv(cid: str, created: int = 0, queue: str = "sales", channel: str = "whatsapp") -> Conversation:
    return Conversation(
        id=cid, channel=channel, touchpoint_id="tp", queue_id=queue, contact_id=f"c-{cid}", created_at=created  # type: ignore[arg-type]
    )


def state(aid: str, *, load: int = 0, idle: int = 0, status: routing.AgentStatus = "available", cap: int = 100) -> routing.AgentState:
    return routing.AgentState(id=aid, status=status, queues=("sales",), capacity=cap, load=load, idle_since=idle)


ANA = Agent(id="ana", name="Ana", queues=("sales",))
BRUNO = Agent(id="bruno", name="Bruno", queues=("sales",))
SOFIA = Agent(id="sofia", name="Sofía", role="supervisor", queues=("sales",))


def test_choose_most_free_then_idle_longest() -> None:
    c = conv("c1")
    assert routing.choose(c, [state("ana", load=40), state("bruno", load=20)], POLICY).id == "bruno"  # type: ignore[union-attr]
    assert routing.choose(c, [state("ana", idle=5), state("bruno", idle=3)], POLICY).id == "bruno"  # type: ignore[union-attr]


def test_choose_skips_away_offline_other_queue_and_full() -> None:
    c = conv("c1")
    floor = [
        state("away", status="away"),
        state("off", status="offline"),
        routing.AgentState(id="other", status="available", queues=("support",), capacity=100),
        state("full", load=90),
    ]
    assert routing.choose(c, floor, POLICY) is None
    assert routing.choose(c, [*floor, state("ok", load=80)], POLICY).id == "ok"  # type: ignore[union-attr]


def test_the_agent_who_passed_is_chosen_only_when_nobody_else_can() -> None:
    c = replace(conv("c1"), passed_by="ana")
    assert routing.choose(c, [state("ana"), state("bruno", load=60)], POLICY).id == "bruno"  # type: ignore[union-attr]
    assert routing.choose(c, [state("ana")], POLICY).id == "ana"  # type: ignore[union-attr]


def test_plan_offers_oldest_first_and_counts_each_offer() -> None:
    waiting = [conv(f"c{i}", created=10 - i) for i in range(8)]  # c7 oldest
    offers = routing.plan(waiting, [state("ana", cap=40), state("bruno", cap=40)], POLICY, now=100)
    assert [c.id for c, _ in offers] == ["c7", "c6", "c5", "c4"]
    assert sorted(a for _, a in offers) == ["ana", "ana", "bruno", "bruno"]


def test_plan_a_heavier_one_that_fits_nowhere_lets_a_lighter_one_through() -> None:
    waiting = [conv("heavy", created=1, channel="messenger"), conv("light", created=2)]
    offers = routing.plan(waiting, [state("ana", load=75)], POLICY, now=0)
    assert [(c.id, a) for c, a in offers] == [("light", "ana")]


def test_offer_accept_records_timeline_in_the_same_outcome() -> None:
    c = conv("c1")
    offered = routing.offer(c, "ana", policy=POLICY, now=5, message_id="m1")
    assert offered.after.offer is not None and offered.after.offer.deadline == 1005
    assert offered.message is not None and offered.message.kind == routing.TIMELINE
    assert offered.message.meta == {"event": "offered", "agent_id": "ana"}
    assert offered.after.message_count == offered.message.seq == 1
    accepted = routing.accept(offered.after, ANA, now=6, message_id="m2")
    assert accepted.after.assignee_id == "ana" and accepted.after.offer is None
    assert accepted.message is not None and accepted.message.meta["event"] == "accepted"
    assert accepted.after.version == offered.after.version + 1


def test_only_the_offered_agent_may_accept_or_decline() -> None:
    offered = routing.offer(conv("c1"), "ana", policy=POLICY, now=0, message_id="m1").after
    for rule in (routing.accept, routing.decline):
        with pytest.raises(DomainError) as e:
            rule(offered, BRUNO, now=1, message_id="m2")
        assert e.value.code == errors.NO_OFFER


def test_one_offer_per_conversation() -> None:
    offered = routing.offer(conv("c1"), "ana", policy=POLICY, now=0, message_id="m1").after
    with pytest.raises(DomainError) as e:
        routing.offer(offered, "bruno", policy=POLICY, now=0, message_id="m2")
    assert e.value.code == errors.CONFLICT


def test_decline_returns_to_the_line_and_marks_who_passed() -> None:
    offered = routing.offer(conv("c1", created=3), "ana", policy=POLICY, now=10, message_id="m1").after
    declined = routing.decline(offered, ANA, now=11, message_id="m2").after
    assert routing.is_waiting(declined) and declined.passed_by == "ana"
    assert routing.arrival(declined) == (3, "c1")  # keeps its place


def test_time_out_only_at_the_deadline() -> None:
    offered = routing.offer(conv("c1"), "ana", policy=POLICY, now=0, message_id="m1").after
    assert routing.time_out(offered, now=999, message_id="m2") is None
    out = routing.time_out(offered, now=1000, message_id="m2")
    assert out is not None and out.after.offer is None and out.message is not None
    assert out.message.meta["event"] == "timed_out"
    assert routing.time_out(out.after, now=5000, message_id="m3") is None  # repeated firing: nothing


def test_timeouts_in_a_row_set_away() -> None:
    assert routing.status_after_timeout("available", 2, POLICY) == "available"
    assert routing.status_after_timeout("available", 3, POLICY) == "away"
    assert routing.status_after_timeout("offline", 3, POLICY) == "offline"


def test_transfer_to_agent_stays_with_sender_until_accepted() -> None:
    held = replace(conv("c1"), assignee_id="ana")
    out = routing.transfer_to_agent(held, ANA, state("bruno"), policy=POLICY, now=0, message_id="m1", note="VIP")
    assert out.after.assignee_id == "ana" and out.after.offer is not None and out.after.offer.by == "ana"
    assert out.message is not None and out.message.meta == {"event": "offered", "agent_id": "bruno", "by": "ana", "note": "VIP"}
    back = routing.decline(out.after, BRUNO, now=1, message_id="m2").after
    assert back.assignee_id == "ana" and back.offer is None
    taken = routing.accept(out.after, BRUNO, now=1, message_id="m3")
    assert taken.after.assignee_id == "bruno"
    assert taken.message is not None and taken.message.meta["note"] == "VIP"


@pytest.mark.parametrize(
    ("target", "code"),
    [
        (state("bruno", status="away"), errors.AGENT_UNAVAILABLE),
        (state("bruno", status="offline"), errors.AGENT_UNAVAILABLE),
        (state("bruno", load=90), errors.OVER_CAPACITY),
        (state("ana"), errors.INVALID_ARGUMENT),
    ],
)
def test_transfer_to_agent_refusals(target: routing.AgentState, code: str) -> None:
    held = replace(conv("c1"), assignee_id="ana")
    with pytest.raises(DomainError) as e:
        routing.transfer_to_agent(held, ANA, target, policy=POLICY, now=0, message_id="m1")
    assert e.value.code == code


def test_transfer_needs_the_holder_or_a_supervisor() -> None:
    held = replace(conv("c1"), assignee_id="ana")
    with pytest.raises(DomainError) as e:
        routing.transfer_to_queue(held, BRUNO, Queue(id="support", name="S"), now=0, message_id="m1")
    assert e.value.code == errors.NOT_ASSIGNEE
    out = routing.transfer_to_queue(held, SOFIA, Queue(id="support", name="S"), now=7, message_id="m1", note="billing")
    assert out.after.queue_id == "support" and routing.is_waiting(out.after) and out.after.waiting_since == 7
    assert out.message is not None and out.message.meta == {"event": "transferred", "by": "sofia", "queue_id": "support", "note": "billing"}


def test_withdraw_takes_back_only_that_agents_offer() -> None:
    offered = routing.offer(conv("c1"), "ana", policy=POLICY, now=0, message_id="m1").after
    assert routing.withdraw(offered, "bruno", now=1, message_id="m2") is None
    out = routing.withdraw(offered, "ana", now=1, message_id="m2")
    assert out is not None and routing.is_waiting(out.after)
    assert out.message is not None and out.message.meta["event"] == "withdrawn"


def test_recorded_adds_an_entry_to_a_change_that_has_none() -> None:
    held = replace(conv("c1"), assignee_id="ana", message_count=4)
    out = routing.recorded(end(held, ANA, 9), "ended", message_id="m5", now=9, by="ana")
    assert out.message is not None and out.message.seq == 5 and out.after.message_count == 5


# --------------------------------------------------------------------------- properties

AGENTS = ("a0", "a1", "a2", "a3")
event = st.one_of(
    st.tuples(st.just("arrive"), st.sampled_from(("whatsapp", "messenger"))),
    st.tuples(st.just("accept"), st.integers(0, 30)),
    st.tuples(st.just("decline"), st.integers(0, 30)),
    st.tuples(st.just("timeout"), st.integers(0, 30)),
    st.tuples(st.just("end"), st.integers(0, 30)),
    st.tuples(st.just("status"), st.tuples(st.sampled_from(AGENTS), st.sampled_from(routing.STATUSES))),
)


class Floor:
    """A model floor driven only through the rules, as the app drives them."""

    def __init__(self, caps: tuple[int, ...]) -> None:
        self.now = 0
        self.convs: dict[str, Conversation] = {}
        self.status: dict[str, routing.AgentStatus] = {a: "available" for a in AGENTS}
        self.caps = dict(zip(AGENTS, caps, strict=True))
        self.idle = dict.fromkeys(AGENTS, 0)
        self.offered_order: list[str] = []

    def agents(self) -> list[routing.AgentState]:
        return [
            routing.AgentState(
                id=a,
                status=self.status[a],
                queues=("sales",),
                capacity=self.caps[a],
                load=routing.load_of(a, self.convs.values(), POLICY),
                idle_since=self.idle[a],
            )
            for a in AGENTS
        ]

    def settle(self) -> None:
        waiting = [c for c in self.convs.values() if routing.is_waiting(c)]
        for c, agent_id in routing.plan(waiting, self.agents(), POLICY, self.now):
            self.offered_order.append(c.id)
            self.idle[agent_id] = self.now
            self.convs[c.id] = routing.offer(c, agent_id, policy=POLICY, now=self.now, message_id="m").after

    def pick(self, i: int, pred: object) -> Conversation | None:
        found = [c for c in self.convs.values() if pred(c)]  # type: ignore[operator]
        return found[i % len(found)] if found else None

    def apply(self, ev: tuple[str, object]) -> None:
        self.now += 10
        kind, arg = ev
        if kind == "arrive":
            cid = f"c{len(self.convs):03}"
            self.convs[cid] = conv(cid, created=self.now, channel=str(arg))
        elif kind in ("accept", "decline", "timeout"):
            c = self.pick(int(arg), lambda c: c.offer is not None)  # type: ignore[call-overload]
            if c is None or c.offer is None:
                return
            who = Agent(id=c.offer.agent_id, name="x", queues=("sales",))
            if kind == "accept":
                self.convs[c.id] = routing.accept(c, who, now=self.now, message_id="m").after
            elif kind == "decline":
                self.convs[c.id] = routing.decline(c, who, now=self.now, message_id="m").after
            else:
                out = routing.time_out(c, now=c.offer.deadline, message_id="m")
                assert out is not None
                self.convs[c.id] = out.after
        elif kind == "end":
            c = self.pick(int(arg), lambda c: c.is_open and c.assignee_id is not None)  # type: ignore[call-overload]
            if c is None:
                return
            self.convs[c.id] = end(c, Agent(id=c.assignee_id or "", name="x", queues=("sales",)), self.now).after
        else:
            agent_id, status = arg  # type: ignore[misc]
            self.status[agent_id] = status
            if status != "available":
                for c in list(self.convs.values()):
                    out = routing.withdraw(c, agent_id, now=self.now, message_id="m")
                    if out is not None:
                        self.convs[c.id] = out.after
        self.settle()

    def check(self) -> None:
        floor = self.agents()
        for a in floor:
            assert a.load <= a.capacity, f"{a.id} over capacity"
        for c in self.convs.values():
            if c.offer is not None:
                assert self.status[c.offer.agent_id] == "available", "offer to an unavailable agent"
                assert c.assignee_id is None or c.offer.by is not None
        waiting = sorted((c for c in self.convs.values() if routing.is_waiting(c)), key=routing.arrival)
        for c in waiting:
            assert not any(routing.can_take(a, c, POLICY) for a in floor), f"{c.id} waits while someone has room"


@settings(max_examples=150, deadline=None)
@given(caps=st.tuples(*[st.sampled_from((0, 20, 40, 60, 100))] * len(AGENTS)), events=st.lists(event, max_size=60))
def test_floor_invariants(caps: tuple[int, ...], events: list[tuple[str, object]]) -> None:
    floor = Floor(caps)
    for ev in events:
        floor.apply(ev)
        floor.check()


@settings(max_examples=100, deadline=None)
@given(
    caps=st.tuples(*[st.sampled_from((20, 40, 60))] * len(AGENTS)),
    arrivals=st.integers(1, 30),
)
def test_a_burst_is_offered_oldest_first_and_never_over_capacity(caps: tuple[int, ...], arrivals: int) -> None:
    floor = Floor(caps)
    for i in range(arrivals):
        floor.convs[f"c{i:03}"] = conv(f"c{i:03}", created=i)
    floor.settle()
    floor.check()
    # the single-channel line is a prefix: nobody younger rang before someone older
    assert floor.offered_order == sorted(floor.convs)[: len(floor.offered_order)]
    assert len(floor.offered_order) == min(arrivals, sum(c // 20 for c in caps))


def _reference_choose(c: Conversation, agents: list[routing.AgentState], policy: routing.Policy) -> routing.AgentState | None:
    """The rule as the docstring says it, written plainly (``choose`` is the fast form of it)."""
    fits = [a for a in agents if routing.can_take(a, c, policy)]
    pool = [a for a in fits if a.id != c.passed_by] or fits
    return min(pool, key=lambda a: (-a.free, a.idle_since, a.id)) if pool else None


agent_state = st.builds(
    routing.AgentState,
    id=st.sampled_from(["ana", "bruno", "carla", "dani", "eva", "fede"]),
    status=st.sampled_from(routing.STATUSES),
    queues=st.sampled_from([("sales",), ("support",), ("sales", "support")]),
    capacity=st.sampled_from((0, 20, 40, 100)),
    load=st.sampled_from((0, 20, 30, 50, 80, 100)),
    idle_since=st.integers(0, 3),
)


@settings(max_examples=300, deadline=None)
@given(
    floor=st.lists(agent_state, max_size=8, unique_by=lambda a: a.id),
    channel=st.sampled_from(["whatsapp", "messenger", "telegram"]),
    queue=st.sampled_from(["sales", "support"]),
    passed_by=st.sampled_from([None, "ana", "bruno"]),
)
def test_choose_is_the_rule_as_written(
    floor: list[routing.AgentState], channel: str, queue: str, passed_by: str | None
) -> None:
    c = replace(conv("c1", queue=queue, channel=channel), passed_by=passed_by)
    assert routing.choose(c, floor, POLICY) == _reference_choose(c, floor, POLICY)


@given(counts=st.dictionaries(st.sampled_from(["ana", "bruno"]), st.dictionaries(st.sampled_from(["whatsapp", "messenger", "telegram"]), st.integers(0, 5))))
def test_weigh_many_weighs_each_agent_as_weigh_does(counts: dict[str, dict[str, int]]) -> None:
    expected = {a: sum(POLICY.weight(ch) * n for ch, n in by.items()) for a, by in counts.items()}
    assert routing.weigh_many(counts, POLICY) == expected
    assert POLICY.weight("telegram") == 30  # an unknown channel weighs as the heaviest
