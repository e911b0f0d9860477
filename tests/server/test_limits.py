"""Abuse limits on the agent websocket: command rate, screens per agent."""

from __future__ import annotations

import asyncio

import pytest

from protocol import errors
from protocol import messages as p
from server.config import Config
from server.ws.session import TokenBucket
from tests.conftest import Running, make_config
from tests.wsagent import CommandError


@pytest.fixture
def config() -> Config:
    return make_config(commands_per_second=5.0, command_burst=10, max_connections_per_agent=2)


async def test_a_burst_over_the_rate_is_refused_then_allowed_again(running: Running) -> None:
    ana = await running.agent("ana")
    outcomes = []
    for _ in range(15):
        try:
            await ana.call(p.Ping)
            outcomes.append("ok")
        except CommandError as e:
            outcomes.append(e.code)
    assert outcomes[:10] == ["ok"] * 10
    assert errors.RATE_LIMITED in outcomes[10:]
    await asyncio.sleep(0.5)  # 5 per second refill
    assert isinstance(await ana.call(p.Ping), p.Ok)
    text = (await running.http.get(f"{running.base}/metrics")).text
    assert 'switchboard_commands_total{command="ping",outcome="rate_limited"}' in text


async def test_too_many_screens_for_one_agent(running: Running) -> None:
    await running.agent("ana")
    await running.agent("ana")
    with pytest.raises(CommandError) as e:
        await running.agent("ana")
    assert e.value.code == errors.TOO_MANY_CONNECTIONS
    await running.agent("bruno")  # others are not affected


def test_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    bucket.at = 0.0
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) is True and bucket.take(0.5) is False
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
