"""Property-based fuzzing of both webhook endpoints over real HTTP: signed,
near-valid Meta envelopes (real shapes with mutated leaves: wrong types,
missing fields, huge strings, out-of-range numbers) and arbitrary bodies.
Never a 5xx, never a partial write: every stored conversation is whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from server.channels.signature import HEADER, sign
from server.config import MetaSettings
from tests.channels import payloads as pl
from tests.conftest import make_config
from tests.threaded import ThreadedNode

SECRET = "fuzz-app-secret"

leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.just("x" * 20_000)
    | st.lists(st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)
)


def mutate(doc: Any, data: st.DataObject, depth: int = 0) -> Any:
    """Walk a real payload; at each node maybe replace, drop or keep."""
    choice = data.draw(st.integers(0, 9), label="op")
    if depth > 0 and choice == 0:
        return data.draw(leaf, label="leaf")
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            if data.draw(st.integers(0, 12), label="drop") == 0:
                continue  # a missing field
            out[k] = mutate(v, data, depth + 1)
        return out
    if isinstance(doc, list):
        return [mutate(v, data, depth + 1) for v in doc]
    return doc


def seeds() -> list[tuple[str, dict[str, Any]]]:
    wa_media = pl.wa_message("image", {"id": "123", "mime_type": "image/jpeg", "caption": "nota"})
    return [
        ("whatsapp", pl.wa_inbound(pl.wa_text("olá"), pl.wa_text("tudo bem?"))),
        ("whatsapp", pl.wa_inbound(wa_media)),
        ("whatsapp", pl.wa_statuses(pl.wa_status("wamid.X", "read"))),
        ("messenger", pl.fb_envelope(pl.fb_text("hi"), pl.fb_text("there"))),
        ("messenger", pl.fb_envelope(pl.fb_delivery(pl.now_ms()), pl.fb_read(pl.now_ms()))),
    ]


@pytest.fixture(scope="module")
def node() -> Iterator[ThreadedNode]:
    config = make_config()
    config = replace(config, meta=MetaSettings(app_secret=SECRET, verify_token="v"))
    n = ThreadedNode(config)
    yield n
    n.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def post(node: ThreadedNode, http: httpx.Client, channel: str, body: bytes) -> int:
    url = f"http://127.0.0.1:{node.config.server.port}/webhooks/{channel}"
    return http.post(url, content=body, headers={HEADER: sign(SECRET, body)}).status_code


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_near_valid_envelopes_never_fail_the_server(node: ThreadedNode, http: httpx.Client, data: st.DataObject) -> None:
    channel, seed = data.draw(st.sampled_from(seeds()), label="seed")
    body = msgspec.json.encode(mutate(seed, data))
    assert post(node, http, channel, body) in (200, 400)


@pytest.mark.parametrize("receipt", [pl.fb_read, pl.fb_delivery])
def test_a_receipt_without_a_sender_is_refused_not_retried(node: ThreadedNode, http: httpx.Client, receipt: Any) -> None:
    """Found by the fuzzing above: a read or delivery receipt whose sender id
    is empty named nobody, and the server answered 503 (Meta would retry it
    forever). It is refused as an item and the batch acknowledged."""
    body = msgspec.json.encode(pl.fb_envelope(receipt(pl.now_ms(), psid="")))
    assert post(node, http, "messenger", body) == 200


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(channel=st.sampled_from(["whatsapp", "messenger"]), body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bodies_are_refused_cleanly(node: ThreadedNode, http: httpx.Client, channel: str, body: bytes) -> None:
    assert post(node, http, channel, body) in (200, 400)


def test_nothing_half_stored_after_the_fuzzing(node: ThreadedNode) -> None:
    async def check() -> int:
        store = node.node.store
        conversations = 0
        for queue in ("sales", "support"):
            for conv in await store.inbox(queue):
                conversations += 1
                messages = await store.messages(conv.id, None, 100_000)
                assert [m.seq for m in messages] == list(range(1, conv.message_count + 1))
                assert await store.get_contact(conv.contact_id) is not None
        return conversations

    assert node.call(check()) > 0, "no fuzzed message was ever stored: the fuzzing proved little"
