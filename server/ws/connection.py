"""One agent connection, from handshake to close: the socket loop around
the sans-I/O ``Session`` (session.py), which decides everything.

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
import time
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request
from websockets.protocol import State

from protocol import errors
from protocol import messages as p
from server.app import App
from server.app.dispatch import dispatch
from server.auth import TokenError
from server.broker import Broker
from server.config import ServerSettings
from server.core.conversation import can_view
from server.core.errors import DomainError
from server.core.fanout import conv_stream
from server.core.model import Agent
from server.metrics import Metrics
from server.store.base import StoreUnavailable
from server.tasks import spawn
from server.ws.hello_wait import HelloWait
from server.ws.hub import Hub, text_frame
from server.ws.session import (
    Fresh,
    Limits,
    Refuse,
    Replay,
    Reply,
    Session,
    TryResume,
    fresh_frames,
)

log = logging.getLogger(__name__)

_encode = p.encoder.encode

_UPGRADED = Request("/ws", Headers())
"""What a connection keeps of its upgrade request once upgraded (see Connection)."""


@dataclass(frozen=True, slots=True)
class Edge:
    """What every agent connection of a node shares, given by the node."""

    app: App
    hub: Hub
    broker: Broker
    metrics: Metrics
    settings: ServerSettings
    node_id: str
    limits: Limits = field(init=False)
    """One for every session of the node, made from ``settings``."""
    hello_wait: HelloWait = field(init=False)
    """The node's connections waiting for their hello, and their deadlines."""

    def __post_init__(self) -> None:
        s = self.settings
        limits = Limits(
            heartbeat_ms=int(s.heartbeat_seconds * 1000),
            max_screens=s.max_connections_per_agent,
            commands_per_second=s.commands_per_second,
            command_burst=s.command_burst,
        )
        object.__setattr__(self, "limits", limits)
        object.__setattr__(self, "hello_wait", HelloWait(s.hello_timeout_seconds))


class Connection:
    # Thousands live at once: no per-instance __dict__.
    __slots__ = ("_dropped", "_transport", "backlog", "edge", "front_at", "in_front", "session", "streams", "ws")

    def __init__(self, ws: ServerConnection, edge: Edge) -> None:
        # The handler starts after the upgrade: nothing reads the handshake's
        # request or response again, but websockets keeps both on the
        # connection, headers and all (~2.4 KB per socket, a sixth of an idle
        # agent). The request becomes one shared stand-in, not None: while
        # ``request`` is None, websockets takes the next event for the request.
        ws.request, ws.response = _UPGRADED, None
        self.ws = ws
        self.edge = edge
        self.session = Session(edge.limits, now=time.monotonic())
        self.streams: list[str] = []
        """The streams it listens to: a few (its own, its queues', the threads
        it opened), so a list (72 B) rather than a set (216 B at any size)."""
        self.backlog: list[tuple[str, int, bytes]] | None = None
        """While catching up, live frames wait here (see Hub.deliver)."""
        self._transport = ws.transport
        self._dropped = False
        self.in_front = False
        self.front_at = 0.0
        """When the screen last said it came to the front (``screen``)."""

    @property
    def agent(self) -> Agent | None:
        return self.session.agent

    def __repr__(self) -> str:
        return f"<Connection {self.agent.id if self.agent else '?'} {self.ws.remote_address}>"

    # ------------------------------------------------------------------ the hub's side (hub.Listener)

    def transport_buffered(self) -> int:
        return self._transport.get_write_buffer_size()

    def drop_slow(self) -> None:
        """Outbound buffer full: stop feeding this client and close it. It
        resumes from its last sequence when it reconnects."""
        if self._dropped:
            return
        self._dropped = True
        self.edge.metrics.slow_consumers.inc()
        log.warning("dropping slow consumer %r (%d bytes buffered)", self, self.transport_buffered())
        self._detach_all()
        self._close_or_cut(errors.CLOSE_SLOW_CONSUMER, "slow consumer: reconnect and resume")

    def abandon(self) -> None:
        """Closing behind a write buffer the peer does not read (a heartbeat
        timeout, a shutdown): stop feeding it, and cut it when the close timeout is over."""
        self._detach_all()
        self._cut_later()

    def access_revoked(self, event: p.AccessRevoked) -> None:
        """If this socket's token was revoked: stop feeding it and close."""
        if self.session.revoked_by(event):
            self._detach_all()
            self._close_or_cut(errors.CLOSE_TOKEN_REVOKED, "token revoked")

    def ring_rank(self) -> tuple[bool, float]:
        return (self.in_front, self.front_at)

    def ring(self, stream: str, seq: int) -> None:
        self._send_now(_encode(p.Ring(stream=stream, seq=seq)))

    def conversation_updated(self, stream: str, summary: p.ConversationSummary) -> None:
        agent = self.agent
        if agent is not None and not can_view(agent, summary) and stream in self.streams:
            self._detach(stream)
            self._send_now(_encode(p.Unsubscribed(stream=stream, reason="no_access")))

    def go_away(self, reason: str) -> None:
        spawn(self.ws.close(errors.CLOSE_GOING_AWAY, reason))

    def _close_or_cut(self, code: int, reason: str) -> None:
        spawn(self.ws.close(code, reason))
        self._cut_later()

    def _cut_later(self) -> None:
        """Abort the TCP connection after close_timeout_seconds unless it is
        closed by then. websockets starts its own close timeout only once the
        write buffer has drained, which never happens if the peer stopped reading."""
        asyncio.get_running_loop().call_later(self.edge.settings.close_timeout_seconds, self._transport.abort)

    def _attach(self, stream: str) -> None:
        if stream not in self.streams:
            self.streams.append(stream)
            self.edge.hub.attach(self, stream)

    def _detach(self, stream: str) -> None:
        if stream in self.streams:
            self.streams.remove(stream)
            self.edge.hub.detach(self, stream)

    def _detach_all(self) -> None:
        for stream in self.streams:
            self.edge.hub.detach(self, stream)
        self.streams.clear()

    def _send_now(self, data: bytes) -> None:
        """Write without waiting (like broadcast), for frames sent from hub callbacks."""
        broadcast([self.ws], data, text=True)

    async def _send(self, frame: p.ServerFrame) -> None:
        """One frame (a command's answer), with ``ws.send``'s flow control.
        The common case (open, nothing else under way on the socket, no
        extension, the transport taking writes) writes the text frame
        websockets would write (``text_frame``, as ``Hub.deliver`` does) and
        waits for the buffer to drain only when the write paused it: the
        library's send takes ~20 Python calls for the same (its context
        manager, the protocol's frame queue, ``drain``). Anything else goes
        through ``ws.send`` as before."""
        data = _encode(frame)
        ws = self.ws
        protocol = ws.protocol
        if (
            protocol.state is State.OPEN
            and not protocol.debug  # websockets logs each frame it sends at DEBUG: let it
            and ws.send_in_progress is None
            and not ws.paused
            and not (protocol.writes or protocol.extensions or protocol.expect_continuation_frame)
            and not ws.transport.is_closing()
        ):
            ws.transport.write(text_frame(data))
            if ws.paused:  # that write filled the buffer: wait as ws.send would
                await ws.drain()
            return
        await ws.send(data, text=True)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        hub = self.edge.hub
        hub.join(self)
        self.edge.metrics.connections_total.inc()
        agent: Agent | None = None
        try:
            hello = await self._handshake()
            if hello is None:
                return
            agent, welcome = hello
            del hello  # this frame lives as long as the socket: keep no frame bytes in it
            self.edge.app.routing.screen_opened(agent.id)
            try:
                await self._sync(agent, welcome)
            except StoreUnavailable:
                # Nothing half-sent is left to trust: say why and let the
                # client reconnect (and resume) once the store is back.
                await self._refuse(self.session.sync_failed())
                return
            del welcome
            self.session.went_live()
            while True:  # not ``async for``: no async generator frame kept per idle socket
                await self._handle(agent, await self.ws.recv())
        except ConnectionClosed:
            pass
        finally:
            self._detach_all()
            hub.leave(self)
            if agent is not None:
                self.edge.app.routing.screen_closed(agent.id)

    async def _refuse(self, refused: Refuse) -> None:
        await self._send(refused.error)
        await self.ws.close(refused.close_code, refused.close_reason)

    async def _handshake(self) -> tuple[Agent, bytes] | None:
        """The agent and its encoded welcome (sent with the first frame of the
        sync, see ``_sync``), or None when the connection was refused."""
        edge, session = self.edge, self.session
        # asyncio.timeout(hello_timeout_seconds), without a timer per connection (hello_wait.py).
        waits = edge.hello_wait
        task, cancelling = waits.start()
        try:
            try:
                raw = await self.ws.recv()
            finally:
                timed_out = waits.done(task, cancelling)
        except (asyncio.CancelledError, TimeoutError) as e:
            # Cancelled at the deadline, or a timeout from the read itself (as under asyncio.timeout): no hello.
            if isinstance(e, asyncio.CancelledError) and not timed_out:
                raise
            await self.ws.close(*session.hello_timed_out())
            return None
        step = session.receive_hello(raw)
        if isinstance(step, Refuse):
            await self._refuse(step)
            return None
        hello = step.hello
        try:
            agent, claims = await edge.app.tokens.authenticate(hello.token)
        except TokenError as e:
            await self._refuse(session.auth_failed(hello, e))
            return None
        except StoreUnavailable:
            await self._refuse(session.auth_failed(hello, None))
            return None
        welcome = session.authenticated(
            hello,
            agent,
            claims,
            screens=edge.hub.screens(agent.id),
            node_id=edge.node_id,
            epoch=edge.broker.epoch,
            server_time=edge.app.clock(),
        )
        if isinstance(welcome, Refuse):
            await self._refuse(welcome)
            return None
        edge.hub.logged_in(self, agent.id)
        return agent, _encode(welcome)

    async def _sync(self, agent: Agent, welcome: bytes) -> None:
        """Bring the client up to date: replay what it missed, or a snapshot.
        The welcome goes out in one write with the first frames after it
        (``resumed``, or ``snapshot``), before them if a lookup fails."""
        edge = self.edge
        first = [welcome]
        try:
            plan = self.session.plan_sync(edge.app.reads.streams_of(agent), edge.broker.epoch)
            if isinstance(plan, TryResume):
                step = await self._resume(agent, plan)
                if isinstance(step, Replay):
                    edge.metrics.resumes.inc(1, "resumed")
                    first.append(_encode(step.resumed))
                    first.extend(_encode(p.Unsubscribed(stream=s, reason="no_access")) for s in step.lost)
                    await self._send_together(first)
                    first = []
                    for data in step.frames:
                        await self.ws.send(data, text=True)
                    await self._catch_up(step.positions)
                    return
                self._detach_all()
                self.backlog = None
                plan = step
            if plan.resync:
                edge.metrics.resumes.inc(1, "resync")
                first.append(_encode(p.Resync(reason="missed events are no longer available; reload")))
            self.backlog = []
            for stream in plan.streams:
                self._attach(stream)
            snapshot = await edge.app.reads.snapshot_frame(agent)
        except Exception:
            for data in first:  # what was decided before the failure goes out, as it did before it
                self._send_now(data)
            raise
        edge.metrics.snapshot(snapshot.seconds, len(snapshot.data))
        first.append(snapshot.data)
        await self._send_together(first)
        await self._catch_up(snapshot.streams)

    async def _send_together(self, frames: list[bytes]) -> None:
        """Text frames in one write to the socket: one system call and one
        wake-up of the peer instead of one each. On a busy machine each send
        to a waiting peer costs the node its turn on the CPU (a connect's
        sends were a third of its time: bench/README.md, issue 16)."""
        ws = self.ws
        if ws.protocol.state is not State.OPEN:
            for data in frames:
                await ws.send(data, text=True)  # raises the connection's ConnectionClosed
            return
        for data in frames:
            ws.protocol.send_text(data)
        chunks = ws.protocol.data_to_send()
        ws.transport.write(b"".join(chunks))
        if not all(chunks):  # an end of stream queued with them (not while OPEN): as the library's send_data
            if ws.transport.can_write_eof():
                ws.transport.write_eof()
            else:
                ws.transport.close()

    async def _resume(self, agent: Agent, plan: TryResume) -> Replay | Fresh:
        """The lookups a resume needs (the session decides from them)."""
        reads, broker = self.edge.app.reads, self.edge.broker
        self.backlog = []
        for stream in plan.streams:
            self._attach(stream)
        visible: set[str] = set()
        for stream in plan.conversations:
            try:
                await reads.viewable(agent, stream.removeprefix("conv:"))
            except DomainError:
                continue  # taken by someone else while away
            self._attach(stream)
            visible.add(stream)
        histories: dict[str, list[tuple[int, bytes]] | None] = {}
        for stream, seq in {**plan.streams, **{s: plan.conversations[s] for s in visible}}.items():
            histories[stream] = missed = await broker.history(stream, seq)
            if missed is None:
                break  # the session answers resync
        return self.session.resumed(plan, visible, histories, broker.epoch)

    async def _catch_up(self, positions: dict[str, int]) -> None:
        """Send the live frames that arrived while catching up, skipping those
        the snapshot or replay already covered, then go live; first, wait
        until the broker has handed the hub every frame up to the positions
        (a node's Redis reader may not have read yet what the positions,
        read from Redis, count: live, it would reach the socket twice)."""
        await self.edge.broker.handed_over(positions)
        while self.backlog:
            batch, self.backlog = self.backlog, []
            for data in fresh_frames(batch, positions):
                await self.ws.send(data, text=True)
        self.backlog = None
        self.edge.hub.screen_changed(self)  # live now: it may ring (across nodes, say so)

    # ------------------------------------------------------------------ commands

    async def _handle(self, agent: Agent, raw: str | bytes) -> None:
        started = time.perf_counter()
        metrics = self.edge.metrics
        step = self.session.receive_command(raw, time.monotonic())
        if isinstance(step, Reply):
            await self._send(step.frame)
            metrics.commands.inc(1, step.name, step.outcome)
            if step.timed:
                metrics.command_seconds.observe(time.perf_counter() - started, step.name)
            return
        cmd, name = step.command, step.name
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
        metrics.commands.inc(1, name, outcome)
        metrics.command_seconds.observe(time.perf_counter() - started, name)

    async def _run(self, agent: Agent, cmd: p.Command) -> p.CommandResult:
        """The connection's own commands (which threads it listens to); the rest are use cases."""
        reads = self.edge.app.reads
        match cmd:
            case p.Open(conversation_id=cid, limit=limit):
                stream = conv_stream(cid)
                await reads.viewable(agent, cid)
                self._attach(stream)
                try:
                    return await reads.thread(agent, cid, limit)
                except BaseException:
                    self._detach(stream)
                    raise
            case p.Close(conversation_id=cid):
                self._detach(conv_stream(cid))
                return p.Ok()
            case p.Screen(front=front):
                self.in_front = front
                if front:
                    self.front_at = self.edge.app.clock()  # the app's ms: compared across nodes
                written = self.edge.hub.screen_changed(self)
                if isinstance(written, asyncio.Future):
                    await written  # the other nodes know before the ack
                return p.Ok()
        return await dispatch(self.edge.app, agent, cmd)
