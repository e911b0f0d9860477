"""The hub: this node's connected clients and which streams each listens to.

The broker hands every publication to ``Hub.deliver`` as ready-made frame
bytes, with the event's kind (its ``type`` tag) beside them; the hub frames
them once as a websocket text message and writes that same frame to every
live local listener's transport (no per-client encode or framing, no await
per client); a socket with something else under way (bytes websockets has
not flushed yet, an extension, a fragmented send) gets the message through
``websockets.broadcast`` instead, which frames it for that socket. The hub
acts on an event (unsubscribe the viewers who lost access, close revoked
sockets) only from its kind: it never searches the bytes, which carry
customer text, and it decodes them only for the two kinds it acts on.

What it does not do: it never waits on a client. A client whose outbound
buffer is over ``max_buffer`` bytes is disconnected (close code 4008) and
counted; it reconnects and resumes from its last sequence. Whatever closes a
client (that drop, a revocation, a heartbeat timeout), the TCP connection is
cut once close_timeout_seconds pass: a peer that stopped reading never lets
the closing handshake through its full buffer. Frames written directly are
not logged by websockets' debug logger. A client that is still catching up (replaying history on resume) gets live frames queued in
its own backlog instead, flushed in order when the replay ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

import msgspec
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from protocol import messages as p
from server.metrics import Metrics

log = logging.getLogger(__name__)

OPEN = State.OPEN

E = TypeVar("E", bound=p.EventBody)

_event = msgspec.json.Decoder(p.Event).decode


def _text_frame(data: bytes) -> bytes:
    """The websocket frame a server sends for ``data`` as one text message
    (unmasked, no extension): the same bytes websockets' ``send_text`` writes."""
    return Frame(Opcode.TEXT, data).serialize(mask=False)

ACCESS_REVOKED: str = p.AccessRevoked.__struct_config__.tag  # type: ignore[assignment]
CONVERSATION_UPDATED: str = p.ConversationUpdated.__struct_config__.tag  # type: ignore[assignment]
ALERT: str = p.Alert.__struct_config__.tag  # type: ignore[assignment]


class Listener(Protocol):
    """What the hub needs of one connection (server/ws/connection.py): its
    socket to write to, its backlog while it catches up, and what to do when
    the hub decides it must be dropped or told something."""

    ws: ServerConnection
    backlog: list[tuple[str, int, bytes]] | None
    """While catching up, live frames wait here (see Hub.deliver)."""

    def transport_buffered(self) -> int:
        """Bytes waiting in the socket's write buffer."""

    def drop_slow(self) -> None:
        """Outbound buffer over the limit: close it (4008); it resumes later."""

    def abandon(self) -> None:
        """Closing behind a buffer the peer does not read: cut it later."""

    def access_revoked(self, event: p.AccessRevoked) -> None:
        """Close it if it was opened with a token the event revokes."""

    def conversation_updated(self, stream: str, summary: p.ConversationSummary) -> None:
        """Unsubscribe it from ``stream`` if its agent may no longer see the conversation."""

    def go_away(self, reason: str) -> None:
        """Close it (1001): it reconnects, resumes, and is told what it missed or to reload."""

    def ring_rank(self) -> tuple[bool, float]:
        """(in front now, when it last came to the front): the highest rings."""

    def ring(self, stream: str, seq: int) -> None:
        """Tell it to ring the alert ``seq`` of ``stream`` (a ``ring`` frame)."""


class Rings(Protocol):
    """Rings across nodes (server/ws/ringing.py), when the node has peers."""

    def changed(self, agent_id: str) -> object:
        """The agent's screens here changed (logged in, left, front or not)."""

    def alert(self, agent_id: str, stream: str, seq: int) -> None:
        """Ring the agent's alert on one screen of theirs across nodes."""


class Hub:
    def __init__(self, *, max_buffer: int, metrics: Metrics, pauses_at: int | None = None) -> None:
        """``pauses_at``: the sockets' write limit (the buffered bytes above
        which the transport pauses the connection, ``Limits.write_limit``).
        When it is known and not above ``max_buffer``, a socket that is not
        paused cannot be over the limit, so ``deliver`` reads its buffer size
        only for paused or closing sockets, and writes the shared frame to
        the others; otherwise (a limit under the write limit) it reads every
        socket's buffer and sends through ``broadcast()``, as before."""
        self._streams: dict[str, set[Listener]] = {}
        self._max_buffer = max_buffer
        self._unpaused_fit = pauses_at is not None and pauses_at <= max_buffer
        self._metrics = metrics
        self.clients: set[Listener] = set()
        self._agent_of: dict[Listener, str] = {}
        self._screens: dict[str, int] = {}
        """Logged-in sockets per agent on this node: a count, not a set per
        agent (an idle agent's memory is mostly what the hub and its
        connection keep)."""
        self.on_first_listener: Callable[[str], None] | None = None
        """Connected by the node (the Redis broker subscribes the stream)."""
        self.on_last_listener: Callable[[str], None] | None = None
        self.rings: Rings | None = None
        """Connected by the node with Redis: one ringing screen per agent
        across nodes. None (one node): the best screen here rings."""

    def join(self, client: Listener) -> None:
        self.clients.add(client)

    def logged_in(self, client: Listener, agent_id: str) -> None:
        if client in self._agent_of:
            return
        self._agent_of[client] = agent_id
        self._screens[agent_id] = self._screens.get(agent_id, 0) + 1
        if self.rings is not None:
            self.rings.changed(agent_id)

    def leave(self, client: Listener) -> None:
        self.clients.discard(client)
        agent_id = self._agent_of.pop(client, None)
        if agent_id is not None:
            left = self._screens.pop(agent_id, 1) - 1
            if left > 0:
                self._screens[agent_id] = left
            if self.rings is not None:
                self.rings.changed(agent_id)

    def screen_changed(self, client: Listener) -> object:
        """A screen came to the front or left it: with peers, what the
        ringing across nodes must hear (awaitable: written once it ends)."""
        agent_id = self._agent_of.get(client)
        if self.rings is None or agent_id is None:
            return None
        return self.rings.changed(agent_id)

    def agents(self) -> list[str]:
        """The agents with a screen logged in here."""
        return list(self._screens)

    def best_screen(self, agent_id: str) -> Listener | None:
        """The agent's live screen here that rings: in front, else the most
        recently in front (not one still catching up)."""
        live = [c for c in self._streams.get(f"agent:{agent_id}", ()) if c.backlog is None and c.ws.state is State.OPEN]
        return max(live, key=lambda c: c.ring_rank()) if live else None

    def go_away(self, streams: set[str] | None, reason: str) -> None:
        """Close the connections listening to any of ``streams`` (all when
        None): after a broker resync they reconnect and resume or reload."""
        if streams is None:
            chosen = set(self.clients)
        else:
            chosen = {c for s in streams for c in self._streams.get(s, ())}
        for client in chosen:
            client.go_away(reason)

    def screens(self, agent_id: str) -> int:
        """How many sockets the agent has open on this node."""
        return self._screens.get(agent_id, 0)

    def listeners(self, stream: str) -> int:
        return len(self._streams.get(stream, ()))

    def attach(self, client: Listener, stream: str) -> None:
        clients = self._streams.get(stream)
        if clients is None:
            clients = self._streams[stream] = set()
            if self.on_first_listener is not None:
                self.on_first_listener(stream)
        clients.add(client)

    def detach(self, client: Listener, stream: str) -> None:
        clients = self._streams.get(stream)
        if clients is None:
            return
        clients.discard(client)
        if not clients:
            del self._streams[stream]
            if self.on_last_listener is not None:
                self.on_last_listener(stream)

    def deliver(self, stream: str, seq: int, kind: str, data: bytes) -> None:
        clients = self._streams.get(stream)
        if not clients:
            return
        if kind == CONVERSATION_UPDATED and stream.startswith("conv:"):
            self._revoke_lost_access(stream, data, clients)
        sent = 0
        frame = b""
        others: list[ServerConnection] = []
        ringing = kind == ALERT and stream.startswith("agent:")
        ringable: list[Listener] = []
        slow = []
        stuck = []
        limit = self._max_buffer
        unpaused_fit = self._unpaused_fit
        # Per socket, the common case (open, not paused, nothing else queued
        # on it) is attribute reads and one transport.write of the frame
        # built once for everyone; the buffer's size is read only for the few
        # sockets that may be over the limit or stuck; the rest go through
        # websockets' broadcast(), which frames the message per socket.
        for client in clients:
            ws = client.ws
            if client.backlog is not None:
                client.backlog.append((stream, seq, data))
                continue
            if unpaused_fit and not ws.paused and (protocol := ws.protocol).state is OPEN:
                if protocol.writes or protocol.extensions or protocol.expect_continuation_frame or ws.send_in_progress is not None:
                    others.append(ws)
                else:
                    frame = frame or _text_frame(data)
                    try:
                        ws.transport.write(frame)
                    except Exception as e:  # as broadcast(): one socket's failure stops no one else
                        log.warning("skipped delivery on %s: %s", stream, e)
                        continue
                    sent += 1
            elif (buffered := client.transport_buffered()) > limit:
                slow.append(client)
                continue
            elif buffered and ws.protocol.state is not OPEN:
                stuck.append(client)  # closing behind unread bytes: may never drain
                continue
            else:
                others.append(ws)
            if ringing:
                ringable.append(client)
        broadcast(others, data, text=True)
        self._metrics.deliveries.inc(sent + len(others))
        self._metrics.publications.inc()
        for client in slow:
            client.drop_slow()
        for client in stuck:
            client.abandon()
        if kind == ACCESS_REVOKED and stream.startswith("agent:"):
            self._close_revoked(data, clients)
        if ringing and ringable:
            if self.rings is not None:
                self.rings.alert(stream.removeprefix("agent:"), stream, seq)
            else:
                self._ring(stream, seq, ringable)

    @staticmethod
    def _ring(stream: str, seq: int, clients: list[Listener]) -> None:
        """One alert, one ringing screen: of the agent's live screens here
        (not one still catching up: the ring would pass its event), the one
        in front, else the one most recently in front. With several nodes,
        ``rings`` decides which node's screen it is."""
        max(clients, key=lambda c: c.ring_rank()).ring(stream, seq)

    @staticmethod
    def _body(data: bytes, cls: type[E]) -> E | None:
        """The event of a frame whose kind says the hub must act on it, or
        None (logged) if the bytes do not hold an event of that class: the
        frame was delivered all the same, and nothing else is done."""
        try:
            event = _event(data).event
        except (msgspec.MsgspecError, ValueError) as e:
            log.error("a %s frame could not be decoded (%s): not acted on", cls.__struct_config__.tag, e)
            return None
        if not isinstance(event, cls):
            log.error("a frame published as %s holds %s: not acted on", cls.__struct_config__.tag, type(event).__name__)
            return None
        return event

    def _close_revoked(self, data: bytes, clients: set[Listener]) -> None:
        """After telling them, close the sockets opened with a revoked token."""
        event = self._body(data, p.AccessRevoked)
        if event is None:
            return
        for client in list(clients):
            client.access_revoked(event)

    def _revoke_lost_access(self, stream: str, data: bytes, clients: set[Listener]) -> None:
        """A thread's viewers who may no longer see it (someone else took it
        from the inbox) get ``unsubscribed`` instead of the event. Each node
        decides from the summary in the event, so this holds across nodes."""
        event = self._body(data, p.ConversationUpdated)
        if event is None:
            return
        for client in list(clients):
            client.conversation_updated(stream, event.conversation)
