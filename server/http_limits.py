"""Limits on the HTTP listener, so idle or half-open connections cannot
exhaust the process's file descriptors (issue 11: 20,000 slow-header
connections took a node down), nor oversized headers its memory.

uvicorn parses HTTP with ``httptools`` (llhttp, in C) here, not h11 (pure
Python, ~30 % of a webhook's Python calls, issue 16). The guards h11 gave or
the node added around it, ported onto ``HttpToolsProtocol``:

- A header timeout: a connection must complete its request headers within
  ``http_header_timeout_seconds`` of being accepted (or of its last response);
  uvicorn itself only times out a connection *after* a response (keep-alive).
  One timer per connection, armed at accept and re-armed only when it fires
  (a response just moves the deadline): no timer is cancelled and pushed
  again into the loop's heap per request (a heap that holds every agent
  socket's keepalive timer too).
- A connection cap: beyond ``http_max_connections`` open HTTP connections a new
  one is answered 503 and closed at once (no descriptor held); at the cap,
  uvicorn answers requests 503 (``limit_concurrency``).
- A header size limit: request headers (request line included) bigger than
  ``http_max_header_bytes`` are answered 400 and the connection closed, even
  while they are still arriving (h11 did this with its incomplete-event
  limit; llhttp keeps a header being received in memory without a bound).
- The keep-alive timeout: a connection idle ``http_keep_alive_seconds`` after
  its last response is closed, by the same timer (uvicorn arms one of its own
  per response and cancels it per request).

Every agent connect on the HTTP port opens one of these (issue 16, connect
cost): uvicorn's ``__init__`` and ``connection_made`` are the library's, but
its two loggers are looked up once per process rather than per connection
(``logging.getLogger``, ~9 Python calls each: the same Logger objects), and
the connection's addresses are read from what the transport already holds
(``sockname``/``peername``, taken at accept) rather than asked of the socket
again; the values are those uvicorn's ``get_local_addr``/``get_remote_addr``
give (the scope's ``server`` and ``client``, so access logs and the
forwarded-for middleware see the same).

``uvicorn_options(config)`` is splatted into ``uvicorn.Config`` wherever the
node's HTTP server is built. ``raise_open_files_limit`` lifts the soft
RLIMIT_NOFILE to the hard limit at ``switchboard serve`` start.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import deque
from typing import Any

import httptools
from uvicorn.config import Config as UvicornConfig
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import get_local_addr, get_remote_addr
from uvicorn.server import ServerState

from server.config import Config

log = logging.getLogger(__name__)

BUSY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


_UVICORN_ERROR = logging.getLogger("uvicorn.error")
_UVICORN_ACCESS = logging.getLogger("uvicorn.access")
"""uvicorn's loggers, which its protocol looks up for every connection: a
name's Logger is made once and kept by the logging module (``getLogger``
returns this same object every time), so looking them up once is the same."""


def addresses(transport: asyncio.BaseTransport) -> tuple[tuple[str, int | None] | None, tuple[str, int] | None]:
    """The connection's (server, client) addresses as uvicorn's
    ``get_local_addr`` and ``get_remote_addr`` give them, from the addresses
    the transport took from its socket at accept (no system call, ~half the
    Python calls). A transport without a socket: uvicorn's own functions."""
    if transport.get_extra_info("socket") is None:
        return get_local_addr(transport), get_remote_addr(transport)  # type: ignore[arg-type]
    local = transport.get_extra_info("sockname")
    peer = transport.get_extra_info("peername")
    # uvicorn, from the socket: a tuple is (host, port, ...); a local str is
    # a Unix socket's path; anything else (a peer's str, None: the socket
    # gone before accept finished) is no address.
    server: tuple[str, int | None] | None
    if isinstance(local, tuple):
        server = (str(local[0]), int(local[1]))
    elif isinstance(local, str):
        server = (local, None)
    else:
        server = None
    return server, (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None


class HeadersTooLarge(Exception):
    """Raised from the parser's callback: the request's head is over the limit."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, a header size limit
    and a hard connection cap."""

    header_timeout: float = 10.0
    max_connections: int = 1000
    max_header_bytes: int = 16 * 1024

    _head_timer: asyncio.TimerHandle | None = None
    _head_since: float = 0.0
    """Loop time since which the connection has owed a request's headers."""
    _head_bytes: int = 0
    """Bytes received since the last request's headers were complete (or since accept)."""

    _upgrade_of: list[tuple[bytes, bytes]] | None = None
    _upgrade = False

    def __init__(
        self,
        config: UvicornConfig,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # uvicorn 0.55's HttpToolsProtocol.__init__, with its loggers looked up
        # once (see _UVICORN_ERROR); tests/server/test_http_limits.py checks
        # it makes the same attributes as the library's.
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.logger = _UVICORN_ERROR
        self.access_logger = _UVICORN_ACCESS
        self.access_log = _UVICORN_ACCESS.hasHandlers()
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.ws_protocol_class = config.ws_protocol_class
        self.root_path = config.root_path
        self.asgi_version = config.asgi_version
        self.limit_concurrency = config.limit_concurrency
        self.app_state = app_state
        self.timeout_keep_alive_task = None
        self.timeout_keep_alive = config.timeout_keep_alive
        self.server_state = server_state
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.transport = None  # type: ignore[assignment]
        self.flow = None  # type: ignore[assignment]
        self.server = None
        self.client = None
        self.scheme = None
        self.pipeline = deque()
        self.scope = None  # type: ignore[assignment]
        self.headers = None  # type: ignore[assignment]
        self.expect_100_continue = False
        self.cycle = None  # type: ignore[assignment]

    def _should_upgrade(self) -> bool:
        # uvicorn asks three times per upgrade request (headers complete,
        # message complete, the parser's upgrade), ~12 Python calls each; the
        # answer depends on the request's headers alone (a new list per request).
        headers = self.headers
        if headers is not self._upgrade_of:
            self._upgrade_of, self._upgrade = headers, super()._should_upgrade()
        return self._upgrade

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # uvicorn's, with the addresses the transport already holds (see addresses).
        self.connections.add(self)
        self.transport = transport
        self.flow = FlowControl(transport)
        self.server, self.client = addresses(transport)
        self.scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        if self.logger.level <= TRACE_LOG_LEVEL:
            prefix = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
            self.logger.log(TRACE_LOG_LEVEL, "%sHTTP connection made", prefix)
        if len(self.connections) > self.max_connections:
            log.warning("HTTP connection limit (%d) reached: new connections are refused", self.max_connections)
            transport.write(BUSY)
            transport.close()
            return
        self._head_since = now = self.loop.time()
        tick = min(self.header_timeout, self.timeout_keep_alive)
        self._head_timer = self.loop.call_at(now + tick, self._head_due)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's, with the header size count around the parser (and no
        # keep-alive timer to cancel: see on_response_complete).
        cycle = self.cycle
        if cycle is None or not cycle.more_body:  # no request under way: the next head's bytes
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            if isinstance(e.__context__, HeadersTooLarge):
                self._refuse_head()
            else:
                self._invalid()
            return
        except httptools.HttpParserError:
            self._invalid()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        # A head completed inside ``data`` reset the count (on_headers_complete);
        # one still arriving past the limit is refused before it grows further.
        if self._head_bytes > self.max_header_bytes and not self.transport.is_closing():
            self._refuse_head()

    def on_headers_complete(self) -> None:
        if self._head_bytes > self.max_header_bytes:
            # The bytes counted may hold a body after the head: size the head itself.
            size = len(self.url) + 20 + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > self.max_header_bytes:
                raise HeadersTooLarge
        self._head_bytes = 0
        super().on_headers_complete()

    def _invalid(self) -> None:
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def _refuse_head(self) -> None:
        log.warning("HTTP request headers over %d bytes: refused", self.max_header_bytes)
        self.send_400_response("Request headers too large.")

    def on_response_complete(self) -> None:
        # uvicorn's, without its keep-alive timer: the connection's one timer
        # (``_head_due``) closes an idle keep-alive connection too.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._head_since = self.loop.time()  # the next request's headers get the same time
        self.flow.resume_reading()
        if self.pipeline:  # a pipelined request waited for this response
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)

    def handle_websocket_upgrade(self) -> None:
        self._stop_head_timer()  # the upgraded connection is the websocket's now
        # The node's websocket takes the request as parsed here when it can
        # (server/wsport.py, SharedPort.upgrade_parsed); else uvicorn's way:
        # the head replayed into the websocket, which parses it again.
        take = getattr(self.ws_protocol_class, "upgrade_parsed", None)
        self.connections.discard(self)
        if (
            take is None
            or self.logger.level <= TRACE_LOG_LEVEL
            or not take(self.transport, self.scope["method"], self.url, self.headers)
        ):
            super().handle_websocket_upgrade()
        # This protocol and its parser point at each other (the parser calls
        # back into it), and so does the request's cycle (its on_response):
        # break both loops, so reference counting frees the HTTP side of the
        # connection now rather than the cyclic collector some time later
        # (~1.4 KiB per connected agent until then; the node runs that
        # collector rarely).
        del self.parser
        self.cycle = None  # type: ignore[assignment]

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_due(self) -> None:
        """The connection's one timer. It never waits longer than the shorter
        of the two timeouts, so a deadline moved earlier meanwhile (a response:
        keep-alive from now) is never missed; a due deadline closes."""
        self._head_timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        tick = min(self.header_timeout, self.timeout_keep_alive)
        cycle = self.cycle
        if cycle is not None and not (cycle.response_complete and not cycle.more_body):
            # A request under way (its headers arrived) is the app's, not
            # ours: look again later, when its response may have set a deadline.
            due = now + tick
        else:
            due = self._head_since + self.header_timeout
            if cycle is not None and self._head_bytes == 0:
                # Idle since the last response: keep-alive.
                due = min(due, self._head_since + self.timeout_keep_alive)
            if now >= due:
                # No complete request since the connection opened (or since
                # the last response): idle, or headers dribbling in.
                self.transport.close()
                return
            due = min(due, now + tick)
        self._head_timer = self.loop.call_at(due, self._head_due)


def uvicorn_options(config: Config) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` (besides app, host, port, logging levels)."""
    s = config.server
    protocol = type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout": s.http_header_timeout_seconds,
            "max_connections": s.http_max_connections,
            "max_header_bytes": s.http_max_header_bytes,
        },
    )
    return {
        "http": protocol,
        "timeout_keep_alive": s.http_keep_alive_seconds,
        "limit_concurrency": s.http_max_connections,
        "server_header": False,  # no "server: uvicorn" on every answer: nobody needs it, and it names the software
        # uvicorn's records go to the root logger's handlers, and so through
        # the repeat filter (server/logs.py), instead of uvicorn's own handlers.
        "log_config": None,
    }


def raise_open_files_limit() -> tuple[int, int]:
    """Lift the soft RLIMIT_NOFILE to the hard limit; returns (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as e:
            log.warning("could not raise the open files limit from %d to %d: %s", soft, target, e)
    return resource.getrlimit(resource.RLIMIT_NOFILE)
