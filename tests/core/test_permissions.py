"""The ``can`` flags: proved against the rules they summarize. Pure."""

from __future__ import annotations

from typing import get_args

import pytest
from msgspec.structs import replace

from protocol import messages as p
from server.core import conversation as rules
from server.core import permissions
from server.core.errors import DomainError
from server.core.model import Agent, Conversation, Template
from server.core.views import summary
from tests.core.test_conversation import (
    ANA,
    BRUNO,
    CARLA,
    CUSTOMER,
    FB,
    FB_POLICY,
    HOUR,
    SOFIA,
    T0,
    WA,
    WA_POLICY,
    claimed,
    open_conv,
)

SUPERVISOR_IN_SALES = Agent(id="vera", name="Vera", role="supervisor", queues=("sales",))
AGENTS = [ANA, BRUNO, CARLA, SOFIA, SUPERVISOR_IN_SALES]
TARGET = Agent(id="zed", name="Zed", role="supervisor")
TEMPLATE = Template(name="hello", language="en_US", text="Hello")
DAY = 24 * HOUR


def states() -> list[tuple[str, Conversation]]:
    """One conversation in each state a summary can show, on both channels."""
    out: list[tuple[str, Conversation]] = []
    for tp in (WA, FB):
        inbox = open_conv(tp)
        mine = replace(claimed(BRUNO, tp), unread=0)
        out += [
            (f"{tp.channel} inbox", inbox),
            (f"{tp.channel} bruno, unread", claimed(BRUNO, tp)),
            (f"{tp.channel} bruno", mine),
            (f"{tp.channel} sofia", rules.claim(inbox, SOFIA).after),
            (f"{tp.channel} bruno, locked", replace(mine, session_locked=True)),
            (f"{tp.channel} bruno, ended", rules.end(mine, BRUNO, T0 + HOUR).after),
            (f"{tp.channel} ended in the inbox", rules.end(inbox, SOFIA, T0 + HOUR).after),
        ]
    return out


def policy_of(conv: Conversation) -> tuple[rules.WindowPolicy, int]:
    """The channel's policy, and a time at which its window agrees with the state."""
    policy = WA_POLICY if conv.channel == "whatsapp" else FB_POLICY
    return policy, T0 + (30 * DAY if conv.session_locked else HOUR)


def accepted(action: p.Action, agent: Agent, conv: Conversation) -> bool:
    """Whether the command's rule takes it and it changes something."""
    policy, now = policy_of(conv)
    tp = WA if conv.channel == "whatsapp" else FB
    try:
        match action:
            case "claim":
                return rules.changes_something(rules.claim(conv, agent), conv)
            case "assign":
                rules.assign(conv, agent, TARGET)
            case "send_to_inbox":
                rules.send_to_inbox(conv, agent, tp)
            case "end_chat":
                rules.end(conv, agent, now)
            case "send":
                rules.send(conv, agent, "hi", message_id="m", policy=policy, now=now)
            case "send_template":
                rules.send_template(conv, agent, TEMPLATE, [], message_id="m", policy=policy, now=now)
            case "read":
                return rules.read(conv, agent) is not None
            case "add_note":
                rules.add_note(conv, agent, "note", note_id="n", now=now)
            case "wrap_up":
                rules.wrap_up(conv, agent, "Solved", "", dispositions=["Solved"], now=now)
            case "contact_card":
                rules.require_view(agent, conv)
                rules.require_contact_card(conv)
    except DomainError:
        return False
    return True


CASES = [(name, conv, agent) for name, conv in states() for agent in AGENTS]


@pytest.mark.parametrize(("state", "conv", "agent"), CASES, ids=[f"{s}-{a.id}" for s, _, a in CASES])
def test_an_action_is_allowed_exactly_when_its_command_would_be_accepted(
    state: str, conv: Conversation, agent: Agent
) -> None:
    policy, _ = policy_of(conv)
    expected = [a for a in get_args(p.Action) if accepted(a, agent, conv)]
    assert permissions.allowed(agent, conv, templates=policy.templates) == expected


@pytest.mark.parametrize(("state", "conv", "agent"), CASES, ids=[f"{s}-{a.id}" for s, _, a in CASES])
def test_each_receiver_reads_its_own_flags_from_the_shared_summary(state: str, conv: Conversation, agent: Agent) -> None:
    """The union over the agent's principals is exactly what it may do,
    whoever receives the same summary."""
    policy, _ = policy_of(conv)
    can = summary(conv, CUSTOMER, WA if conv.channel == "whatsapp" else FB, policy).can
    union = {a for key in permissions.principals(agent) for a in can.get(key, [])}
    assert union == set(permissions.allowed(agent, conv, templates=policy.templates))


def test_the_flags_tell_the_receivers_apart() -> None:
    """One summary, different answers: the holder replies, a colleague of the
    queue does nothing, a supervisor may also reassign."""
    conv = claimed(ANA)
    can = summary(conv, CUSTOMER, WA, WA_POLICY).can
    assert set(can) == {"agent:ana", "role:supervisor"}  # colleagues of the queue: nothing
    assert "send" in can["agent:ana"] and "assign" not in can["agent:ana"]
    assert "assign" in can["role:supervisor"]
    inbox = summary(open_conv(), CUSTOMER, WA, WA_POLICY).can
    assert inbox["queue:sales"] == ["claim", "contact_card"]
    assert permissions.principals(BRUNO) == ["agent:bruno", "queue:sales", "queue:support"]
    assert permissions.principals(SOFIA) == ["agent:sofia", "role:supervisor"]
