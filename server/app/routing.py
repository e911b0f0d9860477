"""Routing use cases: agents' status, offers, transfers, the routing pass.

Every change of a conversation (an offer rung, accepted, declined, timed
out, withdrawn; a transfer) is one ``Changes.change`` around one rule of
``server/core/routing.py``: the compare-and-set commit makes "never two
owners" hold on any number of nodes, and the timeline entry is the commit's
message, so it can never disagree with the state.

**Capacity across nodes.** Load only grows by an offer (accepting turns the
room the offer reserved into a held conversation). Offers are made only by
the routing pass, and every routing pass, on every node, holds the
Presence port's ``routing`` lease: it reads the floor (statuses, every
agent's load counter, the oldest of the waiting lines) *after* taking the
lease and commits its offers before releasing it, so two nodes never decide
on the same free room. A transfer to an agent checks the
target's room under the same lease. (The alternative, checking each agent's
load inside the conversation's commit, needs a cross-key check in every
store backend; one short lease per pass costs a few ms. The commit only
*keeps* the load counters, ``Store.agent_loads``; the lease decides.)

**Event-driven.** Whatever may free room or add work (an arrival in an
automatic queue, End Chat, Send to Inbox, a transfer, a decline, a timeout,
an agent becoming available) calls ``kick``: one pass runs at once, and
kicks that come during a pass coalesce into one more pass. The periodic
``sweep`` is only the safety net after a node failure (its events were
lost with it); it also expires presence and re-checks offers past their
deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from msgspec.structs import replace

from protocol import errors
from protocol import messages as p
from server.app.catalog import Catalog
from server.app.changes import Changes
from server.app.minting import Mint
from server.broker import Broker
from server.config import RoutingSettings
from server.core import conversation as rules
from server.core import fanout, routing
from server.core.errors import DomainError
from server.core.model import Agent, Conversation, Queue
from server.core.views import offer_view
from server.presence import AgentRecord, Presence
from server.store.base import DuplicateMessage, Store, StoreError, StoreUnavailable, VersionConflict
from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)

LEASE = "routing"
LEASE_MS = 3_000
"""Renewed every second while held (RedisPresence): a node that dies holding it
blocks routing for at most this long."""


PAGE = 500
"""The most of one waiting line a pass reads at once."""

FLOOR_DELAY = 0.25
"""Seconds: how stale the floor may be after changes that run no pass (accepts)."""


def _no_watch(conv_id: str, due_ms: int | None) -> None:
    return None


class Router:
    def __init__(
        self,
        catalog: Catalog,
        changes: Changes,
        store: Store,
        presence: Presence,
        broker: Broker,
        settings: RoutingSettings,
        mint: Mint,
        clock: Callable[[], int],
        node_id: str,
    ) -> None:
        self.catalog = catalog
        self.changes = changes
        self.store = store
        self.presence = presence
        self.broker = broker
        self.settings = settings
        self.policy = settings.policy
        self.mint = mint
        self.clock = clock
        self.node_id = node_id
        self.automatic = [q for q in catalog.queues.values() if q.routing == "automatic"]
        self.automatic_ids = {q.id for q in self.automatic}
        self.routed_agents = [a for a in catalog.agents.values() if self.automatic_ids.intersection(a.queues)]
        self._agents_of: dict[str, list[Agent]] = {q: [] for q in self.automatic_ids}
        """automatic queue id → its agents (a pass reads only those of its queues)"""
        for a in self.routed_agents:
            for q in a.queues:
                if q in self._agents_of:
                    self._agents_of[q].append(a)
        self.watch: Callable[[str, int | None], None] = _no_watch
        """Told (conversation id, deadline) for every offer rung. Connected by the node (the offer timers)."""
        self._screens: dict[str, int] = {}
        self._kicked = asyncio.Event()
        self._dirty: set[str] = set()
        self._floors: dict[str, p.QueueFloor] = {}
        self._floor_due: set[str] = set()
        self.passes = 0
        """Routing passes this node has run (each reads its queues' floor under the lease)."""
        self._floor_timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._touches: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return bool(self.automatic)

    # ------------------------------------------------------------------ lifecycle

    async def rebuild(self) -> None:
        """At start: the index of what rings for whom, from the store (a
        single node's memory lost it with the last process)."""
        if not self.enabled:
            return
        for queue in self.automatic:
            for conv in await self.store.ringing(queue.id):
                if conv.offer is not None:
                    await self.presence.add_offer(conv.offer.agent_id, conv.id)
        for agent in self.catalog.agents.values():
            for conv in await self.store.assigned(agent.id):
                if conv.offer is not None:  # a transfer ringing
                    await self.presence.add_offer(conv.offer.agent_id, conv.id)

    def start(self) -> None:
        if not self.enabled:
            return
        self._tasks = [
            asyncio.create_task(self._passes(), name="routing-passes"),
            asyncio.create_task(self._sweeps(), name="routing-sweeps"),
        ]
        self.kick()

    async def stop(self) -> None:
        if self._floor_timer is not None:
            self._floor_timer.cancel()
        await cancel_and_wait([*self._tasks, *self._touches])

    def kick(self, queues: Iterable[str] | None = None) -> None:
        """Route these automatic queues (None: all) soon; kicks that come
        while a pass runs coalesce into one more pass over their queues."""
        wanted = self.automatic_ids if queues is None else self.automatic_ids.intersection(queues)
        if wanted:
            self._dirty.update(wanted)
            self._kicked.set()

    def _queues_of(self, agent_id: str) -> tuple[str, ...]:
        agent = self.catalog.agents.get(agent_id)
        return agent.queues if agent is not None else ()

    async def _passes(self) -> None:
        while True:
            await self._kicked.wait()
            self._kicked.clear()
            dirty, self._dirty = self._dirty, set()
            try:
                await self.route(dirty)
            except Exception:
                log.exception("routing pass failed; the sweep retries")

    async def _sweeps(self) -> None:
        beat = min(self.settings.heartbeat_ms, int(self.settings.sweep_seconds * 1000)) / 1000
        last_sweep = 0
        while True:
            try:
                await self.heartbeat()
                await self.expire_presence()
                now = self.clock()
                if now - last_sweep >= self.settings.sweep_seconds * 1000:
                    last_sweep = now
                    await self.time_out_overdue()
                    self.kick()
            except Exception:
                log.exception("routing sweep failed")
            await asyncio.sleep(beat)

    # ------------------------------------------------------------------ presence

    def screen_opened(self, agent_id: str) -> None:
        self._screens[agent_id] = self._screens.get(agent_id, 0) + 1
        if self.enabled:
            self._spawn_touch(agent_id)

    def screen_closed(self, agent_id: str) -> None:
        left = self._screens.get(agent_id, 0) - 1
        if left > 0:
            self._screens[agent_id] = left
            return
        self._screens.pop(agent_id, None)
        if self.enabled:
            # The grace period counts from now: the last touch says so.
            self._spawn_touch(agent_id)

    def _spawn_touch(self, agent_id: str) -> None:
        task = asyncio.create_task(self._touch([agent_id]))
        self._touches.add(task)
        task.add_done_callback(self._touches.discard)

    async def _touch(self, agent_ids: Iterable[str]) -> None:
        try:
            await self.presence.touch(self.node_id, agent_ids, self.clock() + int(self.settings.presence_grace_seconds * 1000))
        except Exception:
            log.exception("presence: touch failed")

    async def heartbeat(self) -> None:
        """Renew this node's screens (a dead node's expire after the grace)."""
        if self._screens:
            await self._touch(list(self._screens))

    async def expire_presence(self) -> None:
        """Agents with no screen left anywhere past the grace: offline."""
        ids = [a.id for a in self.routed_agents]
        records = await self.presence.get_many(ids)
        present = await self.presence.present(ids, self.clock())
        for agent_id, record in records.items():
            if record.status != "offline" and agent_id not in present:
                await self._set_status(agent_id, "offline", only_if=record)

    # ------------------------------------------------------------------ status

    async def status_view(self, agent_id: str, record: AgentRecord | None = None) -> p.AgentStatusView:
        if record is None:
            record = (await self.presence.get_many([agent_id]))[agent_id]
        agent = self.catalog.agents[agent_id]
        capacity = record.capacity if record.capacity is not None else self.policy.capacity_of(agent)
        load = (await self._loads([agent_id]))[agent_id]
        return p.AgentStatusView(agent_id=agent_id, status=record.status, since=record.since, load=load, capacity=capacity)

    async def set_status(self, agent: Agent, status: routing.AgentStatus) -> p.StatusResult:
        if agent.id in self._screens:
            await self._touch([agent.id])  # present before the status counts (the sweep must not see a ghost)
        record = await self._set_status(agent.id, status)
        return p.StatusResult(agent=await self.status_view(agent.id, record))

    async def set_capacity(self, actor: Agent, agent_id: str, capacity: int | None) -> p.StatusResult:
        """Supervisor: the agent's load limit from now on (None: the
        configured one). Lowering it takes nothing away; it only stops new
        offers until their load is under it."""
        if not actor.is_supervisor:
            raise DomainError(errors.FORBIDDEN, "Only a supervisor may set an agent's capacity.")
        self.catalog.agent(agent_id)
        while True:
            current = (await self.presence.get_many([agent_id]))[agent_id]
            new = replace(current, capacity=capacity)
            if new == current or await self.presence.compare_and_set(agent_id, current, new):
                break
        view = await self.status_view(agent_id, new)
        if new != current:
            await self._publish(fanout.agent_stream(agent_id), p.AgentStatusChanged(agent=view))
            self.kick(self._queues_of(agent_id))
        return p.StatusResult(agent=view)

    async def _set_status(
        self, agent_id: str, status: routing.AgentStatus, *, only_if: AgentRecord | None = None, timeouts: int | None = None
    ) -> AgentRecord:
        """Compare-and-set the agent's record; publish the change once (the
        writer that won says it). ``only_if``: give up if the record moved.
        Leaving ``available`` holds the routing lease: no pass is between
        reading them available and committing an offer to them, and what
        rings for them is taken back before any pass runs again."""
        if status == "available":
            return await self._change_status(agent_id, status, only_if=only_if, timeouts=timeouts)
        async with self.presence.lease(LEASE, LEASE_MS):
            return await self._change_status(agent_id, status, only_if=only_if, timeouts=timeouts)

    async def _change_status(
        self, agent_id: str, status: routing.AgentStatus, *, only_if: AgentRecord | None, timeouts: int | None
    ) -> AgentRecord:
        while True:
            current = only_if or (await self.presence.get_many([agent_id]))[agent_id]
            now = self.clock()
            new = replace(
                current,
                status=status,
                since=now if status != current.status else current.since,
                timeouts=0 if status == "available" and timeouts is None else (timeouts if timeouts is not None else current.timeouts),
                idle_since=now if status == "available" and current.status != "available" else current.idle_since,
            )
            if new == current:
                return current
            if await self.presence.compare_and_set(agent_id, current, new):
                break
            if only_if is not None:
                return (await self.presence.get_many([agent_id]))[agent_id]
        if new.status != current.status:
            if status != "available":
                await self._withdraw_offers(agent_id)
            await self._publish(fanout.agent_stream(agent_id), p.AgentStatusChanged(agent=await self.status_view(agent_id, new)))
            self.kick(self._queues_of(agent_id))
        return new

    async def _withdraw_offers(self, agent_id: str) -> None:
        """Under the routing lease (its entries are then trimmed safely)."""
        for conv_id in await self.presence.offers_of(agent_id):
            try:
                await self.changes.change(conv_id, self._withdrawal(agent_id, self.mint.in_thread("m", conv_id)))
            except DomainError:
                pass
            await self.presence.discard_offer(agent_id, conv_id)

    def _withdrawal(self, agent_id: str, message_id: str) -> Callable[[Conversation], rules.Outcome | None]:
        return lambda c: routing.withdraw(c, agent_id, now=self.clock(), message_id=message_id)

    # ------------------------------------------------------------------ offers

    @staticmethod
    def _known(agent: Agent) -> Callable[[Conversation], None]:
        """Who may even be told about an offer: the agent it rings for (a
        transfer may come from another queue), else those who know the
        conversation; anyone else gets ``not_found``, as for a read."""

        def check(conv: Conversation) -> None:
            if conv.offer is None or conv.offer.agent_id != agent.id:
                rules.require_known(agent, conv)

        return check

    async def accept(self, agent: Agent, conv_id: str) -> p.ConversationResult:
        message_id = self.mint.in_thread("m", conv_id)
        conv, _ = await self.changes.change(
            conv_id, lambda c: routing.accept(c, agent, now=self.clock(), message_id=message_id), agent_known=self._known(agent)
        )
        # (Its entry in the offers index stays until a pass trims it under the
        # lease: trimmed here, it could remove a new offer being made meanwhile.)
        await self._reset_timeouts(agent.id)
        return p.ConversationResult(conversation=self.catalog.summary(conv, await self.changes.directory.contact_of(conv)))

    async def decline(self, agent: Agent, conv_id: str) -> p.ConversationResult:
        message_id = self.mint.in_thread("m", conv_id)
        conv, _ = await self.changes.change(
            conv_id, lambda c: routing.decline(c, agent, now=self.clock(), message_id=message_id), agent_known=self._known(agent)
        )
        await self._reset_timeouts(agent.id)  # (its commit kicked the queue's pass: on_change)
        return p.ConversationResult(conversation=self.catalog.summary(conv, await self.changes.directory.contact_of(conv)))

    async def _reset_timeouts(self, agent_id: str) -> None:
        while True:
            current = (await self.presence.get_many([agent_id]))[agent_id]
            if current.timeouts == 0 or await self.presence.compare_and_set(agent_id, current, replace(current, timeouts=0)):
                return

    async def timeout(self, conv_id: str) -> bool:
        """An offer's deadline came (the offer timers, or the sweep): move it
        on if it still rings; N in a row set its agent away. True when it did."""
        message_id = self.mint.in_thread("m", conv_id)
        try:
            _, outcome = await self.changes.change(conv_id, lambda c: routing.time_out(c, now=self.clock(), message_id=message_id))
        except DomainError:
            return False
        if outcome is None or outcome.before is None or outcome.before.offer is None:
            return False
        agent_id = outcome.before.offer.agent_id  # (its index entry: trimmed by the next pass, under the lease)
        while True:
            current = (await self.presence.get_many([agent_id]))[agent_id]
            bumped = replace(current, timeouts=current.timeouts + 1)
            if await self.presence.compare_and_set(agent_id, current, bumped):
                break
        status = routing.status_after_timeout(bumped.status, bumped.timeouts, self.policy)
        if status != bumped.status:
            await self._set_status(agent_id, status, timeouts=bumped.timeouts)
        return True

    async def time_out_overdue(self) -> None:
        """Safety net: offers past their deadline whose timer was lost with a node."""
        now = self.clock()
        for queue in self.automatic:
            for conv in await self.store.ringing(queue.id):
                if conv.offer is not None and conv.offer.deadline <= now:
                    await self.timeout(conv.id)

    # ------------------------------------------------------------------ transfers

    async def transfer(self, agent: Agent, cmd: p.Transfer) -> p.ConversationResult:
        if (cmd.agent_id is None) == (cmd.queue_id is None):
            raise DomainError(errors.INVALID_ARGUMENT, "Transfer to an agent or to a queue: name exactly one.")
        message_id = self.mint.in_thread("m", cmd.conversation_id)
        if cmd.queue_id is not None:
            queue = self.catalog.queues.get(cmd.queue_id)
            if queue is None:
                raise DomainError(errors.INVALID_ARGUMENT, f"No queue {cmd.queue_id!r}.")
            conv, _ = await self.changes.change(
                cmd.conversation_id,
                lambda c: routing.transfer_to_queue(c, agent, queue, now=self.clock(), message_id=message_id, note=cmd.note),
                agent_known=lambda c: rules.require_known(agent, c),
            )
        else:
            target = self.catalog.agent(cmd.agent_id or "")
            async with self.presence.lease(LEASE, LEASE_MS):
                state = await self._state(target, trim=True)
                if not self.enabled:
                    # No queue routes automatically: statuses and capacity are not kept, so a transfer rings whatever they are.
                    state = replace(state, status="available", capacity=2**31)
                await self.presence.add_offer(target.id, cmd.conversation_id)
                conv, _ = await self.changes.change(
                    cmd.conversation_id,
                    lambda c: routing.transfer_to_agent(
                        c, agent, state, policy=self.policy, now=self.clock(), message_id=message_id, note=cmd.note
                    ),
                    agent_known=lambda c: rules.require_known(agent, c),
                )
            if conv.offer is not None:
                self.watch(conv.id, conv.offer.deadline)
        return p.ConversationResult(conversation=self.catalog.summary(conv, await self.changes.directory.contact_of(conv)))

    # ------------------------------------------------------------------ the pass

    def on_change(self, outcome: rules.Outcome) -> None:
        """Every stored change (connected by the node): route when it may
        have added work or freed room (or changed what the floor shows): a
        conversation joined or left a waiting line, changed hands, ended,
        or an offer came or went. A new message alone routes nothing.

        Two changes free no room and add no work, so they run no pass of
        their own: an offer a pass made (that pass publishes the floor after
        it), and an offer accepted (its room was reserved when it rang); the
        floor they change is republished by the next pass, or within
        ``FLOOR_DELAY`` when none comes."""
        if not self.enabled:
            return
        b, a = outcome.before, outcome.after
        if b is None:
            if routing.is_waiting(a):
                self.kick([a.queue_id])
            return
        if (b.assignee_id, b.offer, b.status, b.queue_id) == (a.assignee_id, a.offer, a.status, a.queue_id):
            return
        if b.queue_id == a.queue_id and b.status == a.status:
            if routing.is_waiting(b) and a.assignee_id is None and a.offer is not None and a.offer.by is None:
                return  # routed: the pass that made it publishes the floor
            if b.offer is not None and b.assignee_id is None and a.offer is None and a.assignee_id == b.offer.agent_id:
                self._floor_soon(a.queue_id)  # accepted
                return
        queues = {b.queue_id, a.queue_id}
        for holder in (b.assignee_id, b.offer.agent_id if b.offer else None):
            if holder is not None and holder not in (a.assignee_id, a.offer.agent_id if a.offer else None):
                queues.update(self._queues_of(holder))  # room freed: their other queues may route too
        self.kick(queues)

    def _floor_soon(self, queue_id: str) -> None:
        """Republish the queue's floor within ``FLOOR_DELAY`` (a pass over it meanwhile does it first)."""
        if queue_id not in self.automatic_ids:
            return
        self._floor_due.add(queue_id)
        if self._floor_timer is None:
            self._floor_timer = asyncio.get_running_loop().call_later(FLOOR_DELAY, self._floor_now)

    def _floor_now(self) -> None:
        self._floor_timer = None
        due, self._floor_due = self._floor_due, set()
        self.kick(due)

    async def _trim(self, agent_ids: list[str], known: dict[str, Conversation] | None = None) -> None:
        """Drop offers-index entries that no longer ring for their agent
        (accepted, declined, timed out). Only under the routing lease, where
        no offer is half made (its entry is written before its commit).
        ``known``: conversations this pass read under the lease already."""
        indexed = await self.presence.offers_of_many(agent_ids)
        for agent_id in agent_ids:
            for conv_id in indexed[agent_id]:
                conv = known.get(conv_id) if known is not None else None
                if conv is None:
                    conv = await self.store.get_conversation(conv_id)
                if conv is None or not conv.is_open or conv.offer is None or conv.offer.agent_id != agent_id:
                    await self.presence.discard_offer(agent_id, conv_id)

    async def _loads(self, agent_ids: list[str]) -> dict[str, int]:
        """Each agent's load from the store's counters (``Store.agent_loads``:
        what they hold and what rings for them, kept by the commits), one read
        for all: no conversation is read. One agent's counters change in the
        same commit as the conversation, so an accept (ringing → held) is
        never counted twice nor missed, whenever it lands."""
        return routing.weigh_many(await self.store.agent_loads(agent_ids), self.policy)

    async def _states(
        self, agents: list[Agent], *, trim: bool = False, known: dict[str, Conversation] | None = None
    ) -> dict[str, routing.AgentState]:
        ids = [a.id for a in agents]
        if trim:
            await self._trim(ids, known)
        records = await self.presence.get_many(ids)
        loads = await self._loads(ids)
        capacity = self.policy.capacity
        # One comprehension, no call per agent: a pass builds every agent of its queues.
        return {
            a.id: routing.AgentState(
                id=a.id,
                status=r.status,
                queues=a.queues,
                capacity=r.capacity if r.capacity is not None else capacity if a.capacity is None else a.capacity,
                load=loads[a.id],
                idle_since=r.idle_since,
                since=r.since,
            )
            for a in agents
            for r in (records[a.id],)
        }

    async def _state(self, agent: Agent, *, trim: bool = False) -> routing.AgentState:
        return (await self._states([agent], trim=trim))[agent.id]

    async def route(self, queues: Iterable[str] | None = None) -> int:
        """One routing pass under the lease over ``queues`` (None: every
        automatic queue): offer their waiting lines, oldest first, to their
        agents with room; then publish those floors. Returns how many offers
        rang. Only the agents of those queues are read (their whole load,
        whatever queue it comes from).

        What rings in the queues is read first (trimming the offers index
        need not read those conversations again); the agents' loads are the
        store's counters (``Store.agent_loads``). Of each waiting
        line only the oldest few the pass could offer are read
        (``Store.waiting``, by arrival; as many as its agents have room for
        at the lightest channel's weight): a pass costs what it offers, not
        what waits. The pass's offers are committed in one batch
        (``Store.commit_many``)."""
        wanted = self.automatic_ids if queues is None else self.automatic_ids.intersection(queues)
        chosen = [q for q in self.automatic if q.id in wanted]
        if not chosen:
            return 0
        self._floor_due.difference_update(wanted)
        async with self.presence.lease(LEASE, LEASE_MS):
            ringing = {q.id: await self.store.ringing(q.id) for q in chosen}
            known = {c.id: c for rung_here in ringing.values() for c in rung_here}
            people = list({a.id: a for q in chosen for a in self._agents_of[q.id]}.values())
            agents = await self._states(people, trim=True, known=known)
            now = self.clock()
            offered, lines = await self._serve_lines([q.id for q in chosen], agents, now)
            for conv in offered:
                assert conv.offer is not None
                ringing[conv.queue_id].append(conv)
            counts = {q.id: await self._waiting_counts(q.id, lines.get(q.id), offered) for q in chosen}
        await self._publish_floors(chosen, list(agents.values()), counts, ringing)
        self.passes += 1
        return len(offered)

    async def _waiting_counts(
        self, queue_id: str, line: list[Conversation] | None, offered: list[Conversation]
    ) -> tuple[int, int | None]:
        """What the queue's floor shows waiting: from the ``line`` the pass
        read to its end, less what it offered; read from the store when the
        pass did not read it all."""
        if line is None:
            return await self.store.waiting_counts(queue_id)
        rang = {c.id for c in offered}
        left = [c for c in line if c.id not in rang]
        return len(left), (routing.arrival(left[0])[0] if left else None)

    def _room(self, queue_id: str, agents: dict[str, routing.AgentState]) -> int:
        """How many conversations of the queue its available agents could
        still be offered (each at the lightest channel's weight): how much of
        the waiting line a pass need read. Only the queue's own agents are
        looked at (a pass over many queues holds all their agents)."""
        lightest = max(1, min(self.policy.weights.values(), default=1))
        room = 0
        for member in self._agents_of[queue_id]:
            a = agents[member.id]
            free = a.capacity - a.load
            if a.status == "available" and free > 0:
                room += free // lightest
        return min(room, PAGE)

    async def _serve_lines(
        self, queue_ids: list[str], agents: dict[str, routing.AgentState], now: int
    ) -> tuple[list[Conversation], dict[str, list[Conversation]]]:
        """Offer the oldest of the queues' waiting lines to ``agents`` (whose
        loads and idle times are updated in place by what rings). A page read
        whole but not all offered (a heavier channel nobody had room for)
        may hide younger ones that fit: the next page after it is read then,
        until a line ends or its agents are full. Returns the conversations
        now ringing, and each line the pass read to its end with every offer
        it planned there made (what waits in it is then known without a read)."""
        made: list[Conversation] = []
        cursors: dict[str, tuple[int, str] | None] = dict.fromkeys(queue_ids)
        read: dict[str, list[Conversation]] = {}
        ended: set[str] = set()
        stale: set[str] = set()
        pending = list(queue_ids)
        while pending:
            pages: dict[str, list[Conversation]] = {}
            for queue_id in pending:
                room = self._room(queue_id, agents)
                if not room:
                    continue
                page = await self.store.waiting(queue_id, cursors[queue_id], room)
                if len(page) < room:
                    ended.add(queue_id)  # the line ends within this page
                read.setdefault(queue_id, []).extend(page)
                if page:
                    pages[queue_id] = page
                    cursors[queue_id] = routing.arrival(page[-1])
            planned = routing.plan([c for page in pages.values() for c in page], list(agents.values()), self.policy, now)
            for conv, agent_id in planned:
                state = agents[agent_id]
                agents[agent_id] = replace(state, load=state.load + self.policy.weight(conv.channel), idle_since=now)
            rang = await self._offer_many(planned, now)
            made.extend(rang)
            if len(rang) < len(planned):  # some refused: their lines are no longer what was read
                stale.update(conv.queue_id for conv, _ in planned)
            served = {conv.queue_id: 0 for conv, _ in planned}
            for conv, _ in planned:
                served[conv.queue_id] += 1
            pending = [q for q, page in pages.items() if q not in ended and served.get(q, 0) < len(page)]
        return made, {q: read[q] for q in ended - stale}

    async def _offer_many(self, planned: list[tuple[Conversation, str]], now: int) -> list[Conversation]:
        """Ring each planned conversation (as the pass read it) for its agent:
        the index entries first (a superset), then every offer in one batch
        commit, published in one batch (``Changes.publish_many``); one
        refused (changed since the pass read it) is left to the next pass.
        Returns the conversations now ringing."""
        outcomes: list[tuple[str, rules.Outcome]] = []
        for conv, agent_id in planned:
            try:
                outcome = routing.offer(conv, agent_id, policy=self.policy, now=now, message_id=self.mint.in_thread("m", conv.id))
            except DomainError:
                continue
            await self.presence.add_offer(agent_id, conv.id)
            outcomes.append((agent_id, outcome))
        if not outcomes:
            return []
        results = await self._commit([o for _, o in outcomes])
        stored: list[rules.Outcome] = []
        for (agent_id, outcome), refused in zip(outcomes, results, strict=True):
            if refused is not None:
                if not isinstance(refused, VersionConflict):
                    log.error("routing: offer of %s not stored: %s", outcome.after.id, refused)
                await self.presence.discard_offer(agent_id, outcome.after.id)
                self.kick([outcome.after.queue_id])
                continue
            stored.append(outcome)
        await self.changes.publish_many(stored)  # one batch: each agent's offers in one write
        made: list[Conversation] = []
        for outcome in stored:
            assert outcome.after.offer is not None
            self.watch(outcome.after.id, outcome.after.offer.deadline)
            made.append(outcome.after)
        for agent_id in dict.fromkeys(c.offer.agent_id for c in made if c.offer is not None):
            while True:
                current = (await self.presence.get_many([agent_id]))[agent_id]
                if await self.presence.compare_and_set(agent_id, current, replace(current, idle_since=now)):
                    break
        return made

    async def _commit(self, outcomes: list[rules.Outcome]) -> list[StoreError | None]:
        """``Store.commit_many``; a single offer (most passes make one) as a plain
        ``commit``: the batch's grouping would only cost it."""
        if len(outcomes) != 1:
            return await self.store.commit_many(outcomes)
        try:
            await self.store.commit(outcomes[0])
        except (VersionConflict, DuplicateMessage) as refused:
            return [refused]
        return [None]

    # ------------------------------------------------------------------ the floor

    async def floors(self, agents: list[routing.AgentState] | None = None) -> list[p.QueueFloor]:
        """Each automatic queue's floor, read now (the supervisor's snapshot)."""
        if agents is None:
            agents = list((await self._states(self.routed_agents)).values())
        return [
            self._floor(q.id, agents, await self.store.waiting_counts(q.id), await self.store.ringing(q.id))
            for q in self.automatic
        ]

    def _floor(
        self, queue_id: str, agents: list[routing.AgentState], waiting: tuple[int, int | None], ringing: list[Conversation]
    ) -> p.QueueFloor:
        return p.QueueFloor(
            queue_id=queue_id,
            waiting=waiting[0],
            oldest_waiting_at=waiting[1],
            ringing=[offer_view(c.id, c.offer) for c in ringing if c.offer is not None],
            agents=[
                p.AgentStatusView(agent_id=a.id, status=a.status, since=a.since, load=a.load, capacity=a.capacity)
                for a in agents
                if queue_id in a.queues
            ],
        )

    async def _publish_floors(
        self,
        queues: list[Queue],
        agents: list[routing.AgentState],
        waiting: dict[str, tuple[int, int | None]],
        ringing: dict[str, list[Conversation]],
    ) -> None:
        for queue in queues:
            floor = self._floor(queue.id, agents, waiting[queue.id], ringing[queue.id])
            if self._floors.get(queue.id) != floor:
                self._floors[queue.id] = floor
                await self._publish(fanout.floor_stream(queue.id), p.FloorUpdated(floor=floor))

    async def _publish(self, stream: str, event: p.AnyEvent) -> None:
        try:
            await self.broker.publish(stream, event)
        except StoreUnavailable:
            log.error("routing: %s not published on %s", type(event).__name__, stream)

    # ------------------------------------------------------------------ reads

    async def offers_for(self, agent_id: str) -> list[p.OfferRung]:
        out = []
        for conv_id in await self.presence.offers_of(agent_id):
            conv = await self.store.get_conversation(conv_id)
            if conv is not None and conv.is_open and conv.offer is not None and conv.offer.agent_id == agent_id:
                summary = self.catalog.summary(conv, await self.changes.directory.contact_of(conv))
                out.append(p.OfferRung(conversation=summary, offer=offer_view(conv.id, conv.offer)))
        return out
