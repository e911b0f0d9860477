"""Canned responses: saved replies an agent inserts by typing ``/`` and a
shortcut. Pure: lists in, a new list (or a ``DomainError``) out.

Two kinds of list, each named by the stream its changes go to:

    queue:<queue_id>   the queue's list: every agent of the queue (and every
                       supervisor) uses it; supervisors keep it
    agent:<agent_id>   an agent's own list: only that agent uses and keeps it

A list is one value with a version: every save or delete decides a whole new
list against the one read, and the store keeps it only if nobody wrote the
list in between (compare-and-set), so shortcuts stay unique in a list
whatever the number of writers. The text may hold ``{{contact.name}}`` and
``{{agent.name}}``: the client fills them in when it inserts the text.
"""

from __future__ import annotations

import re

from msgspec import Struct

from protocol import errors
from protocol import messages as p
from server.core import permissions, text
from server.core.conversation import MAX_TEXT
from server.core.errors import DomainError
from server.core.model import Agent

MAX_RESPONSES = 300
"""Per list: the picker filters as the agent types, not a catalog."""
MAX_SHORTCUT = 32
_SHORTCUT = re.compile(r"^[\w.-]+$")
"""Letters (any alphabet, accented too), digits, ``_``, ``.`` and ``-``: what
can follow ``/`` in the editor without a space ending it."""

QUEUE = "queue"
AGENT = "agent"


class CannedResponse(Struct, frozen=True, kw_only=True):
    id: str
    shortcut: str
    text: str
    updated_at: int
    updated_by: str


class CannedList(Struct, frozen=True, kw_only=True):
    id: str
    """``queue:<queue_id>`` or ``agent:<agent_id>``."""
    version: int = 0
    """0: never written."""
    responses: tuple[CannedResponse, ...] = ()
    """Ordered by shortcut, case- and accent-insensitively."""


def queue_list(queue_id: str) -> str:
    return f"{QUEUE}:{queue_id}"


def personal_list(agent_id: str) -> str:
    return f"{AGENT}:{agent_id}"


def readable(agent: Agent, visible_queues: list[str]) -> list[str]:
    """The lists an agent uses: their own, then their queues' (all queues
    for a supervisor: ``visible_queues``)."""
    return [personal_list(agent.id), *(queue_list(q) for q in visible_queues)]


def require_readable(agent: Agent, list_id: str, visible_queues: list[str]) -> None:
    """A list the agent does not use is answered as a missing one."""
    if list_id not in readable(agent, visible_queues):
        raise DomainError(errors.NOT_FOUND, f"No canned response list {list_id!r}.")


def editors(list_id: str) -> list[str]:
    """Who keeps a list, as principals (``Welcome.principals``): supervisors
    keep a queue's list, an agent their own."""
    kind, _, owner = list_id.partition(":")
    if kind == QUEUE:
        return [permissions.SUPERVISORS]
    return [personal_list(owner)]


def may_edit(agent: Agent, list_id: str) -> bool:
    return not set(editors(list_id)).isdisjoint(permissions.principals(agent))


def _require_edit(agent: Agent, list_id: str) -> None:
    if may_edit(agent, list_id):
        return
    if list_id.startswith(f"{QUEUE}:"):
        raise DomainError(errors.FORBIDDEN, "Only a supervisor may change a queue's canned responses.")
    raise DomainError(errors.FORBIDDEN, "Agents change only their own canned responses.")


def clean_shortcut(shortcut: str) -> str:
    """The shortcut as stored: without surrounding spaces or a leading ``/``."""
    cleaned = shortcut.strip().removeprefix("/")
    if not cleaned:
        raise DomainError(errors.INVALID_ARGUMENT, "The shortcut is empty.")
    if len(cleaned) > MAX_SHORTCUT:
        raise DomainError(errors.INVALID_ARGUMENT, f"The shortcut is longer than {MAX_SHORTCUT} characters.")
    if not _SHORTCUT.match(cleaned):
        raise DomainError(errors.INVALID_ARGUMENT, "A shortcut is letters, digits, '-', '_' or '.', with no spaces.")
    return cleaned


def _ordered(responses: list[CannedResponse]) -> tuple[CannedResponse, ...]:
    return tuple(sorted(responses, key=lambda r: (text.fold(r.shortcut), r.id)))


def save(
    current: CannedList,
    actor: Agent,
    *,
    response_id: str | None,
    new_id: str,
    shortcut: str,
    body: str,
    now: int,
) -> CannedList:
    """Create (``response_id`` None, the new one gets ``new_id``) or replace a
    response. Its shortcut must be free in the list (``/Olá`` and ``/ola``
    are the same shortcut)."""
    _require_edit(actor, current.id)
    cleaned = clean_shortcut(shortcut)
    if not body.strip():
        raise DomainError(errors.INVALID_ARGUMENT, "The text is empty.")
    if len(body) > MAX_TEXT:
        raise DomainError(errors.INVALID_ARGUMENT, f"The text is longer than {MAX_TEXT} characters.")
    others = [r for r in current.responses if r.id != response_id]
    if response_id is not None and len(others) == len(current.responses):
        raise DomainError(errors.NOT_FOUND, "No such canned response.")
    if response_id is None and len(others) >= MAX_RESPONSES:
        raise DomainError(errors.INVALID_ARGUMENT, f"A list holds at most {MAX_RESPONSES} canned responses.")
    folded = text.fold(cleaned)
    if any(text.fold(r.shortcut) == folded for r in others):
        raise DomainError(errors.INVALID_ARGUMENT, f"The shortcut /{cleaned} is already used in this list.")
    saved = CannedResponse(id=response_id or new_id, shortcut=cleaned, text=body, updated_at=now, updated_by=actor.id)
    return CannedList(id=current.id, version=current.version + 1, responses=_ordered([*others, saved]))


def delete(current: CannedList, actor: Agent, response_id: str) -> CannedList:
    _require_edit(actor, current.id)
    kept = [r for r in current.responses if r.id != response_id]
    if len(kept) == len(current.responses):
        raise DomainError(errors.NOT_FOUND, "No such canned response.")
    return CannedList(id=current.id, version=current.version + 1, responses=tuple(kept))


def view(lst: CannedList) -> p.CannedListView:
    return p.CannedListView(
        list_id=lst.id,
        version=lst.version,
        editors=editors(lst.id),
        responses=[
            p.CannedResponseView(id=r.id, shortcut=r.shortcut, text=r.text, updated_at=r.updated_at, updated_by=r.updated_by)
            for r in lst.responses
        ],
    )
