"""Routing rules for automatic queues: who gets offered what, offers,
transfers, and the timeline entries that record each change of hands.

Two rules hold throughout, as in ``conversation.py``:
1. Everything that decides who is offered a conversation, whether an offer
   may be accepted, and what a transfer changes is here; the app around it
   (``server/app/routing.py``) only loads the floor, commits and publishes.
2. Functions are pure: the floor, ``now`` and fresh ids come in; a plan, an
   ``Outcome`` or a ``DomainError`` comes out.

The words:
- an agent's **status** is ``available`` (may be offered work), ``away``
  (keeps their conversations, gets no new ones) or ``offline``;
- an agent's **load** is the sum of the channel weights of the open
  conversations they hold *and* of those ringing for them (an offer reserves
  its room, so accepting can never push anyone over capacity);
- the **waiting line** of a queue is its open, unassigned conversations with
  no offer ringing, oldest arrival first (``arrival``);
- an **offer** rings for one agent until its deadline; accepted, the agent
  holds the conversation; declined or timed out, it goes to someone else
  (a routed one) or stays with its sender (a transfer).

Each change here carries a **timeline entry**: a thread message of kind
``timeline`` (never sent to the contact, not unread) committed with the
change it describes, so the thread can never disagree with the state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from msgspec import Struct, field
from msgspec.structs import replace

from protocol import errors
from server.core.conversation import Outcome
from server.core.errors import DomainError
from server.core.model import Agent, Conversation, Message, Offer, Queue

AgentStatus = Literal["available", "away", "offline"]
STATUSES: tuple[AgentStatus, ...] = ("available", "away", "offline")

TIMELINE = "timeline"
"""The ``kind`` of a thread message that is a timeline entry."""

TimelineEvent = Literal[
    "offered",
    "accepted",
    "declined",
    "timed_out",
    "withdrawn",
    "claimed",
    "assigned",
    "transferred",
    "sent_to_inbox",
    "ended",
]


class Policy(Struct, frozen=True, kw_only=True):
    """The routing settings the rules need (``[routing]`` in the config)."""

    capacity: int = 100
    weights: dict[str, int] = field(default_factory=lambda: {"whatsapp": 20, "messenger": 20})
    offer_timeout_ms: int = 30_000
    timeouts_before_away: int = 3

    def weight(self, channel: str) -> int:
        """A channel missing from ``weights`` weighs as much as the heaviest."""
        weights = self.weights
        return weights[channel] if channel in weights else max(weights.values(), default=1)

    def capacity_of(self, agent: Agent) -> int:
        return self.capacity if agent.capacity is None else agent.capacity


class AgentState(Struct, frozen=True, kw_only=True):
    """One agent as routing sees them at one moment."""

    id: str
    status: AgentStatus
    queues: tuple[str, ...]
    capacity: int
    load: int = 0
    idle_since: int = 0
    """When they were last offered or given work (ties go to the longest idle)."""
    since: int = 0
    """When their status was set (ms): what the supervisor's floor shows."""

    @property
    def free(self) -> int:
        return self.capacity - self.load


def arrival(conv: Conversation) -> tuple[int, str]:
    """A conversation's place in its queue's waiting line."""
    return (conv.waiting_since if conv.waiting_since is not None else conv.created_at, conv.id)


def is_waiting(conv: Conversation) -> bool:
    return conv.status == "open" and conv.assignee_id is None and conv.offer is None


def is_ringing(conv: Conversation | None) -> bool:
    """In its queue's line with a routed offer ringing (not a transfer: a
    transferred conversation is still held by its sender)."""
    return conv is not None and conv.status == "open" and conv.assignee_id is None and conv.offer is not None


def line_of(conv: Conversation | None) -> tuple[str, bool] | None:
    """Where the conversation stands in its queue's line, as the stores
    index it: (queue, ringing) for an open, unassigned one; None otherwise
    (the store's ``waiting`` lists those with ringing False, by ``arrival``)."""
    if conv is None or conv.status != "open" or conv.assignee_id is not None:
        return None
    return (conv.queue_id, conv.offer is not None)


def loaded(conv: Conversation | None) -> tuple[str, ...]:
    """The agents whose load the conversation counts in (as the stores'
    ``agent_loads`` count it): while open, its holder and the agent an
    offer rings for (a transfer counts for both until it is accepted)."""
    if conv is None or conv.status != "open":
        return ()
    ringing = conv.offer.agent_id if conv.offer is not None else None
    if conv.assignee_id is None:
        return (ringing,) if ringing is not None else ()
    return (conv.assignee_id, ringing) if ringing is not None and ringing != conv.assignee_id else (conv.assignee_id,)


def weigh(counts: dict[str, int], policy: Policy) -> int:
    """A load from the number of conversations per channel (``agent_loads``)."""
    return weigh_many({"": counts}, policy)[""]


def weigh_many(counts: Mapping[str, Mapping[str, int]], policy: Policy) -> dict[str, int]:
    """``weigh`` for each agent of ``counts`` (agent → per-channel counts):
    a routing pass weighs every agent of its queues, so this one loop calls
    nothing per agent."""
    weights = policy.weights
    heaviest = max(weights.values(), default=1)
    loads: dict[str, int] = {}
    for agent_id, by_channel in counts.items():
        load = 0
        for channel in by_channel:
            load += weights.get(channel, heaviest) * by_channel[channel]
        loads[agent_id] = load
    return loads


def load_of(agent_id: str, held: Iterable[Conversation], policy: Policy) -> int:
    """The agent's load from the open conversations they hold or that ring
    for them (``held`` may include others': only theirs count)."""
    return sum(
        policy.weight(c.channel)
        for c in held
        if c.is_open and (c.assignee_id == agent_id or (c.offer is not None and c.offer.agent_id == agent_id))
    )


def can_take(agent: AgentState, conv: Conversation, policy: Policy) -> bool:
    return agent.status == "available" and conv.queue_id in agent.queues and agent.free >= policy.weight(conv.channel)


def choose(conv: Conversation, agents: Iterable[AgentState], policy: Policy) -> AgentState | None:
    """The agent to offer ``conv`` to: available, in its queue, with room for
    it; most free capacity first, then the one idle longest (then by id, so
    every node decides the same). The agent who last passed it is chosen only
    when nobody else can take it."""
    # One pass, one ranked tuple per agent who fits (what ``can_take`` says,
    # inline: a pass asks this of every agent of the queue for each offer).
    need = policy.weight(conv.channel)
    queue_id, passed_by = conv.queue_id, conv.passed_by
    best = min(
        (
            (a.id == passed_by, a.load - a.capacity, a.idle_since, a.id, a)
            for a in agents
            if a.status == "available" and a.capacity - a.load >= need and queue_id in a.queues
        ),
        default=None,
    )
    return best[-1] if best is not None else None


def plan(
    waiting: Iterable[Conversation], agents: Sequence[AgentState], policy: Policy, now: int
) -> list[tuple[Conversation, str]]:
    """Offers for the waiting lines, oldest arrival first: each conversation
    to ``choose``'s agent, whose load (and idle time) then counts the offer.
    A conversation nobody has room for stays waiting; a younger one that fits
    elsewhere (another queue, a lighter channel) is still offered."""
    line = sorted((c for c in waiting if is_waiting(c)), key=arrival)
    floor = {a.id: a for a in agents}
    members = {q: [a.id for a in agents if q in a.queues] for q in {c.queue_id for c in line}}
    """queue → its agents' ids: each conversation looks only at its queue's agents"""
    offers: list[tuple[Conversation, str]] = []
    for conv in line:
        agent = choose(conv, [floor[i] for i in members[conv.queue_id]], policy)
        if agent is None:
            continue
        floor[agent.id] = replace(agent, load=agent.load + policy.weight(conv.channel), idle_since=now)
        offers.append((conv, agent.id))
    return offers


def status_after_timeout(status: AgentStatus, timeouts_in_a_row: int, policy: Policy) -> AgentStatus:
    """An agent who let ``timeouts_before_away`` offers in a row time out is set away."""
    if status == "available" and policy.timeouts_before_away > 0 and timeouts_in_a_row >= policy.timeouts_before_away:
        return "away"
    return status


# --------------------------------------------------------------------------- timeline


def entry(
    conv: Conversation,
    event: TimelineEvent,
    *,
    message_id: str,
    now: int,
    agent_id: str | None = None,
    by: str | None = None,
    note: str = "",
    queue_id: str | None = None,
) -> Message:
    """A timeline entry: ``event`` happened to ``agent_id`` (who was offered,
    accepted, declined...), done by ``by`` (who transferred, assigned...),
    with the ``note`` a transfer carries and the ``queue_id`` it went to."""
    meta: dict[str, str] = {"event": event}
    for key, value in (("agent_id", agent_id), ("by", by), ("queue_id", queue_id)):
        if value:
            meta[key] = value
    if note:
        meta["note"] = note
    return Message(
        id=message_id,
        conversation_id=conv.id,
        seq=conv.message_count + 1,
        direction="in",
        kind=TIMELINE,
        text=note,
        at=now,
        status="received",
        meta=meta,
    )


def recorded(
    outcome: Outcome,
    event: TimelineEvent,
    *,
    message_id: str,
    now: int,
    agent_id: str | None = None,
    by: str | None = None,
) -> Outcome:
    """``outcome`` with its timeline entry, in the same commit. An outcome
    that stores nothing new gets none; one that adds its own message keeps it
    (the message says what happened)."""
    if outcome.message is not None or outcome.after is outcome.before or outcome.before is None:
        return outcome
    record = entry(outcome.before, event, message_id=message_id, now=now, agent_id=agent_id, by=by)
    after = replace(outcome.after, message_count=outcome.before.message_count + 1)
    return replace(outcome, after=after, message=record)


def _with_entry(before: Conversation, after: Conversation, actor: str | None, record: Message) -> Outcome:
    after = replace(after, version=before.version + 1, message_count=record.seq)
    return Outcome(before=before, after=after, actor_id=actor, message=record)


# --------------------------------------------------------------------------- offers


def offer(
    conv: Conversation,
    agent_id: str,
    *,
    policy: Policy,
    now: int,
    message_id: str,
    by: str | None = None,
    note: str = "",
) -> Outcome:
    """Ring ``conv`` for ``agent_id`` until ``now + offer_timeout``. One offer
    per conversation: a routed one only while it waits; a transfer (``by``)
    while its sender holds it."""
    if not conv.is_open:
        raise DomainError(errors.CONVERSATION_ENDED, "This conversation has ended.")
    if conv.offer is not None:
        raise DomainError(errors.CONFLICT, "An offer is already ringing for this conversation.")
    if by is None and conv.assignee_id is not None:
        raise DomainError(errors.ALREADY_ASSIGNED, "Another agent has already taken this conversation.")
    ringing = Offer(agent_id=agent_id, at=now, deadline=now + policy.offer_timeout_ms, by=by, note=note)
    record = entry(conv, "offered", message_id=message_id, now=now, agent_id=agent_id, by=by, note=note)
    return _with_entry(conv, replace(conv, offer=ringing), by, record)


def _require_offer_for(conv: Conversation, agent: Agent) -> Offer:
    if not conv.is_open:
        raise DomainError(errors.CONVERSATION_ENDED, "This conversation has ended.")
    if conv.offer is None or conv.offer.agent_id != agent.id:
        raise DomainError(errors.NO_OFFER, "This conversation is no longer offered to you.")
    return conv.offer


def accept(conv: Conversation, agent: Agent, *, now: int, message_id: str) -> Outcome:
    """The agent takes what rings for them; the room the offer reserved becomes theirs."""
    ringing = _require_offer_for(conv, agent)
    record = entry(conv, "accepted", message_id=message_id, now=now, agent_id=agent.id, by=ringing.by, note=ringing.note)
    after = replace(conv, assignee_id=agent.id, offer=None, passed_by=None, waiting_since=None)
    return _with_entry(conv, after, agent.id, record)


def _pass(conv: Conversation, ringing: Offer, event: TimelineEvent, *, now: int, message_id: str) -> Outcome:
    """A declined or timed-out offer: a routed conversation is back at its
    place in the waiting line; a transfer stays with its sender."""
    record = entry(conv, event, message_id=message_id, now=now, agent_id=ringing.agent_id, by=ringing.by)
    return _with_entry(conv, replace(conv, offer=None, passed_by=ringing.agent_id), ringing.agent_id, record)


def decline(conv: Conversation, agent: Agent, *, now: int, message_id: str) -> Outcome:
    return _pass(conv, _require_offer_for(conv, agent), "declined", now=now, message_id=message_id)


def time_out(conv: Conversation, *, now: int, message_id: str) -> Outcome | None:
    """The offer's deadline passed: None when nothing is due (accepted,
    declined, or a later offer rings), so an early or repeated firing is harmless."""
    ringing = conv.offer
    if not conv.is_open or ringing is None or now < ringing.deadline:
        return None
    return _pass(conv, ringing, "timed_out", now=now, message_id=message_id)


def withdraw(conv: Conversation, agent_id: str, *, now: int, message_id: str) -> Outcome | None:
    """The agent left ``available`` (away, offline): what rings for them is
    taken back, so nothing rings for an agent who cannot take it. None when
    nothing rings for them."""
    ringing = conv.offer
    if not conv.is_open or ringing is None or ringing.agent_id != agent_id:
        return None
    return _pass(conv, ringing, "withdrawn", now=now, message_id=message_id)


# --------------------------------------------------------------------------- transfers


def _require_holder(conv: Conversation, actor: Agent) -> None:
    if not conv.is_open:
        raise DomainError(errors.CONVERSATION_ENDED, "This conversation has ended.")
    if conv.assignee_id is None:
        raise DomainError(errors.NOT_ASSIGNEE, "Take this conversation from the inbox first.")
    if conv.assignee_id != actor.id and not actor.is_supervisor:
        raise DomainError(errors.NOT_ASSIGNEE, "This conversation is assigned to another agent.")


MAX_NOTE = 1000


def _require_note(note: str) -> str:
    if len(note) > MAX_NOTE:
        raise DomainError(errors.INVALID_ARGUMENT, f"A transfer note is at most {MAX_NOTE} characters.")
    return note


def transfer_to_agent(
    conv: Conversation,
    actor: Agent,
    target: AgentState,
    *,
    policy: Policy,
    now: int,
    message_id: str,
    note: str = "",
) -> Outcome:
    """Offer the conversation to ``target``; its holder keeps it until the
    target accepts (declined or timed out, it stays with the holder)."""
    _require_holder(conv, actor)
    _require_note(note)
    if target.id == conv.assignee_id:
        raise DomainError(errors.INVALID_ARGUMENT, "This conversation is already theirs.")
    if target.status != "available":
        raise DomainError(errors.AGENT_UNAVAILABLE, f"{target.id} is {target.status}.")
    if target.free < policy.weight(conv.channel):
        raise DomainError(errors.OVER_CAPACITY, f"{target.id} has no room for another conversation.")
    if conv.offer is not None:
        raise DomainError(errors.CONFLICT, "A transfer of this conversation is already ringing.")
    return offer(conv, target.id, policy=policy, now=now, message_id=message_id, by=actor.id, note=note)


def transfer_to_queue(
    conv: Conversation, actor: Agent, queue: Queue, *, now: int, message_id: str, note: str = ""
) -> Outcome:
    """Hand the conversation to ``queue``: it joins that queue's waiting line
    (automatic) or inbox (manual) as of now."""
    _require_holder(conv, actor)
    _require_note(note)
    record = entry(conv, "transferred", message_id=message_id, now=now, by=actor.id, note=note, queue_id=queue.id)
    after = replace(conv, assignee_id=None, queue_id=queue.id, offer=None, passed_by=None, waiting_since=now)
    return _with_entry(conv, after, actor.id, record)
