"""A keyed send repeated on one node (over the in-memory link) answers the
first send's message: ``send_template``, ``send_media`` (two different
uploads, one key: the key decides) and a key of another agent."""

from __future__ import annotations

from protocol import messages as p
from tests.conftest import token
from tests.memlink import Linked


async def upload(linked: Linked, conv_id: str, agent: str, data: bytes) -> str:
    answer = await linked.http.post(
        f"{linked.base}/api/media/uploads",
        params={"conversation_id": conv_id, "filename": "a.pdf"},
        content=data,
        headers={"Authorization": f"Bearer {token(agent)}"},
    )
    assert answer.status_code == 201, answer.text
    upload_id: str = answer.json()["upload_id"]
    return upload_id


async def test_keyed_sends_repeated_answer_the_first_message(linked: Linked) -> None:
    wa = (await linked.inbound("Oi", address="5511900000001"))["conversation_id"]
    ana = await linked.agent("ana")
    await ana.call(p.Claim, conversation_id=wa)
    template = p.TemplateRef(name="hello", language="en_US", params=["Rosa"])
    first = await ana.call(p.SendTemplate, conversation_id=wa, template=template, idempotency_key="t-1")
    again = await ana.call(p.SendTemplate, conversation_id=wa, template=template, idempotency_key="t-1")
    assert again.message.id == first.message.id

    one = await upload(linked, wa, "ana", b"%PDF-1.4\n%first\n%%EOF\n")
    two = await upload(linked, wa, "ana", b"%PDF-1.4\n%second\n%%EOF\n")
    sent = await ana.call(p.SendMedia, conversation_id=wa, upload_id=one, idempotency_key="f-1")
    repeat = await ana.call(p.SendMedia, conversation_id=wa, upload_id=two, idempotency_key="f-1")
    assert repeat.message.id == sent.message.id

    # The key is the agent's: the same string from a supervisor is another send.
    sofia = await linked.agent("sofia")
    other = await sofia.call(p.SendTemplate, conversation_id=wa, template=template, idempotency_key="t-1")
    assert other.message.id != first.message.id
    thread = await ana.call(p.Open, conversation_id=wa)
    assert [m.id for m in thread.messages if m.direction == "out"] == [first.message.id, sent.message.id, other.message.id]
