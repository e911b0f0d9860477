"""Canned responses: the lists an agent uses, and saving or deleting one
response. Load the list → decide (core/canned.py) → store it if nobody wrote
it meanwhile (compare-and-set on the list's version, again on a conflict) →
publish the whole list on its stream (``queue:<id>`` or ``agent:<id>``), so
every open screen of everyone who uses it has the new text at once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from protocol import errors
from protocol import messages as p
from server.app.catalog import Catalog
from server.broker import Broker
from server.core import canned as rules
from server.core.canned import CannedList
from server.core.errors import DomainError
from server.core.model import Agent
from server.store.base import StoreUnavailable, VersionConflict
from server.store.canned import CannedStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20


class CannedResponses:
    def __init__(
        self, catalog: Catalog, store: CannedStore, broker: Broker, new_id: Callable[[str], str], clock: Callable[[], int]
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.broker = broker
        self.new_id = new_id
        self.clock = clock

    async def lists(self, agent: Agent) -> list[p.CannedListView]:
        """Every list the agent uses (an empty one when never written)."""
        ids = rules.readable(agent, self.catalog.visible_queues(agent))
        stored = {lst.id: lst for lst in await self.store.canned_lists(ids)}
        return [rules.view(stored.get(i) or CannedList(id=i)) for i in ids]

    async def save(self, agent: Agent, cmd: p.SaveCanned) -> p.CannedListResult:
        new_id = self.new_id("cr")
        now = self.clock()
        return await self._change(
            agent,
            cmd.list_id,
            lambda lst: rules.save(
                lst, agent, response_id=cmd.response_id, new_id=new_id, shortcut=cmd.shortcut, body=cmd.text, now=now
            ),
        )

    async def delete(self, agent: Agent, cmd: p.DeleteCanned) -> p.CannedListResult:
        return await self._change(agent, cmd.list_id, lambda lst: rules.delete(lst, agent, cmd.response_id))

    async def _change(self, agent: Agent, list_id: str, decide: Callable[[CannedList], CannedList]) -> p.CannedListResult:
        rules.require_readable(agent, list_id, self.catalog.visible_queues(agent))
        for _ in range(MAX_ATTEMPTS):
            found = await self.store.canned_lists([list_id])
            after = decide(found[0] if found else CannedList(id=list_id))
            try:
                await self.store.put_canned_list(after)
            except VersionConflict:
                continue
            view = rules.view(after)
            try:
                await self.broker.publish(list_id, p.CannedUpdated(canned=view))
            except StoreUnavailable:
                # Stored: the caller hears "done"; the broker makes listeners reload.
                log.error("canned list %s: saved, not published", list_id)
            return p.CannedListResult(canned=view)
        raise DomainError(errors.CONFLICT, "The list kept changing; try again.")
