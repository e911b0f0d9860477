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
customer text, and it decodes them only for the two kinds it acts on. A
batch of publications (a lock storm, ``deliver_many``) reaches each socket as
all of its frames of the batch in one transport write.

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
import struct
from collections.abc import Callable
from typing import Protocol, TypeVar

import msgspec
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.frames import Opcode
from websockets.protocol import State

from protocol import messages as p
from server.metrics import Metrics

log = logging.getLogger(__name__)

OPEN = State.OPEN

E = TypeVar("E", bound=p.EventBody)

_event = msgspec.json.Decoder(p.Event).decode


def text_frame(data: bytes) -> bytes:
    """The websocket frame a server sends for ``data`` as one text message
    (unmasked, no extension): the same bytes websockets' ``send_text`` writes
    (``Frame(Opcode.TEXT, data).serialize(mask=False)``: FIN and the opcode,
    then the length in 7, 16 or 64 bits, then the data), made here in C calls
    (the library's takes ~5 Python calls: the frame's dataclass, its checks,
    a BytesIO). tests/ws/test_hub_deliver.py compares the two at every length
    boundary."""
    n = len(data)
    if n < 126:
        return _SHORT_HEADS[n] + data
    if n < 65536:
        return _pack_medium(_TEXT_FIN, 126, n) + data
    return _pack_long(_TEXT_FIN, 127, n) + data


_TEXT_FIN = 0x80 | Opcode.TEXT
_SHORT_HEADS = [bytes((_TEXT_FIN, n)) for n in range(126)]
_pack_medium = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack

ACCESS_REVOKED: str = p.AccessRevoked.__struct_config__.tag  # type: ignore[assignment]
CONVERSATION_UPDATED: str = p.ConversationUpdated.__struct_config__.tag  # type: ignore[assignment]
ALERT: str = p.Alert.__struct_config__.tag  # type: ignore[assignment]


_ACTED_ON = frozenset((ACCESS_REVOKED, CONVERSATION_UPDATED, ALERT))
"""Kinds whose delivery the hub acts on (see ``deliver``)."""


class WireFrames:
    """Each payload's text frame as a server sends it without extensions
    (``text_frame``: the same bytes for every socket), serialized once per batch."""

    def __init__(self) -> None:
        self._cache: dict[int, bytes] = {}
        self._joined: dict[str, bytes] = {}

    def __call__(self, data: bytes) -> bytes:
        wire = self._cache.get(id(data))
        if wire is None:
            wire = self._cache[id(data)] = text_frame(data)
        return wire

    def joined(self, frames: list[bytes], shared_as: str | None = None) -> bytes:
        """The frames' text frames in one buffer; with ``shared_as`` (a
        stream), built once for every socket given that stream's frames."""
        if shared_as is None:
            return b"".join(map(self, frames))
        out = self._joined.get(shared_as)
        if out is None:
            out = self._joined[shared_as] = b"".join(map(self, frames))
        return out


def _write_all(ws: ServerConnection, frames: list[bytes], wire: WireFrames, shared_as: str | None = None) -> bool:
    """Text frames to one open socket in one transport write, as
    ``websockets.broadcast`` would send each (no fragmented send running).
    A socket without extensions (compression is off on every agent socket)
    gets the frames serialized once for all (``shared_as``: and joined once
    for all, ``WireFrames.joined``); one with extensions, its own.
    False when it is not open (skipped, as broadcast skips it)."""
    if ws.protocol.state is not State.OPEN or ws.send_in_progress is not None:
        return False
    protocol = ws.protocol
    try:
        if protocol.extensions or protocol.writes or protocol.expect_continuation_frame:
            # Something else under way on it: through websockets, after what it queued.
            for data in frames:
                protocol.send_text(data)
            # Open, only text frames sent: no end-of-stream marker among the chunks.
            ws.transport.write(b"".join(protocol.data_to_send()))
        else:
            ws.transport.write(wire.joined(frames, shared_as))
    except Exception as e:
        log.warning("skipped a batch to a socket: %s", e)
        return False
    return True


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
        self._streams: dict[str, set[Listener] | tuple[Listener]] = {}
        """Listeners per stream: a stream with one listener (an agent's own
        stream, most often) holds a 1-tuple (48 B), a set (216 B) from the second on."""
        self._max_buffer = max_buffer
        self._unpaused_fit = pauses_at is not None and pauses_at <= max_buffer
        self._metrics = metrics
        self.clients: dict[Listener, str | None] = {}
        """Every connection on this node, with its agent once logged in (one
        table for both: an entry, not two, per idle agent)."""
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
        self.clients.setdefault(client, None)

    def logged_in(self, client: Listener, agent_id: str) -> None:
        if self.clients.get(client) is not None:
            return
        self.clients[client] = agent_id
        self._screens[agent_id] = self._screens.get(agent_id, 0) + 1
        if self.rings is not None:
            self.rings.changed(agent_id)

    def leave(self, client: Listener) -> None:
        agent_id = self.clients.pop(client, None)
        if agent_id is not None:
            left = self._screens.pop(agent_id, 1) - 1
            if left > 0:
                self._screens[agent_id] = left
            if self.rings is not None:
                self.rings.changed(agent_id)

    def screen_changed(self, client: Listener) -> object:
        """A screen came to the front or left it: with peers, what the
        ringing across nodes must hear (awaitable: written once it ends)."""
        agent_id = self.clients.get(client)
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
            self._streams[stream] = (client,)
            if self.on_first_listener is not None:
                self.on_first_listener(stream)
        elif isinstance(clients, tuple):
            if clients[0] is not client:
                self._streams[stream] = {clients[0], client}
        else:
            clients.add(client)

    def detach(self, client: Listener, stream: str) -> None:
        clients = self._streams.get(stream)
        if clients is None:
            return
        if isinstance(clients, tuple):
            if clients[0] is not client:
                return
        else:
            clients.discard(client)
            if len(clients) == 1:
                self._streams[stream] = (next(iter(clients)),)
                return
            if clients:
                return
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
                    frame = frame or text_frame(data)
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
        if others:  # broadcast() of nothing does nothing, in a few calls
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

    def deliver_many(self, batch: list[tuple[str, int, str, bytes]]) -> None:
        """A batch of publications (``Broker.publish_many``: a lock storm):
        the same as ``deliver`` for each in order, but each live socket gets
        all of its frames of the batch in one write (one syscall, not one per
        frame). A batch holding a kind the hub acts on goes one by one."""
        if any(kind in _ACTED_ON for _, _, kind, _ in batch):
            for stream, seq, kind, data in batch:
                self.deliver(stream, seq, kind, data)
            return
        streams = self._streams
        # The batch's frames of each stream someone here listens to, in order.
        by_stream: dict[str, list[bytes]] = {}
        publications = 0
        for stream, _seq, _kind, data in batch:
            if not streams.get(stream):
                continue
            publications += 1
            mine = by_stream.get(stream)
            if mine is None:
                by_stream[stream] = [data]
            else:
                mine.append(data)
        # Each listener's one stream of the batch, or None: several streams, or catching up.
        heard: dict[Listener, str | None] = {}
        for stream in by_stream:
            for client in streams[stream]:
                heard[client] = None if client in heard or client.backlog is not None else stream
        # Several streams: their frames interleaved in the batch's order (one
        # stream: that stream's list, shared, joined once for all its sockets).
        mixed = {client for client, one in heard.items() if one is None}
        frames: dict[Listener, list[bytes]] = {}
        if mixed:
            for stream, seq, _kind, data in batch:
                clients = streams.get(stream)
                if not clients or mixed.isdisjoint(clients):
                    continue
                for client in clients:
                    if client not in mixed:
                        continue
                    if client.backlog is not None:
                        client.backlog.append((stream, seq, data))
                    else:
                        mine = frames.get(client)
                        if mine is None:
                            frames[client] = [data]
                        else:
                            mine.append(data)
        limit = self._max_buffer
        delivered = 0
        wire = WireFrames()
        for client, one in heard.items():
            if one is None and client not in frames:
                continue  # catching up: its frames went to its backlog
            datas = by_stream[one] if one is not None else frames[client]
            buffered = client.transport_buffered()
            if buffered > limit:
                client.drop_slow()
            elif buffered and client.ws.state is not State.OPEN:
                client.abandon()
            elif _write_all(client.ws, datas, wire, one):
                delivered += len(datas)
        self._metrics.deliveries.inc(delivered)
        self._metrics.publications.inc(publications)

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

    def _close_revoked(self, data: bytes, clients: set[Listener] | tuple[Listener]) -> None:
        """After telling them, close the sockets opened with a revoked token."""
        event = self._body(data, p.AccessRevoked)
        if event is None:
            return
        for client in list(clients):
            client.access_revoked(event)

    def _revoke_lost_access(self, stream: str, data: bytes, clients: set[Listener] | tuple[Listener]) -> None:
        """A thread's viewers who may no longer see it (someone else took it
        from the inbox) get ``unsubscribed`` instead of the event. Each node
        decides from the summary in the event, so this holds across nodes."""
        event = self._body(data, p.ConversationUpdated)
        if event is None:
            return
        for client in list(clients):
            client.conversation_updated(stream, event.conversation)
