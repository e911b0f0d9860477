"""Routing across a restart of the embedded (SQLite) node: an agent's chosen
status survives it; their screens coming back within the grace period find
them as they were, and without a screen they turn offline after it. The
floor's "since" is when the status was set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from msgspec.structs import replace

from protocol import messages as p
from server.config import Config
from tests.conftest import Running, make_config, start_node
from tests.server.test_routing import available, routed_config, rung


def on_file(tmp_path: Path, **routing: object) -> Config:
    config = routed_config(**routing)
    return replace(config, server=replace(make_config().server, data=str(tmp_path / "s.sqlite3")))


@asynccontextmanager
async def node(config: Config) -> AsyncIterator[Running]:
    started, server, task = await start_node(config)
    try:
        async with httpx.AsyncClient() as http:
            running = Running(started, http)
            try:
                yield running
            finally:
                for a in running.agents:
                    await a.close()
    finally:
        server.should_exit = True
        await task
        await started.stop()


async def test_a_status_survives_a_restart_and_the_agent_is_offered_at_once(tmp_path: Path) -> None:
    config = on_file(tmp_path, presence_grace_seconds=30)
    async with node(config) as first:
        ana = await available(first, "ana")
        bruno = await first.agent("bruno")
        away = (await bruno.call(p.SetStatus, status="away")).agent
        since = (await ana.call(p.SetStatus, status="available")).agent.since
    async with node(config) as second:
        ana = await second.agent("ana")  # back within the grace: no status set again
        assert ana.snapshot is not None and ana.snapshot.status is not None
        assert (ana.snapshot.status.status, ana.snapshot.status.since) == ("available", since)
        bruno = await second.agent("bruno")
        assert bruno.snapshot is not None and bruno.snapshot.status == away
        cid = (await second.inbound("hello"))["conversation_id"]
        await ana.wait_for(lambda: rung(ana) == [cid])
        sofia = await second.agent("sofia")
        assert sofia.snapshot is not None
        floor = next(f for f in sofia.snapshot.floors if f.queue_id == "sales")
        statuses = {a.agent_id: (a.status, a.since) for a in floor.agents}
        assert statuses["ana"] == ("available", since) and statuses["bruno"] == ("away", away.since)
        assert since > 0


async def test_after_a_restart_an_agent_whose_screens_do_not_come_back_turns_offline(tmp_path: Path) -> None:
    config = on_file(tmp_path)  # grace 0.8 s
    async with node(config) as first:
        await available(first, "ana")
    async with node(config) as second:
        sofia = await second.agent("sofia")
        assert sofia.snapshot is not None
        floor = next(f for f in sofia.snapshot.floors if f.queue_id == "sales")
        if any(a.agent_id == "ana" and a.status != "offline" for a in floor.agents):  # not yet: it comes live
            await sofia.event(
                p.FloorUpdated, lambda e: any(a.agent_id == "ana" and a.status == "offline" for a in e.floor.agents), 10
            )
        ana = await second.agent("ana")
        assert ana.snapshot is not None and ana.snapshot.status is not None and ana.snapshot.status.status == "offline"
