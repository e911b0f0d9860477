"""Who may do what outside a conversation (the directory, logging agents
out). A conversation's own rights are in ``conversation.py`` (``can_view``
and the ``require_*`` there). Pure."""

from __future__ import annotations

from protocol import errors
from server.core.errors import DomainError
from server.core.model import Agent


def require_supervisor(agent: Agent, doing: str) -> None:
    """``doing``: what was asked, as in "Only a supervisor may {doing}."."""
    if not agent.is_supervisor:
        raise DomainError(errors.FORBIDDEN, f"Only a supervisor may {doing}.")


def require_may_log_out(actor: Agent, target_id: str) -> None:
    """An agent may log themselves out everywhere; a supervisor, anyone."""
    if not (actor.is_supervisor or actor.id == target_id):
        raise DomainError(errors.FORBIDDEN, "Only a supervisor may log another agent out.")


MAX_NAME = 200


def directory_name(raw: str | None) -> str | None:
    """A contact's name as typed into the directory: trimmed; blank is no name."""
    name = raw.strip() if raw and raw.strip() else None
    if name is not None and len(name) > MAX_NAME:
        raise DomainError(errors.INVALID_ARGUMENT, f"Name is longer than {MAX_NAME} characters.")
    return name
