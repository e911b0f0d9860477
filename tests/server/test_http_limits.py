"""Idle and half-open HTTP connections cannot take a node down: a header
timeout, a connection cap, the open-files limit raised at start, and a log
that cannot flood (server/http_limits.py, server/logs.py)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import uvicorn

from server.http_limits import uvicorn_options
from server.logs import RepeatFilter
from server.node import Node
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
SLOW = 300
LIMIT = 40


async def test_slow_header_connections_are_capped_and_timed_out_and_the_node_keeps_serving() -> None:
    config = make_config(http_max_connections=LIMIT, http_header_timeout_seconds=0.5)
    node = Node(config)
    await node.start()
    server = uvicorn.Server(
        uvicorn.Config(
            node.http_app(), host="127.0.0.1", port=config.server.port, lifespan="off", log_level="warning",
            **uvicorn_options(config),
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{config.server.port}"
        conns = []
        for _ in range(SLOW):  # headers begun, never finished
            reader, writer = await asyncio.open_connection("127.0.0.1", config.server.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            conns.append((reader, writer))

        async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
            return await asyncio.wait_for(reader.read(), 15)  # until EOF

        answers = await asyncio.gather(*(closed_by_server(r) for r, _ in conns))
        refused = sum(1 for a in answers if a.startswith(b"HTTP/1.1 503"))
        timed_out = sum(1 for a in answers if a == b"")
        assert refused + timed_out == SLOW
        assert refused >= SLOW - LIMIT  # beyond the cap: refused at once, no descriptor kept
        assert timed_out >= 1  # within it: closed when the headers did not come in time
        for _, writer in conns:
            writer.close()
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{base}/healthz")
            assert r.status_code == 200
            assert len(server.server_state.connections) <= 1
            # A well-behaved client that is slower than nothing but within the timeout is served.
            reader, writer = await asyncio.open_connection("127.0.0.1", config.server.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            await asyncio.sleep(0.1)
            writer.write(b"\r\n")
            assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
            writer.close()
    finally:
        server.should_exit = True
        await task
        await node.stop()


def test_serve_raises_the_soft_open_files_limit_to_the_hard_one() -> None:
    code = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from server.http_limits import raise_open_files_limit\n"
        "print(raise_open_files_limit() == (hard, hard) or (hard == resource.RLIM_INFINITY), hard)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "True", out


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def capture(repeat: RepeatFilter) -> tuple[logging.Logger, list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(repeat)
    logger = logging.getLogger(f"test.repeat.{id(repeat)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger, records


def test_repeated_log_records_are_let_through_a_few_times_then_counted() -> None:
    clock = Clock()
    logger, records = capture(RepeatFilter(burst=3, interval=60, clock=clock))
    for _ in range(1000):
        logger.error("socket.accept() out of system resource: %s", "Too many open files")
    logger.warning("something else")
    assert [r.getMessage() for r in records] == [
        "socket.accept() out of system resource: Too many open files",
    ] * 3 + ["something else"]
    clock.now += 60
    logger.error("socket.accept() out of system resource: %s", "Too many open files")
    assert records[-1].getMessage() == (
        "socket.accept() out of system resource: Too many open files [997 more like this suppressed in the previous 60 s]"
    )
    logger.error("socket.accept() out of system resource: %s", "Too many open files")
    assert records[-1].getMessage() == "socket.accept() out of system resource: Too many open files"
    assert len(records) == 6


def test_the_repeat_filter_forgets_old_messages_instead_of_growing() -> None:
    clock = Clock()
    repeat = RepeatFilter(burst=1, interval=1, clock=clock)
    repeat.MAX_KEYS = 100
    logger, records = capture(repeat)
    for i in range(1000):
        clock.now += 0.01
        logger.info(f"distinct {i}")
    assert len(records) == 1000  # distinct messages are never suppressed
    assert len(repeat._windows) <= 100
