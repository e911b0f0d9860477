"""A send with an idempotency key goes out once, even when its ack is lost
and the agent sends it again through another node: two nodes on one real
Redis, Meta's stand-in (tests/channels/metastub.py) counting what arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect

from protocol import messages as p
from tests.channels.metastub import MetaStub
from tests.cluster.conftest import Cluster
from tests.conftest import token

WA_TOKEN = "EAAtoken-idempotent"


@pytest.fixture
async def meta() -> AsyncIterator[MetaStub]:
    stub = MetaStub(tokens={"100200300": WA_TOKEN})
    await stub.start()
    yield stub
    await stub.stop()


def texts(meta: MetaStub) -> list[str]:
    return [s.body.get("text", {}).get("body", "") for s in meta.sent]


async def lost_ack(url: str, command: p.Command, meta: MetaStub, n: int) -> None:
    """Send ``command`` and cut the connection without reading its answer,
    once Meta has seen ``n`` sends (the first attempt got through)."""
    ws = await connect(url, compression=None)
    await ws.send(p.encoder.encode(p.Hello(id="hello", token=token("ana"))).decode())
    assert isinstance(p.frame_decoder.decode(await ws.recv()), p.Welcome)
    await ws.send(p.encoder.encode(command).decode())
    await meta.wait_sent(n, timeout=10)
    ws.transport.abort()  # no close handshake: the ack, if written, is never read


async def test_a_send_retried_on_another_node_after_a_lost_ack_goes_out_once(
    cluster: Cluster, http: httpx.AsyncClient, meta: MetaStub
) -> None:
    extra = "\n".join(["[meta]", 'app_secret = "s"', 'verify_token = "v"', f'graph_api_base = "{meta.base}"'])
    n1, n2 = await cluster.start(http, 2, extra=extra, wa_token=WA_TOKEN)
    ana2 = await cluster.agent(n2, "ana")
    assert (await n1.inbound(http, "Olá")).status_code == 200
    conv_id = (await ana2.event(p.InboxAdded, timeout=10)).conversation.id
    await ana2.call(p.Claim, conversation_id=conv_id)

    once = p.SendMessage(id="c1", conversation_id=conv_id, text="once", idempotency_key="k-7f3a")
    await lost_ack(n1.ws_url, once, meta, 1)
    # The agent's screen reconnects to the other node and sends it again.
    again = await ana2.call(p.SendMessage, conversation_id=conv_id, text="once", idempotency_key="k-7f3a")
    thread = await ana2.call(p.Open, conversation_id=conv_id)
    first = next(m for m in thread.messages if m.direction == "out")
    assert again.message.id == first.id, "the repeat answers the first send's message"

    # A later send is the barrier: whatever the repeat had queued for Meta went before it.
    await ana2.call(p.SendMessage, conversation_id=conv_id, text="later", idempotency_key="k-8b1c")
    await meta.wait_sent(2, timeout=10)
    await ana2.event(p.MessageUpdated, lambda e: e.message.text == "later" and e.message.status == "sent", timeout=10)
    assert texts(meta) == ["once", "later"]
    thread = await ana2.call(p.Open, conversation_id=conv_id)
    assert [m.text for m in thread.messages if m.direction == "out"] == ["once", "later"]


async def test_a_start_retried_on_another_node_after_a_lost_ack_opens_one_conversation(
    cluster: Cluster, http: httpx.AsyncClient, meta: MetaStub
) -> None:
    extra = "\n".join(["[meta]", 'app_secret = "s"', 'verify_token = "v"', f'graph_api_base = "{meta.base}"'])
    n1, n2 = await cluster.start(http, 2, extra=extra, wa_token=WA_TOKEN)
    template = p.TemplateRef(name="hello", params=["Rosa"])
    start = p.StartConversation(
        id="c1", touchpoint_id="wa", address="+5511912345678", template=template, idempotency_key="start-1"
    )
    await lost_ack(n1.ws_url, start, meta, 1)
    ana2 = await cluster.agent(n2, "ana")
    again = await ana2.call(
        p.StartConversation, touchpoint_id="wa", address="+5511912345678", template=template, idempotency_key="start-1"
    )
    assert ana2.snapshot is not None and [c.id for c in ana2.snapshot.assigned] == [again.conversation.id]
    # A later start is the barrier: whatever the repeat had queued for Meta went before it.
    await ana2.call(p.StartConversation, touchpoint_id="wa", address="+5511912345679", template=template)
    await meta.wait_sent(2, timeout=10)
    assert [s.body.get("to") for s in meta.sent] == ["+5511912345678", "+5511912345679"]
