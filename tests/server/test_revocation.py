"""Tokens can be revoked; a revoked token's open sockets close, and it opens nothing again."""

from __future__ import annotations

import asyncio

import pytest

from protocol import errors
from protocol import messages as p
from tests.conftest import Running, token
from tests.wsagent import CommandError, WsAgent


async def test_logout_closes_that_tokens_sockets_only(running: Running) -> None:
    mine, other = token("ana"), token("ana")
    screen = await WsAgent.connect(running.ws_url, mine, name="ana")
    other_screen = await WsAgent.connect(running.ws_url, other, name="ana-2")
    r = await running.http.post(f"{running.base}/api/logout", headers={"authorization": f"Bearer {mine}"})
    assert r.status_code == 200
    with pytest.raises(ConnectionError):
        await screen.wait_for(lambda: False)
    assert screen.close_code == errors.CLOSE_TOKEN_REVOKED
    revoked = screen.received(p.AccessRevoked)
    assert len(revoked) == 1 and revoked[0].token_id
    assert isinstance(await other_screen.call(p.Ping), p.Ok)  # another token of hers is untouched
    with pytest.raises(CommandError) as e:
        await WsAgent.connect(running.ws_url, mine)
    assert e.value.code == errors.TOKEN_REVOKED
    r = await running.http.get(f"{running.base}/api/contacts", headers={"authorization": f"Bearer {mine}"})
    assert r.status_code == 401 and r.json()["code"] == errors.TOKEN_REVOKED
    await other_screen.close()


async def test_supervisor_logs_an_agent_out_everywhere(running: Running) -> None:
    screens = [await running.agent("bruno") for _ in range(2)]
    ana = await running.agent("ana")
    r = await running.http.post(
        f"{running.base}/api/agents/bruno/revoke", headers={"authorization": f"Bearer {token('sofia')}"}
    )
    assert r.status_code == 200
    for s in screens:
        with pytest.raises(ConnectionError):
            await s.wait_for(lambda: False)
        assert s.close_code == errors.CLOSE_TOKEN_REVOKED
    assert isinstance(await ana.call(p.Ping), p.Ok)
    await asyncio.sleep(1.05)  # tokens issued in a later second are good again
    again = await running.agent("bruno")
    assert again.snapshot is not None


async def test_an_agent_cannot_log_out_someone_else(running: Running) -> None:
    r = await running.http.post(f"{running.base}/api/agents/bruno/revoke", headers={"authorization": f"Bearer {token('ana')}"})
    assert r.status_code == 403
    bruno = await running.agent("bruno")
    assert isinstance(await bruno.call(p.Ping), p.Ok)
