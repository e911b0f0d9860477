"""Idle and half-open HTTP connections cannot take a node down: a header
timeout, a connection cap, the open-files limit raised at start, and a log
that cannot flood (server/http_limits.py, server/logs.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import get_local_addr, get_remote_addr
from uvicorn.server import ServerState

from server.http_limits import GuardedHttpToolsProtocol, addresses, uvicorn_options
from server.logs import RepeatFilter
from server.node import Node
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
SLOW = 300
LIMIT = 40


async def test_slow_header_connections_are_capped_and_timed_out_and_the_node_keeps_serving() -> None:
    # The timeout outlasts opening all SLOW connections on a loaded machine: an admitted one timed out
    # before the last opened would free its slot for another (fewer refused than SLOW - LIMIT).
    config = make_config(http_max_connections=LIMIT, http_header_timeout_seconds=2.0)
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


# The guards on uvicorn's httptools protocol (h11 gave the header size limit
# by itself; the header timeout and connection cap above were ported to it).


@contextlib.asynccontextmanager
async def http_server(**server: object) -> AsyncIterator[int]:
    config = make_config(**server)
    node = Node(config)
    await node.start()
    options = uvicorn_options(config)
    assert issubclass(options["http"], GuardedHttpToolsProtocol)
    srv = uvicorn.Server(
        uvicorn.Config(
            node.http_app(), host="127.0.0.1", port=config.server.port, lifespan="off", log_level="warning", **options
        )
    )
    task = asyncio.create_task(srv.serve())
    try:
        while not srv.started:
            await asyncio.sleep(0.01)
        yield config.server.port
    finally:
        srv.should_exit = True
        await task
        await node.stop()


async def answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One response: its head and its body (content-length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    return head, await asyncio.wait_for(reader.readexactly(length), 5)


async def test_request_headers_over_the_limit_are_refused_with_400_and_the_connection_closed() -> None:
    async with http_server(http_max_header_bytes=4096) as port:
        # Just under the limit (request line and all): served.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        filler = b"x" * (4096 - 120)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + filler + b"\r\n\r\n")
        head, _ = await answer(reader)
        assert head.startswith(b"HTTP/1.1 200")
        writer.close()
        # Over it, in one write.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + b"x" * 5000 + b"\r\n\r\n")
        head, body = await answer(reader)
        assert head.startswith(b"HTTP/1.1 400")
        assert body == b"Request headers too large."
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed
        writer.close()


async def test_a_header_that_never_ends_is_refused_once_it_passes_the_limit() -> None:
    """llhttp keeps a header value being received in memory until it ends:
    one that keeps coming is refused as soon as it is over the limit, not
    when it ends (it never does) nor at the header timeout."""
    async with http_server(http_max_header_bytes=4096, http_header_timeout_seconds=30) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
        sent = 0
        got = b""
        while sent < 64 * 1024 and not got:
            writer.write(b"y" * 1024)
            await writer.drain()
            sent += 1024
            with contextlib.suppress(asyncio.TimeoutError):
                got = await asyncio.wait_for(reader.read(64), 0.05)
        assert got.startswith(b"HTTP/1.1 400"), (sent, got)
        assert sent <= 4096 + 2048
        writer.close()


async def test_a_request_body_is_not_held_to_the_header_limit() -> None:
    async with http_server(http_max_header_bytes=4096) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b"{" + b" " * 20000 + b"}"
        head = (
            b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        writer.write(head + body)  # the head and a big body in one read
        answered, _ = await answer(reader)
        assert not answered.startswith(b"HTTP/1.1 400"), answered  # the signature's answer, not the header limit's
        writer.write(head)  # the body dribbling in after its head
        for i in range(0, len(body), 1000):
            await asyncio.sleep(0.02)  # paced, so that the node reads it in many pieces
            writer.write(body[i : i + 1000])
            await writer.drain()
        answered, _ = await answer(reader)
        assert not answered.startswith(b"HTTP/1.1 400"), answered
        writer.close()


async def test_the_header_timeout_runs_from_the_last_response_and_spares_a_request_under_way() -> None:
    async with http_server(http_header_timeout_seconds=0.5, http_keep_alive_seconds=30) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # Requests 0.3 s apart for 1.5 s on one connection: each response moves
        # the deadline, so none is closed although the connection is older.
        for _ in range(5):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head, _ = await answer(reader)
            assert head.startswith(b"HTTP/1.1 200")
            await asyncio.sleep(0.3)
        # A request whose headers are in but whose body takes longer than the
        # header timeout is the app's: it gets its answer.
        body = b'{"object": "whatsapp_business_account", "entry": []}'
        writer.write(
            b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10]
        )
        await asyncio.sleep(1.2)
        writer.write(body[10:])
        head, _ = await answer(reader)
        assert head.startswith(b"HTTP/1.1 "), head
        # After that response, headers begun and never finished: closed at the timeout.
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() -> None:
    """uvicorn's own keep-alive timer (armed per response, cancelled per
    request) is the connection's one timer here: an idle connection closes
    after ``http_keep_alive_seconds``; one whose next headers have begun is
    the header timeout's."""
    async with http_server(http_header_timeout_seconds=2.0, http_keep_alive_seconds=0.5) as port:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, _ = await answer(reader)
        assert head.startswith(b"HTTP/1.1 200")
        assert b"server:" not in head.lower()  # no banner naming the software
        answered = loop.time()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert 0.4 <= loop.time() - answered < 1.9  # the keep-alive, not the header timeout
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, _ = await answer(reader)
        answered = loop.time()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # begun, never finished
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert loop.time() - answered >= 1.9  # the header timeout, from the last response
        writer.close()


def test_whether_to_upgrade_is_decided_once_per_request_from_its_own_headers() -> None:
    """uvicorn asks three times per request; the node answers from the
    request's headers once, and a new request (a keep-alive connection's
    next one: a new list of headers) is asked about afresh."""
    protocol = GuardedHttpToolsProtocol.__new__(GuardedHttpToolsProtocol)
    protocol.ws_protocol_class = object  # type: ignore[assignment]
    plain: list[tuple[bytes, bytes]] = [(b"host", b"x")]
    upgrade = [(b"host", b"x"), (b"connection", b"keep-alive, Upgrade"), (b"upgrade", b"WebSocket")]
    other = [(b"connection", b"upgrade"), (b"upgrade", b"h2c")]
    for headers, expected in ((plain, False), (upgrade, True), (upgrade, True), (other, False), ([*upgrade], True), ([], False)):
        protocol.headers = headers
        assert protocol._should_upgrade() is expected
        assert protocol._should_upgrade() is expected
    protocol.ws_protocol_class = None
    protocol.headers = [*upgrade]
    assert protocol._should_upgrade() is False  # no websocket library: uvicorn's own answer


# uvicorn's __init__ and connection_made, made cheaper per connection (issue
# 16, connect cost): the same state, the same addresses.


def test_the_protocol_starts_with_the_state_uvicorns_own_makes() -> None:
    config = uvicorn.Config(lambda: None, lifespan="off", **uvicorn_options(make_config()))
    state = ServerState()
    loop = asyncio.new_event_loop()
    try:
        ours = vars(GuardedHttpToolsProtocol(config, state, {}, _loop=loop))
        theirs = vars(HttpToolsProtocol(config, state, {}, _loop=loop))
    finally:
        loop.close()
    assert ours.keys() == theirs.keys()
    for name, value in theirs.items():
        if name == "parser":
            assert type(ours[name]) is type(value)
        elif name == "pipeline":
            assert ours[name] == value and ours[name] is not value  # one per connection
        else:
            assert ours[name] == value, name
    assert ours["logger"] is logging.getLogger("uvicorn.error")
    assert ours["access_logger"] is logging.getLogger("uvicorn.access")


async def serve_recording(**where: object) -> tuple[uvicorn.Server, asyncio.Task[None], list[dict[str, object]], list[asyncio.BaseTransport]]:
    """A uvicorn server on the node's protocol, its app recording each request's scope, its protocol each transport."""
    scopes: list[dict[str, object]] = []
    transports: list[asyncio.BaseTransport] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        scopes.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    class Recording(uvicorn_options(make_config())["http"]):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            transports.append(transport)
            super().connection_made(transport)

    options = {**uvicorn_options(make_config()), "http": Recording}
    srv = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", proxy_headers=False, **where, **options))  # type: ignore[arg-type]
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        await asyncio.sleep(0.01)
    return srv, task, scopes, transports


async def test_a_request_scope_has_the_addresses_uvicorn_gives(tmp_path: Path) -> None:
    hosts = ["127.0.0.1"] + (["::1"] if socket.has_ipv6 else [])
    for host in hosts:
        try:
            port = make_config().server.port
            srv, task, scopes, transports = await serve_recording(host=host, port=port)
        except OSError:  # no IPv6 loopback here
            continue
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _ = await answer(reader)
            assert head.startswith(b"HTTP/1.1 204")
            mine, peer = writer.get_extra_info("sockname"), writer.get_extra_info("peername")
            assert scopes[0]["client"] == (mine[0], mine[1])
            assert scopes[0]["server"] == (peer[0], peer[1])
            assert addresses(transports[0]) == (get_local_addr(transports[0]), get_remote_addr(transports[0]))  # type: ignore[arg-type]
            writer.close()
        finally:
            srv.should_exit = True
            await task
    # A Unix socket: the server's address is its path, the client has none (as uvicorn says).
    path = str(tmp_path / "s.sock")
    srv, task, scopes, transports = await serve_recording(uds=path)
    try:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _ = await answer(reader)
        assert head.startswith(b"HTTP/1.1 204")
        assert scopes[0]["server"] == (path, None) and scopes[0]["client"] is None
        assert addresses(transports[0]) == (get_local_addr(transports[0]), get_remote_addr(transports[0]))  # type: ignore[arg-type]
        writer.close()
    finally:
        srv.should_exit = True
        await task


def test_addresses_without_a_socket_are_uvicorns() -> None:
    class Bare(asyncio.Transport):
        def __init__(self, extra: dict[str, object]) -> None:
            super().__init__(extra)

    for extra in ({"peername": ("10.0.0.1", 5), "sockname": ("10.0.0.2", 80)}, {"sockname": "/run/s"}, {}):
        bare = Bare(extra)
        assert addresses(bare) == (get_local_addr(bare), get_remote_addr(bare))
