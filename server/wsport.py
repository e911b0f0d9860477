"""The agent websocket on the HTTP port, without ASGI.

uvicorn parses every request on the HTTP port. When one asks to upgrade to a
websocket, uvicorn builds ``Config(ws=...)``'s protocol, calls its
``connection_made(transport)``, hands it the transport and replays the
request head into its ``data_received``, where ``websockets`` parses it
again. The node's HTTP protocol (server/http_limits.py) first offers the
request as parsed to :meth:`SharedPort.upgrade_parsed`, which gives the
connection the ``Request`` that parse would have made (the replay remains for
any request it might read differently). :meth:`SharedPort.protocol` is the
protocol: it returns a real ``websockets.asyncio.server.ServerConnection``
(the same object the dedicated port's listener makes), so from the first byte
on the socket belongs to the ``websockets`` library: the opening handshake,
``process_request`` (path /ws, Origin), the node's connection handler, and the
hub's ``broadcast()`` of one pre-encoded frame to many sockets, exactly as on a
port of its own. Starlette never sees the websocket.

The connection is attached to a ``websockets`` :class:`Server` made by
``serve()`` but never listening: its ``close()`` closes the open websockets
with 1001 (going away) and refuses handshakes still in flight with 503, as on
the dedicated port. uvicorn forgets the HTTP connection at the upgrade (it
drops it from its ``connections`` before calling us) and never learns of the
websocket: its graceful shutdown neither waits for agents' sockets nor counts
them against ``limit_concurrency``; ``Node.stop()`` closes them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypedDict, cast

from websockets import http11
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

from server.config import ServerSettings


class Limits(TypedDict):
    """What an agent's websocket may do, on either port."""

    max_size: int
    max_queue: int
    ping_interval: float
    ping_timeout: float
    close_timeout: float
    write_limit: int


def ws_limits(s: ServerSettings) -> Limits:
    return Limits(
        max_size=s.max_message_bytes,
        max_queue=16,
        ping_interval=s.heartbeat_seconds,
        ping_timeout=s.heartbeat_seconds,
        close_timeout=s.close_timeout_seconds,
        write_limit=2**15,
    )


WEBSOCKETS_LOG = logging.getLogger("websockets.server")
"""The ``websockets`` library's server logger, for both ports."""


def quiet_connection_log() -> None:
    """``websockets`` logs "connection open" and "connection closed" at INFO
    for every socket: at 10,000 agents a reconnect wave writes 20,000 lines,
    and the record is a sixth of the log calls of a connect. Warnings and
    errors (a handler that failed, a refused handshake) still go through. A
    level set before the node starts (e.g. DEBUG to trace handshakes) is kept."""
    if WEBSOCKETS_LOG.level == logging.NOTSET:
        WEBSOCKETS_LOG.setLevel(logging.WARNING)


_HEADER_LINES = re.compile(
    rb"(?:[-!#$%&'*+.^_`|~0-9a-z]+: (?:[\x21-\x7e\x80-\xff](?:[\x09\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?\r\n)*"
).fullmatch
"""Header lines as ``websockets`` reads them without complaint, and keeps
verbatim: a token in lower case (as uvicorn gives names, and as ``Headers``
keys them), ": ", a value of allowed bytes with no space or tab at either end
(those it would strip), CRLF."""
_HEADER = re.compile(r"([^:\r\n]*): ([^\r]*)\r\n")
_TARGET = re.compile(rb"[\x21-\x7e]+").fullmatch
"""A request target ``websockets`` decodes as it is (ASCII, no space)."""


def parsed_request(method: str, target: bytes, raw_headers: list[tuple[bytes, bytes]]) -> Request | None:
    """The :class:`Request` that ``websockets`` would parse from the head
    uvicorn replays (``METHOD target HTTP/1.1``, then ``name: value`` per
    header as uvicorn read it), made from what uvicorn already parsed; or
    None for anything ``websockets`` might read differently or refuse (a
    non-ASCII target, a header value with control bytes or edge spaces, a
    line or head over its limits, a body announced): those take the replay,
    and get exactly its answer. A few calls instead of a second parse of
    every line (~120 Python calls per connect, bench/README.md, session 9)."""
    if not _TARGET(target) or len(raw_headers) > http11.MAX_NUM_HEADERS:
        return None
    lines = []
    for name, value in raw_headers:
        lines += [name, b": ", value, b"\r\n"]
    head = b"".join(lines)
    if len(head) + len(target) > http11.MAX_LINE_LENGTH - 32 or not _HEADER_LINES(head):
        return None  # a long head may hold a line over the limit: the replay says which
    items: list[tuple[str, str]] = _HEADER.findall(head.decode("iso-8859-1"))
    if len(items) != len(raw_headers):
        return None  # a value holding a line of its own (llhttp refuses those; cheap to make sure)
    by_name: dict[str, list[str]] = {}
    for name_, value_ in items:
        if name_ in by_name:
            by_name[name_].append(value_)
        else:
            by_name[name_] = [value_]
    if "transfer-encoding" in by_name or "content-length" in by_name:
        return None  # refused, or checked, by the parse: the replay answers
    # What parse_headers builds with set_insecure, one name at a time: the
    # names as given (uvicorn lower-cases them) and their values in order.
    headers = Headers.__new__(Headers)
    headers._dict, headers._list = by_name, items
    return Request(target.decode("ascii"), headers, method, "HTTP/1.1")


class _Parsed(ServerProtocol):
    """A server protocol whose request uvicorn parsed: its parser starts at
    the frames (``ServerProtocol.parse`` reads the request first, then goes
    on as ``Protocol.parse``)."""

    def parse(self) -> Generator[None]:
        return Protocol.parse(self)


Handler = Callable[[ServerConnection], Awaitable[None]]
CheckRequest = Callable[[ServerConnection, Request], Response | None]


class _NoListener(asyncio.AbstractServer):
    """What a ``websockets`` Server needs of its asyncio server when the
    listening socket is uvicorn's: whether it still accepts handshakes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._serving = True

    def close(self) -> None:
        self._serving = False

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._serving = True

    async def serve_forever(self) -> None:  # pragma: no cover - never called
        raise NotImplementedError

    async def wait_closed(self) -> None:
        # The websockets Server then waits for every connection handler, and
        # a handler returns only once its TCP connection is closed.
        return

    @property
    def sockets(self) -> tuple[()]:
        return ()


class SharedPort:
    """The agent websocket served through uvicorn's listener. Make it inside
    the running event loop; pass :meth:`protocol` as ``uvicorn.Config(ws=...)``."""

    def __init__(self, handler: Handler, check_request: CheckRequest, limits: Limits) -> None:
        self.limits = limits
        # serve() without awaiting it: the Server and its per-connection
        # lifecycle (handshake under open_timeout, process_request, keepalive,
        # the handler, abort on failure), with no socket of its own.
        self.server: Server = serve(handler, process_request=check_request, compression=None, **limits)
        self.server.server = cast(asyncio.Server, _NoListener(asyncio.get_running_loop()))

    def protocol(
        self, config: Any = None, server_state: Any = None, app_state: Any = None, _loop: Any = None
    ) -> ServerConnection:
        """uvicorn's websocket protocol class, called per upgrade request: the
        same sans-I/O protocol and connection that ``serve()`` makes per
        accepted socket (compression off, same limits)."""
        return self._connection(ServerProtocol)

    def upgrade_parsed(
        self, transport: asyncio.Transport, method: str, target: bytes, headers: list[tuple[bytes, bytes]]
    ) -> bool:
        """Take an upgrade request uvicorn has parsed (server/http_limits.py)
        without its head replayed and parsed again: the connection gets the
        :class:`Request` the parse would have made, as its first event, and
        from there on all is as on the replay (``process_request``, the
        handshake's checks and answer, the handler). False, and nothing done,
        when the request must take the replay (see :func:`parsed_request`),
        or when ``websockets.server`` logs at DEBUG (the parse logs the request)."""
        request = parsed_request(method, target, headers)
        if request is None or WEBSOCKETS_LOG.isEnabledFor(logging.DEBUG):
            return False
        ws = self._connection(_Parsed)
        ws.connection_made(transport)
        transport.set_protocol(ws)
        ws.process_event(request)
        return True

    def _connection(self, protocol: type[ServerProtocol]) -> ServerConnection:
        lim = self.limits
        return ServerConnection(
            protocol(max_size=lim["max_size"], logger=WEBSOCKETS_LOG),
            self.server,
            ping_interval=lim["ping_interval"],
            ping_timeout=lim["ping_timeout"],
            close_timeout=lim["close_timeout"],
            max_queue=lim["max_queue"],
            write_limit=lim["write_limit"],
        )

    @property
    def uvicorn_ws(self) -> type[asyncio.Protocol]:
        """For ``uvicorn.Config(ws=...)``, typed as uvicorn declares it: uvicorn
        only ever calls it with keyword arguments and uses what it returns as
        the transport's protocol; the node's HTTP protocol also finds
        :meth:`upgrade_parsed` on it."""
        return cast("type[asyncio.Protocol]", self)

    __call__ = protocol
