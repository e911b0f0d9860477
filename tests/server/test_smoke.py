from protocol import messages as p
from tests.conftest import Running


async def test_inbound_reaches_inbox_and_claim(running: Running) -> None:
    ana = await running.agent("ana")
    carla = await running.agent("carla")
    assert ana.snapshot is not None and ana.snapshot.inbox == []
    made = await running.inbound("Olá!")
    added = await ana.event(p.InboxAdded)
    assert added.conversation.id == made["conversation_id"]
    result = await ana.call(p.Claim, conversation_id=made["conversation_id"])
    assert result.conversation.assignee_id == "ana"
    got = await ana.event(p.AssignedAdded)
    assert got.count == 1 and got.unread_total == 1
    assert await carla.received_by_now(p.InboxAdded) == []
