"""What the configuration declares, indexed once: agents, queues,
touchpoints, templates, reply-window policies, and the views of them that
every snapshot repeats. Read-only after start; no I/O."""

from __future__ import annotations

from protocol import errors
from protocol import messages as p
from server.config import Config
from server.core import views
from server.core.conversation import may_hold
from server.core.errors import DomainError
from server.core.model import (
    Agent,
    Contact,
    Conversation,
    Template,
    Touchpoint,
    WindowPolicy,
)


class Catalog:
    def __init__(self, config: Config) -> None:
        self.agents = {a.id: a for a in config.agents}
        self.queues = {q.id: q for q in config.queues}
        self.touchpoints = {t.id: t for t in config.touchpoints}
        self.templates = {(t.name, t.language): t for t in config.templates}
        self.dispositions = list(config.dispositions)
        self.windows = config.windows
        self.keep_deleted_text = config.meta.keep_deleted_text
        self.agent_views = {a.id: views.agent_view(a) for a in config.agents}
        self.queue_views = [
            p.QueueView(id=q.id, name=q.name, assignable=[a.id for a in config.agents if may_hold(a, q.id)])
            for q in config.queues
        ]
        self.template_views = [p.TemplateView(name=t.name, language=t.language, text=t.text) for t in config.templates]
        self._directories: dict[tuple[str, ...], list[p.AgentView]] = {}

    def policy(self, channel: str) -> WindowPolicy:
        return self.windows[channel]

    def summary(self, conv: Conversation, contact: Contact) -> p.ConversationSummary:
        return views.summary(conv, contact, self.touchpoints[conv.touchpoint_id], self.windows[conv.channel])  # = policy()

    def agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise DomainError(errors.INVALID_ARGUMENT, f"No agent {agent_id!r}.")
        return agent

    def touchpoint(self, touchpoint_id: str) -> Touchpoint:
        touchpoint = self.touchpoints.get(touchpoint_id)
        if touchpoint is None:
            raise DomainError(errors.NOT_FOUND, f"No touchpoint {touchpoint_id!r}.")
        return touchpoint

    def template(self, ref: p.TemplateRef) -> Template:
        template = self.templates.get((ref.name, ref.language))
        if template is None:
            raise DomainError(errors.INVALID_ARGUMENT, f"No approved template {ref.name!r} ({ref.language}).")
        return template

    def visible_queues(self, agent: Agent) -> list[str]:
        return list(self.queues) if agent.is_supervisor else list(agent.queues)

    def touchpoint_views(self, agent: Agent) -> list[p.TouchpointView]:
        return [
            p.TouchpointView(id=t.id, channel=t.channel, name=t.name, queue_id=t.queue_id)
            for t in self.touchpoints.values()
            if agent.is_supervisor or t.queue_id in agent.queues
        ]

    def directory(self, agent: Agent) -> list[p.AgentView]:
        """The agents whose names this agent may need: everyone for a
        supervisor (who assigns); for an agent, the colleagues of their queues
        and the supervisors. Not the whole company on every connect."""
        key = ("*",) if agent.is_supervisor else tuple(sorted(agent.queues))
        found = self._directories.get(key)
        if found is None:
            mine = set(key)
            found = self._directories[key] = [
                view
                for a, view in zip(self.agents.values(), self.agent_views.values(), strict=True)
                if agent.is_supervisor or a.is_supervisor or mine.intersection(a.queues)
            ]
        return found
