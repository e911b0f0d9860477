"""What an agent may do to a conversation: the ``can`` flags. Pure.

One function decides (``allowed``), from the same predicates the rules in
``conversation.py`` check when the command comes (``is_owner``,
``may_hold``, ``can_view``), the conversation's state and its reply window
(``session_locked``, kept by the session timer). tests/core/test_permissions.py
proves it against the rules themselves: an action is allowed exactly when
its command would be accepted and change something.

A summary is encoded once and written to every receiver of its stream (the
Inbox's agents and supervisors, a thread's viewers), so it cannot carry one
agent's flags. It carries them per *class* of receiver (``grants``): the
assignee (``agent:<id>``), the queue's agents (``queue:<id>``), supervisors
(``role:supervisor``). An agent's flags are the union over the principals
it is told in ``Welcome`` (``principals``): every rule only grants more to
an agent who is also the assignee, in the queue, or a supervisor, so the
union is exact (tested for every kind of agent and conversation).
"""

from __future__ import annotations

import functools

from protocol import messages as p
from server.core.conversation import WHATSAPP_ONLY, can_view, is_owner, may_hold
from server.core.model import Agent, Channel, Conversation, Status

SUPERVISORS = "role:supervisor"


def allowed(agent: Agent, conv: Conversation, *, templates: bool) -> list[p.Action]:
    """The actions ``agent`` may take on ``conv`` now, in the protocol's order.
    ``templates``: whether the channel has approved templates (its policy)."""
    open_ = conv.status == "open"
    owner = is_owner(conv, agent)
    whatsapp = conv.channel == WHATSAPP_ONLY
    flags: list[tuple[p.Action, bool]] = [
        ("claim", open_ and conv.assignee_id is None and may_hold(agent, conv.queue_id)),
        ("assign", open_ and agent.is_supervisor),
        ("send_to_inbox", open_ and conv.assignee_id is not None and owner),
        ("end_chat", open_ and owner),
        ("send", open_ and owner and not conv.session_locked),
        ("send_template", open_ and owner and templates),
        ("read", conv.assignee_id == agent.id and conv.unread > 0),
        ("add_note", whatsapp and owner),
        ("wrap_up", whatsapp and not open_ and owner),
        ("contact_card", whatsapp and can_view(agent, conv)),
    ]
    return [action for action, ok in flags if ok]


def principals(agent: Agent) -> list[str]:
    """The keys of ``grants`` that apply to ``agent``."""
    keys = [f"agent:{agent.id}", *(f"queue:{q}" for q in agent.queues)]
    return [*keys, SUPERVISORS] if agent.is_supervisor else keys


def grants(conv: Conversation, *, templates: bool) -> dict[str, list[p.Action]]:
    """``allowed`` for each class of receiver: the assignee as a plain agent,
    a plain agent of the conversation's queue, a supervisor. Anyone else may
    do nothing (they are none of these), so nothing is said about them.

    Built for every summary (twice per change, once per row of a snapshot),
    so the answer is kept per distinct state of what ``allowed`` reads: the
    lists are shared between summaries, and never changed."""
    return dict(
        _grants(conv.queue_id, conv.assignee_id, conv.status, conv.channel, conv.session_locked, conv.unread > 0, templates)
    )


@functools.lru_cache(maxsize=4096)
def _grants(
    queue_id: str, assignee_id: str | None, status: Status, channel: Channel, locked: bool, unread: bool, templates: bool
) -> dict[str, list[p.Action]]:
    # Only the fields ``allowed`` reads matter; the union test
    # (tests/core/test_permissions.py) fails if it starts reading another.
    conv = Conversation(
        id="", channel=channel, touchpoint_id="", queue_id=queue_id, contact_id="", created_at=0,
        status=status, assignee_id=assignee_id, session_locked=locked, unread=int(unread),
    )  # fmt: skip
    classes: list[tuple[str, Agent]] = [
        (f"queue:{queue_id}", Agent(id="", name="", queues=(queue_id,))),
        (SUPERVISORS, Agent(id="", name="", role="supervisor")),
    ]
    if assignee_id is not None:
        classes.insert(0, (f"agent:{assignee_id}", Agent(id=assignee_id, name="")))
    out = {key: allowed(who, conv, templates=templates) for key, who in classes}
    return {key: actions for key, actions in out.items() if actions}
