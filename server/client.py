"""One agent connection, from handshake to close.

    connect ─▶ hello (token, protocol, resume?) ─▶ welcome
            ─▶ resumed + missed events   (resume accepted)
             | resync + snapshot         (history gone, or a new epoch)
             | snapshot                  (fresh connection)
            ─▶ commands ⇄ acks/errors, live events, until close

Commands of one connection run one at a time, in order. Live events never
wait for a command: the hub writes them straight to the socket.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed

from protocol import errors
from protocol import messages as p
from protocol.depth import MAX_DEPTH, too_deep
from server.app import App
from server.app.dispatch import dispatch
from server.broker import Broker
from server.config import ServerSettings
from server.auth import Claims, TokenExpired, TokenInvalid, TokenRevoked
from server.core.conversation import can_view
from server.core.errors import DomainError
from server.core.fanout import conv_stream
from server.core.model import Agent
from server.core.views import agent_view
from server.hub import Hub
from server.metrics import Metrics
from server.store.base import StoreUnavailable

log = logging.getLogger(__name__)

_encode = p.encoder.encode
_decode_command = p.command_decoder.decode
COMMAND_NAMES = {cls.__struct_config__.tag for cls in p.COMMANDS}
# What decoding hostile bytes can raise: msgspec's errors, invalid UTF-8, deep nesting.
_UNREADABLE = (msgspec.MsgspecError, ValueError)
# msgspec's words for a constraint (msgspec.Meta ge/le/...) a well-typed value breaks.
_OUT_OF_RANGE = re.compile(r"Expected `\w+` (>=|<=|>|<) ")


@dataclass(frozen=True, slots=True)
class Edge:
    """What every agent connection of a node shares, given by the node."""

    app: App
    hub: Hub
    broker: Broker
    metrics: Metrics
    settings: ServerSettings
    node_id: str


class Client:
    # Thousands live at once: no per-instance __dict__.
    __slots__ = ("ws", "node", "agent", "claims", "streams", "backlog", "_transport", "_dropped", "_bucket")

    def __init__(self, ws: ServerConnection, node: Edge) -> None:
        self.ws = ws
        self.node = node
        self.agent: Agent | None = None
        self.claims: Claims | None = None
        self.streams: set[str] = set()
        self.backlog: list[tuple[str, int, bytes]] | None = None
        """While catching up, live frames wait here (see Hub.deliver)."""
        self._transport = ws.transport
        self._dropped = False
        settings = node.settings
        self._bucket = TokenBucket(settings.commands_per_second, settings.command_burst)

    def __repr__(self) -> str:
        return f"<Client {self.agent.id if self.agent else '?'} {self.ws.remote_address}>"

    # ------------------------------------------------------------------ hub side

    def transport_buffered(self) -> int:
        return self._transport.get_write_buffer_size()

    def drop_slow(self) -> None:
        """Outbound buffer full: stop feeding this client and close it. It
        resumes from its last sequence when it reconnects."""
        if self._dropped:
            return
        self._dropped = True
        self.node.metrics.slow_consumers.inc()
        log.warning("dropping slow consumer %r (%d bytes buffered)", self, self.transport_buffered())
        self._detach_all()
        self._close_or_cut(errors.CLOSE_SLOW_CONSUMER, "slow consumer: reconnect and resume")

    def abandon(self) -> None:
        """Closing behind a write buffer the peer does not read (a heartbeat
        timeout, a shutdown): stop feeding it, and cut it when the close timeout is over."""
        self._detach_all()
        self._cut_later()

    def _close_or_cut(self, code: int, reason: str) -> None:
        asyncio.ensure_future(self.ws.close(code, reason))
        self._cut_later()

    def _cut_later(self) -> None:
        """Abort the TCP connection after close_timeout_seconds unless it is
        closed by then. websockets starts its own close timeout only once the
        write buffer has drained, which never happens if the peer stopped reading."""
        asyncio.get_running_loop().call_later(self.node.settings.close_timeout_seconds, self._transport.abort)

    def unsubscribe(self, stream: str, reason: str) -> None:
        if stream in self.streams:
            self.streams.discard(stream)
            self.node.hub.detach(self, stream)
            self._send_now(_encode(p.Unsubscribed(stream=stream, reason=reason)))

    def _attach(self, stream: str) -> None:
        if stream not in self.streams:
            self.streams.add(stream)
            self.node.hub.attach(self, stream)

    def _detach_all(self) -> None:
        for stream in self.streams:
            self.node.hub.detach(self, stream)
        self.streams.clear()

    def _send_now(self, data: bytes) -> None:
        """Write without waiting (like broadcast), for frames sent from hub callbacks."""
        broadcast([self.ws], data, text=True)

    async def _send(self, frame: p.ServerFrame) -> None:
        await self.ws.send(_encode(frame), text=True)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        node = self.node
        node.hub.join(self)
        node.metrics.connections_total.inc()
        try:
            hello = await self._handshake()
            agent = self.agent
            if hello is None or agent is None:
                return
            await self._sync(agent, hello.resume)
            async for raw in self.ws:
                await self._handle(agent, raw)
        except ConnectionClosed:
            pass
        finally:
            self._detach_all()
            node.hub.leave(self)

    async def _handshake(self) -> p.Hello | None:
        node = self.node
        try:
            raw = await asyncio.wait_for(self.ws.recv(), node.settings.hello_timeout_seconds)
        except TimeoutError:
            await self.ws.close(errors.CLOSE_HELLO_TIMEOUT, "no hello")
            return None
        cmd = self._decode(raw)
        if isinstance(cmd, p.Error):
            await self._send(cmd)
            await self.ws.close(errors.CLOSE_AUTH_FAILED, "expected hello")
            return None
        if not isinstance(cmd, p.Hello):
            await self._send(p.Error(id=cmd.id, code=errors.NOT_AUTHENTICATED, message="Send hello first."))
            await self.ws.close(errors.CLOSE_AUTH_FAILED, "expected hello")
            return None
        if cmd.protocol != p.PROTOCOL_VERSION:
            await self._send(
                p.Error(
                    id=cmd.id,
                    code=errors.UNSUPPORTED_PROTOCOL,
                    message=f"This server speaks protocol {p.PROTOCOL_VERSION}, not {cmd.protocol}.",
                )
            )
            await self.ws.close(errors.CLOSE_UNSUPPORTED_PROTOCOL, "unsupported protocol")
            return None
        try:
            agent, self.claims = await node.app.tokens.authenticate(cmd.token)
        except TokenExpired:
            await self._refuse(cmd.id, errors.TOKEN_EXPIRED, "Your session expired; log in again.", errors.CLOSE_TOKEN_EXPIRED)
            return None
        except TokenRevoked:
            await self._refuse(cmd.id, errors.TOKEN_REVOKED, "This token was revoked; log in again.", errors.CLOSE_TOKEN_REVOKED)
            return None
        except TokenInvalid:
            await self._refuse(cmd.id, errors.AUTH_FAILED, "Invalid token.", errors.CLOSE_AUTH_FAILED)
            return None
        except StoreUnavailable:
            await self._refuse(cmd.id, errors.UNAVAILABLE, "Cannot check the token now; retry.", errors.CLOSE_GOING_AWAY)
            return None
        screens = node.hub.screens(agent.id)
        if screens >= node.settings.max_connections_per_agent:
            message = f"Already {screens} screens open."
            await self._refuse(cmd.id, errors.TOO_MANY_CONNECTIONS, message, errors.CLOSE_TOO_MANY_CONNECTIONS)
            return None
        self.agent = agent
        node.hub.logged_in(self, agent.id)
        await self._send(
            p.Welcome(
                id=cmd.id,
                protocol=p.PROTOCOL_VERSION,
                agent=agent_view(agent),
                node=node.node_id,
                epoch=node.broker.epoch,
                server_time=node.app.clock(),
                heartbeat_ms=int(node.settings.heartbeat_seconds * 1000),
            )
        )
        return cmd

    async def _refuse(self, request_id: str, code: str, message: str, close_code: int) -> None:
        await self._send(p.Error(id=request_id, code=code, message=message))
        await self.ws.close(close_code, code)

    def revoked(self, event: p.AccessRevoked) -> bool:
        claims = self.claims
        if claims is None:
            return False
        if event.token_id is not None:
            return event.token_id == claims.jti
        return event.not_before is not None and claims.iat <= event.not_before

    def access_revoked(self, event: p.AccessRevoked) -> None:
        """If this socket's token was revoked: stop feeding it and close."""
        if self.revoked(event):
            self._detach_all()
            self._close_or_cut(errors.CLOSE_TOKEN_REVOKED, "token revoked")

    def conversation_updated(self, stream: str, summary: p.ConversationSummary) -> None:
        if self.agent is not None and not can_view(self.agent, summary):
            self.unsubscribe(stream, reason="no_access")

    def go_away(self, reason: str) -> None:
        asyncio.ensure_future(self.ws.close(errors.CLOSE_GOING_AWAY, reason))

    async def _sync(self, agent: Agent, resume: p.Resume | None) -> None:
        """Bring the client up to date: replay what it missed, or a snapshot."""
        metrics = self.node.metrics
        if resume is not None:
            if await self._resume(agent, resume):
                metrics.resumes.inc(1, "resumed")
                return
            metrics.resumes.inc(1, "resync")
            await self._send(p.Resync(reason="missed events are no longer available; reload"))
        self.backlog = []
        for stream in self.node.app.reads.streams_of(agent):
            self._attach(stream)
        snapshot = await self.node.app.reads.snapshot(agent)
        await self._send(snapshot)
        await self._flush(snapshot.streams)

    async def _resume(self, agent: Agent, resume: p.Resume) -> bool:
        broker, reads = self.node.broker, self.node.app.reads
        wanted = set(reads.streams_of(agent))
        if resume.epoch != broker.epoch or not wanted <= set(resume.streams):
            return False
        self.backlog = []
        for stream in wanted:
            self._attach(stream)
        positions = {s: resume.streams[s] for s in wanted}
        lost: list[str] = []
        for stream, seq in resume.streams.items():
            if stream.startswith("conv:") and stream not in wanted:
                try:
                    await reads.viewable(agent, stream.removeprefix("conv:"))
                except DomainError:
                    lost.append(stream)  # taken by someone else while away
                    continue
                self._attach(stream)
                positions[stream] = seq
        replay: list[bytes] = []
        for stream, seq in positions.items():
            missed = await broker.history(stream, seq)
            if missed is None:
                self._detach_all()
                self.backlog = None
                return False
            replay.extend(data for _, data in missed)
            if missed:
                positions[stream] = missed[-1][0]
        await self._send(p.Resumed(epoch=broker.epoch, streams={s: resume.streams[s] for s in positions}))
        for stream in lost:
            await self._send(p.Unsubscribed(stream=stream, reason="no_access"))
        for data in replay:
            await self.ws.send(data, text=True)
        await self._flush(positions)
        return True

    async def _flush(self, positions: dict[str, int]) -> None:
        """Send the live frames that arrived while catching up, skipping those
        the snapshot or replay already covered, then go live."""
        while self.backlog:
            batch, self.backlog = self.backlog, []
            for stream, seq, data in batch:
                if seq > positions.get(stream, 0):
                    positions[stream] = seq
                    await self.ws.send(data, text=True)
        self.backlog = None

    # ------------------------------------------------------------------ commands

    async def _handle(self, agent: Agent, raw: str | bytes) -> None:
        started = time.perf_counter()
        cmd = self._decode(raw)
        if isinstance(cmd, p.Error):
            self.node.metrics.commands.inc(1, "invalid", cmd.code)
            await self._send(cmd)
            return
        name = type(cmd).__struct_config__.tag
        if not self._bucket.take(time.monotonic()):
            self.node.metrics.commands.inc(1, str(name), errors.RATE_LIMITED)
            await self._send(p.Error(id=cmd.id, code=errors.RATE_LIMITED, message="Too many commands; slow down."))
            return
        try:
            result = await self._run(agent, cmd)
        except DomainError as e:
            outcome = e.code
            await self._send(p.Error(id=cmd.id, code=e.code, message=e.message))
        except StoreUnavailable:
            outcome = errors.UNAVAILABLE
            await self._send(p.Error(id=cmd.id, code=errors.UNAVAILABLE, message="Storage is unavailable; retry."))
        except ConnectionClosed:
            raise
        except Exception:
            log.exception("command %s failed", name)
            outcome = errors.INTERNAL
            await self._send(p.Error(id=cmd.id, code=errors.INTERNAL, message="Internal error; nothing was done."))
        else:
            outcome = "ok"
            await self._send(p.Ack(id=cmd.id, result=result))
        metrics = self.node.metrics
        metrics.commands.inc(1, str(name), outcome)
        metrics.command_seconds.observe(time.perf_counter() - started, str(name))

    async def _run(self, agent: Agent, cmd: p.Command) -> p.CommandResult:
        match cmd:
            case p.Hello():
                raise DomainError(errors.ALREADY_AUTHENTICATED, "This connection is already authenticated.")
            case p.Open(conversation_id=cid, limit=limit):
                stream = conv_stream(cid)
                await self.node.app.reads.viewable(agent, cid)
                self._attach(stream)
                try:
                    return await self.node.app.reads.thread(agent, cid, limit)
                except BaseException:
                    self.streams.discard(stream)
                    self.node.hub.detach(self, stream)
                    raise
            case p.Close(conversation_id=cid):
                stream = conv_stream(cid)
                if stream in self.streams:
                    self.streams.discard(stream)
                    self.node.hub.detach(self, stream)
                return p.Ok()
        return await dispatch(self.node.app, agent, cmd)

    @classmethod
    def _decode(cls, raw: str | bytes) -> p.Command | p.Error:
        """A command, or the error that names what is wrong with the frame.
        Whatever the peer sends, this returns: input never raises."""
        if too_deep(raw):
            return p.Error(id=None, code=errors.BAD_FRAME, message=f"Frame nests more than {MAX_DEPTH} levels deep.")
        try:
            return _decode_command(raw)
        except _UNREADABLE as e:
            return cls._frame_error(raw, e)

    @staticmethod
    def _frame_error(raw: str | bytes, e: Exception) -> p.Error:
        """Name what was wrong and echo the id when one can be read."""
        try:
            obj: Any = msgspec.json.decode(raw)
        except _UNREADABLE:
            return p.Error(id=None, code=errors.BAD_FRAME, message="Frame is not valid JSON in UTF-8.")
        if not isinstance(obj, dict):
            return p.Error(id=None, code=errors.BAD_FRAME, message="Frame must be a JSON object.")
        request_id = obj.get("id") if isinstance(obj.get("id"), str) else None
        kind = obj.get("type")
        if isinstance(kind, str) and kind not in COMMAND_NAMES:
            return p.Error(id=request_id, code=errors.UNKNOWN_COMMAND, message=f"Unknown command {kind!r}.")
        if _OUT_OF_RANGE.match(str(e)):  # the right type, a value outside its range (protocol Meta constraints)
            return p.Error(id=request_id, code=errors.INVALID_ARGUMENT, message=str(e))
        return p.Error(id=request_id, code=errors.BAD_FRAME, message=str(e))


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    __slots__ = ("rate", "burst", "tokens", "at")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens = float(burst)
        self.at = time.monotonic()

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
