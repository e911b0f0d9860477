"""A store that cannot be read while a screen catches up: the screen is told
``unavailable`` and closed 1001 (reconnect and resume), not dropped with 1011,
and the node serves the next connection once the store is back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from protocol import errors
from protocol import messages as p
from server.store.base import StoreUnavailable
from tests.conftest import token
from tests.memlink import Linked, connect
from tests.wsagent import WsAgent


async def test_a_snapshot_the_store_cannot_read_is_answered_unavailable_and_closed_1001(
    linked: Linked, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = linked.node.store
    real_assigned = store.assigned

    async def down(*args: Any, **kw: Any) -> Any:
        raise StoreUnavailable("disk on fire")

    monkeypatch.setattr(store, "assigned", down)
    ws = await connect(linked.node)
    await ws.send(p.encoder.encode(p.Hello(id="h", token=token("ana"))).decode())
    frames = [p.frame_decoder.decode(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
    assert isinstance(frames[0], p.Welcome)
    assert isinstance(frames[1], p.Error) and frames[1].code == errors.UNAVAILABLE
    await ws.wait_closed()
    assert ws.close_code == errors.CLOSE_GOING_AWAY

    monkeypatch.setattr(store, "assigned", real_assigned)
    ana = await WsAgent.over(await connect(linked.node), token("ana"), name="ana")
    assert ana.snapshot is not None
    await ana.close()
