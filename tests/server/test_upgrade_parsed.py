"""The agent websocket on the HTTP port takes the upgrade request as uvicorn
parsed it (server/wsport.py, ``SharedPort.upgrade_parsed``) instead of having
uvicorn replay the head into ``websockets`` to be parsed again (issue 16,
session 9: ~120 Python calls per connect). The request it builds must be the
one the parse would have made, and every request the parse might read
differently or refuse must still take the replay, and so get its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from websockets import http11
from websockets.http11 import Request
from websockets.streams import StreamReader

from protocol import messages as p
from server.wsport import parsed_request
from tests.conftest import Running, token
from tests.wsagent import WsAgent

Raw = list[tuple[bytes, bytes]]

BROWSER: Raw = [
    (b"host", b"sb.example:8443"),
    (b"connection", b"Upgrade"),
    (b"pragma", b"no-cache"),
    (b"cache-control", b"no-cache"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"),
    (b"upgrade", b"websocket"),
    (b"origin", b"https://sb.example:8443"),
    (b"sec-websocket-version", b"13"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"),
    (b"accept-language", b"pt-BR,pt;q=0.9,en;q=0.8"),
    (b"cookie", b"a=1; b=2"),
    (b"cookie", b"c=3"),  # a name twice: both values, in order
    (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
    (b"x-empty", b""),
    (b"x-colons", b"a: b:c"),
    (b"x-latin", "São Paulo".encode("iso-8859-1")),  # obs-text: kept as ISO-8859-1, like the parse
    (b"x-inner-tab", b"a\tb  c"),
]


def replayed(method: str, target: bytes, raw: Raw) -> bytes:
    """The head uvicorn writes into the websocket (httptools_impl.handle_websocket_upgrade)."""
    out = [method.encode(), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in raw:
        out += [name, b": ", value, b"\r\n"]
    out.append(b"\r\n")
    return b"".join(out)


def parse(head: bytes) -> Request:
    """What ``websockets`` makes of the replayed head (or its exception)."""
    reader = StreamReader()
    reader.feed_data(head)
    parser = Request.parse(reader.read_line)
    try:
        next(parser)
    except StopIteration as done:
        request: Request = done.value
        return request
    raise AssertionError("the parse wants more data")


def same(a: Request, b: Request) -> bool:
    return (a.method, a.path, a.protocol, list(a.headers.raw_items()), a.headers) == (
        b.method,
        b.path,
        b.protocol,
        list(b.headers.raw_items()),
        b.headers,
    )


@pytest.mark.parametrize(
    ("method", "target", "raw"),
    [
        ("GET", b"/ws", BROWSER),
        ("GET", b"/ws?v=2&x=%C3%A3", BROWSER[:3]),
        ("GET", b"/", []),
        ("POST", b"/ws", [(b"upgrade", b"websocket")]),
        ("GET", b"/ws", [(b"x", b"a" * 4000)]),
    ],
)
def test_the_request_is_the_one_the_parse_makes(method: str, target: bytes, raw: Raw) -> None:
    made = parsed_request(method, target, raw)
    assert made is not None
    expected = parse(replayed(method, target, raw))
    assert same(made, expected)
    for name, _ in raw:  # looked up by any case, as the parse's
        assert made.headers.get_all(name.upper().decode()) == expected.headers.get_all(name.decode())
    made.headers["X-Added"] = "later"  # a working Headers, as the parse's
    assert made.headers["x-added"] == "later" and "X-ADDED" in made.headers


def refused() -> Iterator[tuple[str, bytes, Raw]]:
    yield "GET", "/wsã".encode(), []  # not ASCII: the parse fails, the client gets no answer
    yield "GET", b"/ws x", []
    yield "GET", b"/ws", [(b"x", b"a\x7fb")]  # a byte a header value may not hold
    yield "GET", b"/ws", [(b"x", b"a\x00b")]
    yield "GET", b"/ws", [(b"x", b" padded")]  # the parse strips it: not kept verbatim
    yield "GET", b"/ws", [(b"x", b"padded\t")]
    yield "GET", b"/ws", [(b"x", b"a\r\nInjected: yes")]
    yield "GET", b"/ws", [(b"bad name", b"v")]
    yield "GET", b"/ws", [(b"X-Upper", b"v")]  # uvicorn lower-cases names; anything else: the parse's way
    yield "GET", b"/ws", [(b"x", b"a" * http11.MAX_LINE_LENGTH)]  # 431 from the parse
    yield "GET", b"/" + b"a" * http11.MAX_LINE_LENGTH, []  # 414 from the parse
    yield "GET", b"/ws", [(b"x-%d" % i, b"v") for i in range(http11.MAX_NUM_HEADERS + 1)]  # 431
    yield "GET", b"/ws", [(b"transfer-encoding", b"chunked")]
    yield "GET", b"/ws", [(b"content-length", b"0")]


@pytest.mark.parametrize(("method", "target", "raw"), list(refused()))
def test_a_request_the_parse_might_read_otherwise_takes_the_replay(method: str, target: bytes, raw: Raw) -> None:
    assert parsed_request(method, target, raw) is None


def test_up_to_the_header_count_limit_is_taken() -> None:
    raw = [(b"x-%d" % i, b"v") for i in range(http11.MAX_NUM_HEADERS)]
    made = parsed_request("GET", b"/ws", raw)
    assert made is not None and same(made, parse(replayed("GET", b"/ws", raw)))


async def test_an_agent_on_the_http_port_connects_without_a_second_parse(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[object] = []
    real = Request.parse.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Request], *args: object) -> object:
        parses.append(args)
        return real(cls, *args)

    monkeypatch.setattr(Request, "parse", classmethod(counted))
    assert running.ws_url.endswith(f":{running.node.config.server.port}/ws")  # the HTTP port
    ana = await WsAgent.connect(running.ws_url, token("ana"), name="ana")
    running.agents.append(ana)
    await running.inbound("after a single parse")
    await ana.event(p.InboxAdded, lambda e: e.conversation.preview == "after a single parse")
    assert parses == []


async def raw_upgrade(port: int, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = await asyncio.wait_for(reader.read(4096), 5)
        if not chunk:
            break
        response += chunk
    writer.close()
    return response


UPGRADE: Raw = [
    (b"Host", b"127.0.0.1"),
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"Sec-WebSocket-Version", b"13"),
]


async def test_the_taken_request_still_passes_the_node_checks(running: Running) -> None:
    """Path, Origin and the handshake's own checks run on the request taken
    as parsed, as they did on the replay's."""
    port = running.node.config.server.port
    ok = await raw_upgrade(port, replayed("GET", b"/ws", UPGRADE))
    assert ok.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in ok
    foreign = await raw_upgrade(port, replayed("GET", b"/ws", [*UPGRADE, (b"Origin", b"https://evil.example")]))
    assert foreign.startswith(b"HTTP/1.1 403 ")
    elsewhere = await raw_upgrade(port, replayed("GET", b"/wsx", UPGRADE))
    assert elsewhere.startswith(b"HTTP/1.1 404 ")
    no_key = await raw_upgrade(port, replayed("GET", b"/ws", [h for h in UPGRADE if h[0] != b"Sec-WebSocket-Key"]))
    assert no_key.startswith(b"HTTP/1.1 400 ") and b"missing Sec-WebSocket-Key" in no_key


async def test_a_request_taking_the_replay_gets_its_answer(running: Running) -> None:
    """A header line over the ``websockets`` limit (within the node's own
    header limit): the replay's parse answers 431, as before."""
    port = running.node.config.server.port
    long = await raw_upgrade(port, replayed("GET", b"/ws", [*UPGRADE, (b"X-Long", b"a" * http11.MAX_LINE_LENGTH)]))
    assert long.startswith(b"HTTP/1.1 431 "), long[:80]
    padded = await raw_upgrade(port, replayed("GET", b"/ws", [*UPGRADE, (b"X-Pad", b"v ")]))
    assert padded.startswith(b"HTTP/1.1 101 ")
