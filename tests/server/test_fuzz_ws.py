"""Property-based fuzzing of the agent websocket: arbitrary and near-valid
frames over a real socket to a real node. Every frame gets exactly one typed
answer (an ack, or an error with a known code), the connection stays usable,
and nothing a fuzzed command did leaves the store inconsistent."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from protocol import errors
from protocol import messages as p
from tests.conftest import make_config, token
from tests.threaded import ThreadedNode

CODES = {v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str)}
COMMAND_TAGS = sorted(cls.__struct_config__.tag for cls in p.COMMANDS)  # type: ignore[attr-defined]
FIELDS = ["conversation_id", "agent_id", "text", "query", "before", "limit", "disposition", "note",
          "touchpoint_id", "address", "template", "token", "resume"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)

near_valid = st.fixed_dictionaries(
    {"type": st.sampled_from(COMMAND_TAGS) | st.text(max_size=12), "id": st.text(max_size=8) | st.integers()},
    optional={f: json_values | st.sampled_from(["c_missing", "ana", "wa", "", "x" * 5000]) for f in FIELDS},
)

deep = st.integers(min_value=50, max_value=3000).map(lambda n: "[" * n + "]" * n)
frames = (
    near_valid.map(lambda d: json.dumps(d))
    | json_values.map(lambda v: json.dumps(v))
    | st.binary(max_size=200)
    | st.text(max_size=200)
    | deep
    | st.binary(max_size=50).map(lambda b: b'{"type":"ping","id":"' + b + b'"}')  # invalid UTF-8 inside JSON
)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedNode]:
    s = ThreadedNode(make_config(commands_per_second=1e6, command_burst=10**6))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def sock(server: ThreadedNode) -> Iterator[ClientConnection]:
    with connect(f"ws://127.0.0.1:{server.config.ws_port}/ws", compression=None, max_size=None) as ws:
        ws.send(p.encoder.encode(p.Hello(id="h", token=token("sofia"))).decode())
        assert isinstance(p.frame_decoder.decode(ws.recv(5)), p.Welcome)
        assert isinstance(p.frame_decoder.decode(ws.recv(5)), p.Snapshot)
        yield ws


def answer(ws: ClientConnection) -> p.ServerFrame:
    """The next ack or error (events may interleave)."""
    while True:
        frame = p.frame_decoder.decode(ws.recv(5))
        if isinstance(frame, (p.Ack, p.Error)):
            return frame


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=frames)
def test_any_frame_gets_one_typed_answer_and_the_socket_survives(
    server: ThreadedNode, sock: ClientConnection, frame: str | bytes
) -> None:
    sock.send(frame)
    reply = answer(sock)
    if isinstance(reply, p.Error):
        assert reply.code in CODES and reply.code != errors.INTERNAL, reply
    # Same socket, still in order: a ping right after is answered.
    sock.send('{"type":"ping","id":"after"}')
    after = answer(sock)
    assert isinstance(after, p.Ack) and after.id == "after"


def test_the_server_is_healthy_and_consistent_after_the_fuzzing(server: ThreadedNode, sock: ClientConnection) -> None:
    async def check() -> None:
        store = server.node.store
        for queue in ("sales", "support"):
            for conv in await store.inbox(queue):
                assert conv.assignee_id is None and conv.is_open
                assert len(await store.messages(conv.id, None, 10_000)) == conv.message_count

    server.call(check())
    sock.send('{"type":"ping","id":"final"}')
    assert isinstance(answer(sock), p.Ack)
    assert server.node.metrics.commands.value("ping", errors.INTERNAL) == 0
