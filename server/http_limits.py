"""Limits on the HTTP listener, so idle or half-open connections cannot
exhaust the process's file descriptors (issue 11: 20,000 slow-header
connections took a node down).

- A header timeout: a connection must complete its request headers within
  ``http_header_timeout_seconds`` of being accepted (or of its last response);
  uvicorn itself only times out a connection *after* a response (keep-alive).
- A connection cap: beyond ``http_max_connections`` open HTTP connections a new
  one is answered 503 and closed at once (no descriptor held); at the cap,
  uvicorn answers requests 503 (``limit_concurrency``).
- uvicorn's keep-alive timeout and h11's header size limit.

``uvicorn_options(config)`` is splatted into ``uvicorn.Config`` wherever the
node's HTTP server is built. ``raise_open_files_limit`` lifts the soft
RLIMIT_NOFILE to the hard limit at ``switchboard serve`` start.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.config import Config

log = logging.getLogger(__name__)

BUSY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout and a hard connection cap."""

    header_timeout: float = 10.0
    max_connections: int = 1000

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("HTTP connection limit (%d) reached: new connections are refused", self.max_connections)
            transport.write(BUSY)
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers get the same time

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()  # the upgraded connection is the websocket's now
        super().handle_websocket_upgrade(event)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        # Still no complete request since the connection opened (or since the
        # last response): idle, or headers dribbling in. A request under way
        # (its headers arrived) is the app's, not ours.
        if self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete):
            self.transport.close()


def uvicorn_options(config: Config) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` (besides app, host, port, logging levels)."""
    s = config.server
    protocol = type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout": s.http_header_timeout_seconds, "max_connections": s.http_max_connections},
    )
    return {
        "http": protocol,
        "timeout_keep_alive": s.http_keep_alive_seconds,
        "limit_concurrency": s.http_max_connections,
        "h11_max_incomplete_event_size": s.http_max_header_bytes,
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
