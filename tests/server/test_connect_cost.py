"""What a connect costs beyond the socket (issue 16): no log line of its own (the
``websockets`` library's per-socket "connection open"/"connection closed"
INFO records are off on the node, its warnings and errors are not) and no
per-connection copy of a queue's stream name."""

from __future__ import annotations

import logging

import pytest

from server.wsport import WEBSOCKETS_LOG, quiet_connection_log
from tests.conftest import Running


async def test_an_agent_connecting_and_leaving_logs_nothing(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    first = await running.agent("ana")  # returns once the snapshot arrived: the handshake is long done
    await first.close()
    await running.agent("bruno")  # and this one after ana's socket closed
    assert [r.getMessage() for r in caplog.records if r.name.startswith("websockets")] == []
    assert WEBSOCKETS_LOG.isEnabledFor(logging.WARNING)


def test_a_level_the_operator_set_is_kept() -> None:
    saved = WEBSOCKETS_LOG.level
    try:
        WEBSOCKETS_LOG.setLevel(logging.DEBUG)
        quiet_connection_log()
        assert WEBSOCKETS_LOG.level == logging.DEBUG
        WEBSOCKETS_LOG.setLevel(logging.NOTSET)
        quiet_connection_log()
        assert WEBSOCKETS_LOG.level == logging.WARNING
    finally:
        WEBSOCKETS_LOG.setLevel(saved)


async def test_agents_of_one_queue_keep_one_copy_of_its_stream_name(running: Running) -> None:
    app = running.node.app
    ana, bruno = (app.reads.streams_of(app.catalog.agents[a]) for a in ("ana", "bruno"))
    assert ana == ["agent:ana", "queue:sales"]
    assert ana[1] is bruno[1]  # one string for every connection of the queue, not one each
