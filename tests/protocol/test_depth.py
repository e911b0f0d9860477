"""The nesting check that runs before any decoder sees untrusted JSON."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import errors
from protocol import messages as p
from protocol.depth import MAX_DEPTH, TooDeep, decode, depth, too_deep
from server.channels import messenger, whatsapp
from server.channels.errors import BadPayload
from server.metrics import Metrics
from server.ws.session import decode_command

values = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ aé\n', max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=4), inner, max_size=3),
    max_leaves=40,
)


def nesting(v: Any) -> int:
    if isinstance(v, list):
        return 1 + max(map(nesting, v), default=0)
    if isinstance(v, dict):
        return 1 + max(map(nesting, v.values()), default=0)
    return 0


@given(v=values)
def test_depth_counts_containers_and_never_brackets_inside_strings(v: Any) -> None:
    text = json.dumps(v, ensure_ascii=False)
    assert depth(text) == depth(text.encode()) == nesting(v)


def test_the_limit_is_exact() -> None:
    assert not too_deep("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert too_deep("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert too_deep('{"a":' * (MAX_DEPTH + 1))  # never closed: still counted
    assert not too_deep('{"text":"' + "[" * 10_000 + '"}')  # a message about brackets
    assert not too_deep(b'["\\"[[[[' + b"[" * 100 + b'"]')  # an escaped quote does not end the string
    assert not too_deep('"' + "[" * 10_000)  # an unterminated string swallows the rest


def test_decode_refuses_as_a_decode_error_and_decodes_the_rest() -> None:
    with pytest.raises(msgspec.DecodeError, match="nested more than 64"):
        decode("[" * 100_000 + "]" * 100_000)
    assert isinstance(TooDeep(), msgspec.DecodeError)
    assert decode(b'{"a":[1,{"b":2}]}') == {"a": [1, {"b": 2}]}


@pytest.fixture
def gc_on_every_allocation() -> Iterator[list[str]]:
    """The node's gc pause timer, called on nearly every allocation; what it
    fails with (a gc callback's exception goes to ``sys.unraisablehook``)."""
    failures: list[str] = []
    metrics = Metrics()

    def hook(u: Any) -> None:
        failures.append(f"{u.exc_type.__name__}: {u.exc_value}")

    threshold, before = gc.get_threshold(), sys.unraisablehook
    metrics.watch_gc(True)
    sys.unraisablehook = hook
    gc.set_threshold(1)
    try:
        yield failures
    finally:
        gc.set_threshold(*threshold)
        sys.unraisablehook = before
        metrics.watch_gc(False)
    assert len(metrics.gc_pauses.render()) > 2, "the collector never ran: the test proves nothing"


def test_a_deep_frame_never_drives_the_stack_to_the_limit(gc_on_every_allocation: list[str]) -> None:
    """A frame nested about as deep as the recursion limit used to be decoded
    to its bottom, where a collection ran the metrics' gc callback with no
    stack left ("Exception ignored in Metrics._on_gc", a flaky CI failure of
    the websocket fuzzing). Deep frames are now refused unread."""
    frames = [*frames_up_to_twice_the_recursion_limit(), b'{"type":"ping","x":' + b"[" * 100000]
    replies = [decode_command(frame) for frame in frames]
    assert gc_on_every_allocation == []
    for reply in replies:
        assert isinstance(reply, p.Error) and reply.code == errors.BAD_FRAME and "64 levels" in reply.message


def frames_up_to_twice_the_recursion_limit(prefix: str = "", suffix: str = "") -> list[bytes]:
    """One frame per depth, from just past MAX_DEPTH to twice the
    interpreter's recursion limit: one of them would take a decoder to that
    limit exactly, wherever the test's own stack stands."""
    deepest = 2 * sys.getrecursionlimit()
    return [(prefix + "[" * n + "]" * n + suffix).encode() for n in range(MAX_DEPTH + 1, deepest)]


@pytest.mark.parametrize("channel", [whatsapp, messenger], ids=["whatsapp", "messenger"])
def test_a_deep_webhook_is_refused_unread(channel: Any, gc_on_every_allocation: list[str]) -> None:
    """The whole body is refused (400), not decoded down to each entry."""
    refused = []
    envelope = f'{{"object":"{channel.OBJECT}","entry":[{{"messaging":'
    for body in frames_up_to_twice_the_recursion_limit(envelope, "}]}"):
        with pytest.raises(BadPayload) as e:
            channel.parse(body)
        refused.append(e.value)
    assert gc_on_every_allocation == []
    assert all("64 levels" in str(e) for e in refused)
