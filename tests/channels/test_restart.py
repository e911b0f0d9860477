"""A restart loses no pending message and sends none twice (SQLite store,
two node lifetimes on the same file)."""

import asyncio
from pathlib import Path

from msgspec.structs import replace

from protocol import messages as p
from tests.channels import metastub as stub
from tests.channels import payloads as pl
from tests.channels.conftest import TOKENS, Hub, channel_config, serve
from tests.channels.metastub import MetaStub, StubMedia
from tests.fixtures import media as files

SLOW = 3.0
"""Meta holds the request this long: the first node is stopped meanwhile."""
FIRST_LIFE = {"timeout_seconds": SLOW, "lease_seconds": SLOW + 0.3}
"""The first node would wait for the answer (no timeout before it stops)."""


async def open_thread(hub: Hub, agent_id: str, conv_id: str) -> p.ThreadResult:
    agent = await hub.agent(agent_id)
    return await agent.call(p.Open, conversation_id=conv_id)


async def wait_status(hub: Hub, message_id: str, status: str, timeout: float = 5.0) -> None:
    async def settled() -> None:
        while (m := await hub.node.store.get_message(message_id)) is None or m.status != status:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(settled(), timeout)


async def wait_until_counted(hub: Hub, event: str, n: int, timeout: float = 5.0) -> None:
    async def counted() -> None:
        while hub.counted("whatsapp", event) < n:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(counted(), timeout)


async def test_pending_messages_are_sent_once_after_a_restart(meta: MetaStub, tmp_path: Path) -> None:
    data = str(tmp_path / "switchboard.sqlite3")
    # First life: no access token yet, so the agent's messages wait, pending.
    config = channel_config(meta, data=data)
    tokenless = replace(config, touchpoints=[replace(tp, access_token="") for tp in config.touchpoints])
    async for hub in serve(tokenless, meta):
        ana = await hub.agent("ana")
        conv = await hub.assigned_whatsapp(ana)
        one = await ana.call(p.SendMessage, conversation_id=conv.id, text="one")
        two = await ana.call(p.SendMessage, conversation_id=conv.id, text="two")
        # The sender looked at both and kept them (no token to send with): no pause, its count says so.
        await wait_until_counted(hub, "send_no_token", 2)
        assert await hub.node.sender.sweep() == 0  # and a sweep does not queue them again
        assert meta.sent == []
        assert hub.counted("whatsapp", "send_no_token") == 2
    # Second life: a token. Both go out, in order, once.
    async for hub in serve(channel_config(meta, data=data), meta):
        await wait_status(hub, two.message.id, "sent")
        await wait_status(hub, one.message.id, "sent")
        assert await hub.node.sender.sweep() == 0  # more sweeps change nothing: none is pending
        assert [s.body["text"]["body"] for s in meta.sent] == ["one", "two"]
        thread = await open_thread(hub, "ana", conv.id)
        assert [(m.text, m.status) for m in thread.messages] == [("Hola", "received"), ("one", "sent"), ("two", "sent")]


async def test_a_send_cut_by_a_crash_is_not_sent_again_when_meta_confirms_it(meta: MetaStub, tmp_path: Path) -> None:
    """The node dies while Meta holds the request. Meta took it, and its status
    webhook (carrying our id) reaches the restarted node: no second send."""
    data = str(tmp_path / "switchboard.sqlite3")
    meta.then(stub.Reply(delay=SLOW, accept=True))
    async for hub in serve(channel_config(meta, data=data, **FIRST_LIFE), meta):
        ana = await hub.agent("ana")
        conv = await hub.assigned_whatsapp(ana)
        result = await ana.call(p.SendMessage, conversation_id=conv.id, text="in flight")
        await meta.wait_sent(1)
    # Stopped mid-request: the answer was never read.
    [sent] = meta.sent
    assert sent.message_id is not None
    async for hub in serve(channel_config(meta, data=data, lease_seconds=1.2), meta):
        stored = await hub.node.store.get_message(result.message.id)
        assert stored is not None and stored.status == "pending"
        status = pl.wa_status(sent.message_id, "delivered", callback=sent.body["biz_opaque_callback_data"])
        assert (await hub.whatsapp(pl.wa_statuses(status))).status_code == 200
        await wait_status(hub, result.message.id, "delivered")
        # Whether or not the dead sender's lease ran out, a sweep finds nothing to send: it is not pending.
        assert await hub.node.sender.sweep() == 0
        assert len(meta.sent) == 1
        thread = await open_thread(hub, "ana", conv.id)
        assert thread.messages[-1].status == "delivered"


async def test_a_send_cut_by_a_crash_is_resent_once_the_lease_runs_out_unconfirmed(meta: MetaStub, tmp_path: Path) -> None:
    """No word from Meta within the lease: the message is resent (at-least-once,
    see server/channels/sender.py), exactly once, and shown sent."""
    data = str(tmp_path / "switchboard.sqlite3")
    meta.then(stub.Reply(delay=SLOW))
    async for hub in serve(channel_config(meta, data=data, **FIRST_LIFE), meta):
        ana = await hub.agent("ana")
        conv = await hub.assigned_whatsapp(ana)
        result = await ana.call(p.SendMessage, conversation_id=conv.id, text="lost answer")
        await meta.wait_sent(1)
    async for hub in serve(channel_config(meta, data=data, lease_seconds=1.2), meta):
        await wait_status(hub, result.message.id, "sent", timeout=FIRST_LIFE["lease_seconds"] + 3)
        assert len(meta.sent) == 2
        assert hub.counted("whatsapp", "send_held_elsewhere") >= 1  # it waited for the lease
        assert hub.counted("whatsapp", "send_in_doubt") == 1
        assert await hub.node.sender.sweep() == 0  # sent: no sweep sends it a third time
        assert len(meta.sent) == 2


async def test_a_file_still_loading_when_the_node_stopped_is_fetched_after_the_restart(meta: MetaStub, tmp_path: Path) -> None:
    data = str(tmp_path / "switchboard.sqlite3")
    photo = files.jpeg()
    held = StubMedia(data=photo, mime_type="image/jpeg", token=TOKENS["wa"], drip=1.0)  # 10 s: still coming at the stop
    meta.media["8801"] = held
    async for hub in serve(channel_config(meta, data=data), meta):
        ana = await hub.agent("ana")
        conv = await hub.assigned_whatsapp(ana)
        assert (await hub.whatsapp(pl.wa_inbound(pl.wa_message("image", {"id": "8801", "mime_type": "image/jpeg"})))).status_code == 200
        created = await ana.event(p.MessageCreated, lambda e: e.message.kind == "image")
        while meta.downloads != ["8801"]:
            await asyncio.sleep(0.02)
    held.drip = 0.0
    async for hub in serve(channel_config(meta, data=data), meta):
        await open_thread(hub, "ana", conv.id)

        async def ready() -> None:
            while (m := await hub.node.store.get_message(created.message.id)) is None or m.media is None or m.media.state != "ready":
                await asyncio.sleep(0.02)

        await asyncio.wait_for(ready(), 10)
        assert meta.downloads == ["8801", "8801"]
