"""What the hub keeps per idle agent: its connection in the client set and
its agent's screen count, nothing per agent beyond that (idle agents are
most of a node's memory, issue 16)."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any, cast

from server.metrics import Metrics
from server.ws.hub import Hub, Listener


class _Idle:
    """A stand-in listener: the hub only keeps and counts it here."""

    __slots__ = ()


def test_logged_in_agents_cost_the_hub_a_count_not_a_set_each() -> None:
    hub = Hub(max_buffer=1 << 20, metrics=Metrics())
    n = 2000
    clients: list[Any] = [_Idle() for _ in range(n)]
    ids = [f"agent-{i:05d}" for i in range(n)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for client, agent in zip(clients, ids, strict=True):
            hub.join(cast(Listener, client))
            hub.logged_in(cast(Listener, client), agent)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    # Two dict entries and a set entry per agent (~100-200 B amortized with the
    # tables' growth); a set per agent (216 B) on top is what this refuses.
    assert held / n < 200, f"{held / n:.0f} B per idle agent in the hub"  # 345 B with a set per agent
    assert hub.screens(ids[0]) == 1


def test_screens_count_each_socket_once_and_forget_the_agent_when_all_leave() -> None:
    hub = Hub(max_buffer=1 << 20, metrics=Metrics())
    a, b = cast(Listener, _Idle()), cast(Listener, _Idle())
    for c in (a, b):
        hub.join(c)
        hub.logged_in(c, "ana")
    hub.logged_in(a, "ana")  # told twice: still one socket
    assert hub.screens("ana") == 2
    hub.leave(a)
    hub.leave(a)
    assert hub.screens("ana") == 1
    hub.leave(b)
    assert hub.screens("ana") == 0
    assert hub._screens == {}


def test_a_stream_with_one_listener_holds_no_set_and_still_counts_every_listener() -> None:
    hub = Hub(max_buffer=1 << 20, metrics=Metrics())
    firsts: list[str] = []
    lasts: list[str] = []
    hub.on_first_listener, hub.on_last_listener = firsts.append, lasts.append
    a, b, c = (cast(Listener, _Idle()) for _ in range(3))
    hub.attach(a, "agent:ana")
    hub.attach(a, "agent:ana")  # twice: still one
    assert hub.listeners("agent:ana") == 1
    assert isinstance(hub._streams["agent:ana"], tuple)
    hub.detach(b, "agent:ana")  # not a listener: changes nothing
    assert hub.listeners("agent:ana") == 1
    hub.attach(b, "agent:ana")
    hub.attach(c, "agent:ana")
    assert hub.listeners("agent:ana") == 3
    hub.detach(a, "agent:ana")
    hub.detach(c, "agent:ana")
    assert hub.listeners("agent:ana") == 1
    assert list(hub._streams["agent:ana"]) == [b]
    assert lasts == []
    hub.detach(b, "agent:ana")
    assert hub.listeners("agent:ana") == 0
    assert firsts == lasts == ["agent:ana"]


def test_an_agents_own_stream_costs_the_hub_a_tuple_not_a_set() -> None:
    hub = Hub(max_buffer=1 << 20, metrics=Metrics())
    n = 2000
    clients: list[Any] = [_Idle() for _ in range(n)]
    streams = [f"agent:agent-{i:05d}" for i in range(n)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for client, stream in zip(clients, streams, strict=True):
            hub.attach(cast(Listener, client), stream)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    # A dict entry (amortized) and a 1-tuple (48 B), not a set (216 B at any size).
    assert held / n < 150, f"{held / n:.0f} B per agent stream in the hub"  # 74 B; 243 B with a set each
