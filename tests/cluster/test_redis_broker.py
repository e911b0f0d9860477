"""RedisBroker against a real redis-server: two brokers play two nodes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import pytest
from redis import Redis as SyncRedis

from protocol import messages as p
from server.core.model import Inbound
from server.redis.broker import PUBLISH, READ_RUN, BrokerUnavailable, RedisBroker
from tests.cluster.conftest import wait_until
from tests.cluster.proxy import Proxy
from tests.cluster.redisproc import RedisProcess

STREAM = "queue:sales"


def event(n: int, text: str = "") -> p.AnyEvent:
    return p.NoteAdded(note=p.NoteView(id=f"n{n}", conversation_id="c1", author_id="ana", text=text or f"note {n}", at=n))


class Heard:
    """What one node's hub would receive: every frame, checked in order."""

    def __init__(self) -> None:
        self.frames: dict[str, list[int]] = {}
        self.resyncs: list[tuple[set[str] | None, str]] = []
        self.kinds: list[str] = []

    def __call__(self, stream: str, seq: int, kind: str, data: bytes) -> None:
        frame = msgspec.json.decode(data, type=p.Event)
        assert frame.stream == stream and frame.seq == seq
        assert kind == frame.event.__struct_config__.tag  # the kind travels beside the bytes, live and replayed
        self.kinds.append(kind)
        self.frames.setdefault(stream, []).append(seq)

    def seqs(self, stream: str = STREAM) -> list[int]:
        return self.frames.get(stream, [])


async def make_broker(url: str, heard: Heard | None = None, **kw: object) -> RedisBroker:
    kw = {"heartbeat_seconds": 0.2, "watchdog_seconds": 1.0, "backoff": (0.05, 0.3), **kw}
    broker = RedisBroker(url, **kw)  # type: ignore[arg-type]
    if heard is not None:
        broker.on_publication = heard
        broker.on_resync = lambda streams, reason: heard.resyncs.append((streams, reason))
    await broker.start()
    return broker


@pytest.fixture
async def brokers(redis_url: str) -> AsyncIterator[Callable[..., object]]:
    made: list[RedisBroker] = []

    async def make(heard: Heard | None = None, url: str = redis_url, **kw: object) -> RedisBroker:
        b = await make_broker(url, heard, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        await b.close()


async def test_publication_reaches_only_nodes_that_listen(brokers) -> None:  # type: ignore[no-untyped-def]
    heard_a, heard_b = Heard(), Heard()
    a = await brokers(heard_a)
    b = await brokers(heard_b)
    a.listen(STREAM)
    await a.subscribe(STREAM)
    assert await b.publish(STREAM, event(1)) == 1
    assert await b.publish(STREAM, event(2)) == 2
    assert await b.publish("queue:support", event(3)) == 1
    await wait_until(lambda: heard_a.seqs() == [1, 2], 5, "a hears both")
    assert heard_b.frames == {}  # b has no listener: it never subscribed
    assert "queue:support" not in heard_a.frames
    assert a.epoch == b.epoch != ""
    assert await a.positions([STREAM, "queue:support", "agent:x"]) == {STREAM: 2, "queue:support": 1, "agent:x": 0}
    history = await a.history(STREAM, 0)
    assert history is not None and [s for s, _ in history] == [1, 2]
    assert msgspec.json.decode(history[1][1], type=p.Event) == p.Event(stream=STREAM, seq=2, event=event(2))
    assert await a.history(STREAM, 2) == []
    assert await a.history(STREAM, 5) is None  # ahead of the stream: another epoch

    # Last listener gone: a unsubscribes and hears nothing more.
    a.unlisten(STREAM)
    assert await b.publish(STREAM, event(4)) == 3
    a.listen(STREAM)
    await a.subscribe(STREAM)
    assert await b.publish(STREAM, event(5)) == 4
    await wait_until(lambda: heard_a.seqs()[-1:] == [4], 5, "a hears seq 4")
    assert heard_a.seqs() == [1, 2, 4]  # seq 3 came while nobody here listened


async def test_gap_older_than_history_is_none(brokers) -> None:  # type: ignore[no-untyped-def]
    b = await brokers(history_size=10)
    for n in range(300):
        await b.publish(STREAM, event(n))
    assert await b.history(STREAM, 1) is None
    recent = await b.history(STREAM, 295)
    assert recent is not None and [s for s, _ in recent] == [296, 297, 298, 299, 300]


async def test_subscriber_dropped_for_output_buffer_recovers_every_publication(brokers, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.cluster.redisproc import shared_redis

    heard = Heard()
    a = await brokers(heard)
    b = await brokers()
    a.listen(STREAM)
    await a.subscribe(STREAM)
    await b.publish(STREAM, event(1))
    await wait_until(lambda: heard.seqs() == [1], 5, "first")
    redis = shared_redis()
    redis.command("CONFIG", "SET", "client-output-buffer-limit", "pubsub 1024 1024 0")
    try:
        await b.publish(STREAM, event(2, "x" * 100_000))  # over the limit: Redis drops a's subscriber
        await wait_until(lambda: a.reconnects.value("connection") >= 1, 5, "a notices the drop")
    finally:
        redis.command("CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60")
    for n in range(3, 30):
        await b.publish(STREAM, event(n))
    await wait_until(lambda: heard.seqs()[-1:] == [29], 10, "a caught up")
    assert heard.seqs() == list(range(1, 30))  # the dropped one and those during the reconnect, once each
    assert heard.resyncs == []


async def test_deaf_subscriber_is_detected_by_the_watchdog(brokers, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.cluster.redisproc import shared_redis

    proxy = await Proxy(shared_redis().port).start()
    try:
        heard = Heard()
        a = await brokers(heard, url=proxy.url)
        b = await brokers()
        a.listen(STREAM)
        await a.subscribe(STREAM)
        await b.publish(STREAM, event(1))
        await wait_until(lambda: heard.seqs() == [1], 5, "first")
        proxy.freeze()  # a's sockets stay open but nothing arrives: half-open
        for n in range(2, 12):
            await b.publish(STREAM, event(n))
        await wait_until(lambda: heard.seqs()[-1:] == [11], 10, "a recovers through a new connection")
        assert heard.seqs() == list(range(1, 12))
        assert a.reconnects.value("watchdog") >= 1
    finally:
        await proxy.close()


async def test_lost_data_means_a_new_epoch_and_a_resync(brokers, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.cluster.redisproc import shared_redis

    heard = Heard()
    a = await brokers(heard)
    a.listen(STREAM)
    await a.subscribe(STREAM)
    old = a.epoch
    for n in range(5):
        await a.publish(STREAM, event(n))
    await wait_until(lambda: len(heard.seqs()) == 5, 5, "five")
    redis = shared_redis()
    redis.command("FLUSHALL")  # as a restart without persistence would
    redis.command("CLIENT", "KILL", "TYPE", "pubsub")
    await wait_until(lambda: a.epoch != old, 5, "new epoch")
    assert heard.resyncs and heard.resyncs[0][0] is None
    await wait_until(lambda: a.healthy, 5, "healthy again")
    assert await a.publish(STREAM, event(9)) == 1  # sequences restart under the new epoch
    await wait_until(lambda: heard.seqs()[-1:] == [1], 5, "hears the new sequence")


async def test_publish_many_numbers_and_delivers_like_publish_one_by_one(brokers) -> None:  # type: ignore[no-untyped-def]
    """A lock storm's batch, pipelined: each stream's seqs run on gap-free,
    in order, after and before single publications; one event object for
    two streams is the same bytes on both."""
    heard = Heard()
    a = await brokers(heard)
    b = await brokers()
    for stream in (STREAM, "conv:c1"):
        a.listen(stream)
        await a.subscribe(stream)
    await b.publish(STREAM, event(0))
    shared = event(99, "on both")
    batch = [(STREAM, event(n)) for n in range(1, 300)] + [(STREAM, shared), ("conv:c1", shared)]
    await b.publish_many(batch)
    assert await b.publish(STREAM, event(400)) == 302
    await wait_until(lambda: len(heard.seqs()) == 302 and heard.seqs("conv:c1") == [1], 5, "a hears every one")
    assert heard.seqs() == list(range(1, 303))
    replay = await a.history(STREAM, 0)
    assert replay is not None and [seq for seq, _ in replay][-3:] == [300, 301, 302]
    texts = [msgspec.json.decode(data)["event"]["note"]["text"] for _, data in replay]
    assert texts[1:4] == ["note 1", "note 2", "note 3"] and texts[-2] == "on both"


async def test_a_run_read_at_once_reaches_the_hub_in_one_call_in_order(brokers) -> None:  # type: ignore[no-untyped-def]
    """A storm's publications arrive together: the reader hands each run it
    read from its buffer to ``on_publications`` at once (so the hub writes a
    socket's frames of the run in one write), in the order published, each
    seq once, the kinds beside them; runs are at most ``READ_RUN`` long."""
    heard = Heard()
    runs: list[int] = []

    def many(run: list[tuple[str, int, str, bytes]]) -> None:
        runs.append(len(run))
        for stream, seq, kind, data in run:
            heard(stream, seq, kind, data)

    a = await brokers(heard)
    a.on_publications = many
    b = await brokers()
    for stream in (STREAM, "conv:c1"):
        await a.subscribe(stream)
    await b.publish_many([(STREAM if n % 3 else "conv:c1", event(n)) for n in range(600)])
    await wait_until(lambda: sum(runs) == 600, 5, "a hears every one")
    assert heard.seqs() == list(range(1, 401)) and heard.seqs("conv:c1") == list(range(1, 201))
    assert max(runs) > 1, f"one call per publication: {runs}"
    assert max(runs) <= READ_RUN and len(runs) < 600
    assert set(heard.kinds) == {"note.added"}


async def test_handed_over_returns_once_the_hub_has_every_frame_up_to_the_positions(brokers, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    """Positions read from Redis may run ahead of a node's reader (not read
    yet, or read in a run not handed over yet): a client going live waits in
    ``handed_over`` until its node's hub has every frame up to them, so none
    of them reaches it again live after its snapshot or replay. Here the
    publications and the positions are made with a blocking client, so the
    node's reader has read none of them when ``handed_over`` is asked."""
    heard = Heard()
    a = await brokers(heard)
    await a.subscribe(STREAM)
    await a.subscribe("queue:other")
    blocking = SyncRedis.from_url(redis_url)
    publish = blocking.register_script(PUBLISH)
    try:
        for burst in range(5):
            encoded = [(STREAM, "note.added", p.encoder.encode(event(burst * 100 + n))) for n in range(100)]
            keys, args = a._publications(encoded)
            publish(keys=keys, args=args)  # the loop is held: a's reader reads nothing meanwhile
            positions = {STREAM: int(blocking.get(a._seq_key(STREAM))), "queue:other": 0, "not:listened": 7}
            assert heard.seqs()[-1:] != [positions[STREAM]]  # behind, for certain
            await a.handed_over(positions)
            assert heard.seqs()[-1] == positions[STREAM] == (burst + 1) * 100
    finally:
        blocking.close()
    assert heard.seqs() == list(range(1, 501))


async def test_publication_lost_while_redis_is_down_bumps_the_epoch(tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path / "r", aof=True).start()
    heard_a, heard_b = Heard(), Heard()
    a = await make_broker(redis.url, heard_a, publish_timeout=0.3)
    b = await make_broker(redis.url, heard_b)
    try:
        old = a.epoch
        redis.kill()
        await wait_until(lambda: not a.healthy and not b.healthy, 5, "both unhealthy")
        with pytest.raises(BrokerUnavailable):
            await a.publish(STREAM, event(1))
        with pytest.raises(BrokerUnavailable):
            await a.positions([STREAM])
        redis.start()
        await wait_until(lambda: a.healthy and b.healthy and a.epoch == b.epoch != old, 10, "both on a new epoch")
        assert (None, "epoch_changed") in heard_a.resyncs and (None, "epoch_changed") in heard_b.resyncs
    finally:
        await a.close()
        await b.close()
        redis.stop()


async def test_a_change_stored_while_its_events_are_lost_is_acknowledged_then_reloaded(tmp_path: Path) -> None:
    """The store took the change, the broker could not publish it: the agent
    is told "done" (it was), and every screen reloads once Redis is back."""
    from server.store.memory import MemoryStore
    from tests.conftest import make_config, start_node, token
    from tests.wsagent import WsAgent

    redis = RedisProcess(tmp_path / "r", aof=True).start()
    config = make_config(redis_url=redis.url, publish_timeout_seconds=0.3)
    node, server, task = await start_node(config, store=MemoryStore())
    url = f"ws://127.0.0.1:{config.ws_port}/ws"
    try:
        made = await node.app.intake.receive("wa", "5511911112222", Inbound(kind="text", text="oi", at=node.app.clock()))
        assert made is not None
        ana = await WsAgent.connect(url, token("ana"), name="ana")
        redis.kill()
        await wait_until(lambda: not node.ready, 5, "not ready")
        result = await ana.call(p.Claim, conversation_id=made.after.id)
        assert result.conversation.assignee_id == "ana"  # stored: acknowledged, not "unavailable"
        assert (await node.store.get_conversation(made.after.id)).assignee_id == "ana"  # type: ignore[union-attr]
        redis.start()
        await ana.wait_for(lambda: ana.close_code is not None, timeout=15)  # made to reload
        # As a client does on 1001: reconnect and resume until the node takes it
        # (the broker can report unhealthy once more while Redis loads its AOF:
        # the hello is then refused ``unavailable``, closed 1001).
        for attempt in range(20):
            await wait_until(lambda: node.ready, 10, "ready again")
            try:
                again = await WsAgent.connect(url, token("ana"), resume=ana.resume_point(), name="ana")
                break
            except ConnectionError:
                if attempt == 19:
                    raise
        assert again.resynced and [c.id for c in again.snapshot.assigned] == [made.after.id]  # type: ignore[union-attr]
        await again.close()
    finally:
        server.should_exit = True
        await task
        await node.stop()
        redis.stop()


async def test_a_publication_from_an_older_node_gets_its_kind_from_its_json(brokers) -> None:  # type: ignore[no-untyped-def]
    """Payloads and history entries written before the kind header existed
    ("<seq>:<json>", no ``k`` field) still reach the hub with their kind."""
    heard = Heard()
    a = await brokers(heard)
    a.listen(STREAM)
    await a.subscribe(STREAM)
    r = a._r
    for seq in (1, 2, 3):
        await r.incr(a._seq_key(STREAM))
        await r.xadd(a._hist_key(STREAM), {"e": msgspec.json.encode(event(seq))}, id=f"0-{seq}")
    await r.publish(a._channel(STREAM), b"1:" + msgspec.json.encode(event(1)))
    await r.publish(a._channel(STREAM), b"3:" + msgspec.json.encode(event(3)))  # 2 comes from the history
    await wait_until(lambda: heard.seqs() == [1, 2, 3], 5, "a hears all three, each with its kind")
    assert heard.kinds == ["note.added"] * 3


def test_hot_commands_go_to_redis_as_the_bytes_redis_py_would_send() -> None:
    """``as_bytes`` (the commit's and the publications' arguments): what
    redis-py's encoder makes of each, UTF-8 for text."""
    from redis._parsers.encoders import Encoder

    from server.redis.store import as_bytes

    items: list[str | bytes] = ["c:1", b"\x00\xff", "Sofía ✓", "", "300"]
    encoder = Encoder("utf-8", "strict", False)
    assert as_bytes(items) == [encoder.encode(i) for i in items]
