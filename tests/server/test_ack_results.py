"""Every command, run once against a real node (over the in-memory link,
tests/memlink.py), is acked with the result kind
docs/PROTOCOL.md's table and the AsyncAPI document (protocol/asyncapi.py,
ACK_RESULTS) promise."""

from __future__ import annotations

from typing import Any

from protocol import messages as p
from protocol.asyncapi import ACK_RESULTS
from tests.conftest import token
from tests.memlink import Linked


async def test_each_command_gets_the_documented_result_kind(linked: Linked) -> None:
    wa = (await linked.inbound("Quero a promoção", address="5511900000001"))["conversation_id"]
    ana = await linked.agent("ana")
    sofia = await linked.agent("sofia")
    bruno = await linked.agent("bruno")
    template = p.TemplateRef(name="hello", language="en_US", params=["Rosa"])
    uploaded = await linked.http.post(
        f"{linked.base}/api/media/uploads",
        params={"conversation_id": wa, "filename": "a.pdf"},
        content=b"%PDF-1.4\n%%EOF\n",
        headers={"Authorization": f"Bearer {token('sofia')}"},
    )
    upload_id = uploaded.json()["upload_id"]
    script: list[tuple[Any, type[p.Command], dict[str, Any]]] = [
        (ana, p.Ping, {}),
        (ana, p.Screen, {"front": True}),
        (ana, p.InboxPage, {"query": "5511"}),
        (ana, p.Claim, {"conversation_id": wa}),
        (ana, p.MarkRead, {"conversation_id": wa}),
        (ana, p.Open, {"conversation_id": wa}),
        (ana, p.History, {"conversation_id": wa, "before": 2}),
        (ana, p.Search, {"conversation_id": wa, "query": "promocao"}),
        (ana, p.SendMessage, {"conversation_id": wa, "text": "Olá!"}),
        (ana, p.SendTemplate, {"conversation_id": wa, "template": template}),
        (sofia, p.SendMedia, {"conversation_id": wa, "upload_id": upload_id}),
        (ana, p.AddNote, {"conversation_id": wa, "text": "VIP"}),
        (ana, p.GetContactCard, {"conversation_id": wa}),
        (ana, p.Close, {"conversation_id": wa}),
        (ana, p.SendToInbox, {"conversation_id": wa}),
        (sofia, p.Assign, {"conversation_id": wa, "agent_id": "ana"}),
        (bruno, p.SetStatus, {"status": "available"}),
        (sofia, p.SetCapacity, {"agent_id": "bruno", "capacity": 60}),
        (ana, p.Transfer, {"conversation_id": wa, "agent_id": "bruno", "note": "VIP"}),
        (bruno, p.DeclineOffer, {"conversation_id": wa}),
        (ana, p.Transfer, {"conversation_id": wa, "agent_id": "bruno"}),
        (bruno, p.AcceptOffer, {"conversation_id": wa}),
        (bruno, p.Transfer, {"conversation_id": wa, "queue_id": "sales"}),
        (ana, p.Claim, {"conversation_id": wa}),
        (ana, p.EndChat, {"conversation_id": wa}),
        (ana, p.WrapUp, {"conversation_id": wa, "disposition": "Resolved"}),
        (ana, p.StartConversation, {"touchpoint_id": "wa", "address": "+5511912345678", "template": template}),
        (sofia, p.SaveCanned, {"list_id": "queue:sales", "shortcut": "ola", "text": "Olá {{contact.name}}!"}),
        (ana, p.SaveCanned, {"list_id": "agent:ana", "shortcut": "bye", "text": "Tchau!"}),
    ]
    assert {cmd for _, cmd, _ in script} | {p.DeleteCanned} == set(ACK_RESULTS)
    results = []
    for agent, cmd, fields in script:
        result = await agent.call(cmd, **fields)
        assert type(result) is ACK_RESULTS[cmd], f"{cmd.__name__} was acked with {type(result).__name__}"
        results.append(result)
    mine = results[-1].canned
    result = await ana.call(p.DeleteCanned, list_id="agent:ana", response_id=mine.responses[0].id)
    assert type(result) is ACK_RESULTS[p.DeleteCanned]
