"""A node with no Meta access token (the demo) keeps replies pending without
re-reading every one of them on each sweep."""

from __future__ import annotations

from protocol import messages as p
from tests.conftest import Running


async def test_without_tokens_replies_stay_pending_and_sweeps_do_nothing(running: Running) -> None:
    made = await running.inbound("oi")
    ana = await running.agent("ana")
    await ana.call(p.Claim, conversation_id=made["conversation_id"])
    sent = await ana.call(p.SendMessage, conversation_id=made["conversation_id"], text="olá")
    assert [m.id for m in await running.node.store.pending_outbound()] == [sent.message.id]
    assert await running.node.sender.sweep() == 0
