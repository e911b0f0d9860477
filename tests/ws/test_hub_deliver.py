"""Hub.deliver's per-socket checks: the buffer's size is read only for a
socket that may be over the limit (paused by its transport) or closing; an
open, unpaused socket goes straight to broadcast() (issue 16: per delivery,
the hub's own Python is the only thing above websockets' broadcast)."""

from __future__ import annotations

from typing import cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from protocol import messages as p
from server.metrics import Metrics
from server.ws.hub import Hub, Listener, text_frame

LIMIT = 64 * 1024
PAUSES_AT = 32 * 1024


class _Protocol:
    def __init__(self, state: State) -> None:
        self.state = state
        self.sent: list[bytes] = []
        self.writes: list[bytes] = []
        self.extensions: list[object] = []
        self.expect_continuation_frame = False

    def send_text(self, data: bytes) -> None:
        self.sent.append(data)


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


class _Ws:
    """What broadcast() and the hub touch of a websockets connection."""

    def __init__(self, state: State = State.OPEN, paused: bool = False) -> None:
        self.protocol = _Protocol(state)
        self.transport = _Transport()
        self.paused = paused
        self.send_in_progress = None

    @property
    def state(self) -> State:
        return self.protocol.state

    def send_data(self) -> None:
        pass


class _Client:
    def __init__(self, buffered: int = 0, state: State = State.OPEN, paused: bool = False) -> None:
        self.ws = _Ws(state, paused)
        self.backlog: list[tuple[str, int, bytes]] | None = None
        self.buffered = buffered
        self.asked = 0
        self.dropped = False
        self.abandoned = False
        self.rung: list[int] = []

    def transport_buffered(self) -> int:
        self.asked += 1
        return self.buffered

    def drop_slow(self) -> None:
        self.dropped = True

    def abandon(self) -> None:
        self.abandoned = True

    def ring_rank(self) -> tuple[bool, float]:
        return (False, 0.0)

    def ring(self, stream: str, seq: int) -> None:
        self.rung.append(seq)

    @property
    def sent(self) -> list[bytes]:
        """Messages it got, framed by the hub or by broadcast()."""
        framed = [_payload(f) for f in self.ws.transport.written]
        return framed + self.ws.protocol.sent


def _payload(frame: bytes) -> bytes:
    """The message of one unmasked text frame, read back with websockets' own parser."""
    client = ClientProtocol(parse_uri("ws://x/"), state=State.OPEN)
    client.receive_data(frame)
    events = client.events_received()
    assert len(events) == 1 and isinstance(events[0], Frame) and events[0].opcode is Opcode.TEXT and events[0].fin
    return bytes(events[0].data)


def _hub(pauses_at: int | None = PAUSES_AT) -> Hub:
    return Hub(max_buffer=LIMIT, metrics=Metrics(), pauses_at=pauses_at)


def _attach(hub: Hub, stream: str, *clients: _Client) -> None:
    for c in clients:
        hub.join(cast(Listener, c))
        hub.attach(cast(Listener, c), stream)


def test_open_unpaused_sockets_get_the_frame_without_their_buffer_being_read() -> None:
    hub = _hub()
    clients = [_Client() for _ in range(5)]
    _attach(hub, "queue:q", *clients)
    hub.deliver("queue:q", 1, "inbox.added", b"frame")
    assert [c.sent for c in clients] == [[b"frame"]] * 5
    assert [c.asked for c in clients] == [0] * 5


def test_a_paused_socket_over_the_limit_is_dropped_and_not_written() -> None:
    hub = _hub()
    slow, paused_under, fine = _Client(LIMIT + 1, paused=True), _Client(PAUSES_AT + 1, paused=True), _Client()
    _attach(hub, "queue:q", slow, paused_under, fine)
    hub.deliver("queue:q", 1, "inbox.added", b"frame")
    assert slow.dropped and slow.sent == []
    assert not paused_under.dropped and paused_under.sent == [b"frame"]
    assert fine.sent == [b"frame"]


def test_a_closing_socket_with_unread_bytes_is_abandoned() -> None:
    hub = _hub()
    closing = _Client(100, state=State.CLOSING)
    _attach(hub, "queue:q", closing)
    hub.deliver("queue:q", 1, "inbox.added", b"frame")
    assert closing.abandoned and closing.sent == []


def test_without_a_pause_mark_under_the_limit_every_buffer_is_read() -> None:
    # A write limit above the hub's limit (or unknown): an unpaused socket may
    # be over the limit, so its buffer is read.
    for hub in (_hub(pauses_at=None), _hub(pauses_at=LIMIT * 2)):
        over = _Client(LIMIT + 1)
        _attach(hub, "queue:q", over)
        hub.deliver("queue:q", 1, "inbox.added", b"frame")
        assert over.asked == 1 and over.dropped and over.sent == []


def test_an_alert_rings_a_screen_that_got_it_not_one_catching_up_or_dropped() -> None:
    hub = _hub()
    catching_up, slow, live = _Client(), _Client(LIMIT + 1, paused=True), _Client()
    catching_up.backlog = []
    _attach(hub, "agent:ana", catching_up, slow, live)
    kind = str(p.Alert.__struct_config__.tag)
    hub.deliver("agent:ana", 7, kind, b"frame")
    assert live.rung == [7] and catching_up.rung == [] and slow.rung == []
    assert catching_up.backlog == [("agent:ana", 7, b"frame")]



def test_the_frame_is_built_once_and_is_what_websockets_would_send() -> None:
    for size in (0, 1, 124, 125, 126, 127, 1000, 65534, 65535, 65536, 65537, 200_000):
        data = b"x" * size
        server = ServerProtocol(state=State.OPEN)
        server.send_text(data)
        assert text_frame(data) == b"".join(server.data_to_send())
    hub = _hub()
    clients = [_Client() for _ in range(3)]
    _attach(hub, "queue:q", *clients)
    hub.deliver("queue:q", 1, "inbox.added", b"frame")
    written = [c.ws.transport.written[0] for c in clients]
    assert all(w is written[0] for w in written)  # one bytes object for every socket
    assert all(c.ws.protocol.sent == [] for c in clients)


def test_a_socket_with_something_under_way_gets_the_message_through_websockets() -> None:
    # Bytes websockets has not flushed yet (they must go first), an
    # extension, a fragmented message under way: websockets frames it.
    hub = _hub()
    pending, extended, fragmenting = _Client(), _Client(), _Client()
    pending.ws.protocol.writes.append(b"pong")
    extended.ws.protocol.extensions.append(object())
    fragmenting.ws.protocol.expect_continuation_frame = True
    _attach(hub, "queue:q", pending, extended, fragmenting)
    hub.deliver("queue:q", 1, "inbox.added", b"frame")
    for c in (pending, extended, fragmenting):
        assert c.ws.transport.written == [] and c.ws.protocol.sent == [b"frame"]


def _payloads(written: bytes) -> list[bytes]:
    client = ClientProtocol(parse_uri("ws://x/"), state=State.OPEN)
    client.receive_data(written)
    return [bytes(e.data) for e in client.events_received() if isinstance(e, Frame)]


def test_a_batch_writes_each_socket_its_frames_at_once_sockets_of_one_stream_one_buffer() -> None:
    """``deliver_many`` (a lock storm's chunk): per socket one write, its
    frames in the batch's order; the sockets hearing one stream of the batch
    are written the same bytes object, built once; one on two streams gets
    them interleaved; one catching up, its backlog in order."""
    hub = _hub()
    queue_only = [_Client() for _ in range(3)]
    both, catching_up = _Client(), _Client()
    catching_up.backlog = []
    _attach(hub, "queue:q", *queue_only)
    _attach(hub, "queue:q", both, catching_up)
    for c in (both, catching_up):
        hub.attach(cast(Listener, c), "conv:c1")
    batch = [("queue:q", 1, "inbox.updated", b"q1"), ("conv:c1", 1, "session.locked", b"c1"),
             ("queue:q", 2, "session.locked", b"q2"), ("conv:c9", 1, "session.locked", b"nobody"),
             ("conv:c1", 2, "message.created", b"c2")]  # fmt: skip
    hub.deliver_many(batch)
    written = [c.ws.transport.written for c in queue_only]
    assert all(len(w) == 1 and w[0] is written[0][0] for w in written)  # one buffer for every socket of the stream
    assert _payloads(written[0][0]) == [b"q1", b"q2"]
    assert len(both.ws.transport.written) == 1 and _payloads(both.ws.transport.written[0]) == [b"q1", b"c1", b"q2", b"c2"]
    assert catching_up.ws.transport.written == []
    assert catching_up.backlog == [("queue:q", 1, b"q1"), ("conv:c1", 1, b"c1"), ("queue:q", 2, b"q2"), ("conv:c1", 2, b"c2")]
