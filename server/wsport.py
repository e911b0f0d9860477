"""The agent websocket on the HTTP port, without ASGI.

uvicorn parses every request on the HTTP port. When one asks to upgrade to a
websocket, uvicorn builds ``Config(ws=...)``'s protocol, calls its
``connection_made(transport)``, hands it the transport and replays the
request head into its ``data_received``. :meth:`SharedPort.protocol` is that
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
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict, cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
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

    def protocol(self, config: Any = None, server_state: Any = None, app_state: Any = None, _loop: Any = None) -> ServerConnection:
        """uvicorn's websocket protocol class, called per upgrade request: the
        same sans-I/O protocol and connection that ``serve()`` makes per
        accepted socket (compression off, same limits)."""
        lim = self.limits
        return ServerConnection(
            ServerProtocol(max_size=lim["max_size"]),
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
        the transport's protocol."""
        return cast("type[asyncio.Protocol]", self.protocol)
