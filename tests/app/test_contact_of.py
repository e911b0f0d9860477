"""``Directory.contact_of`` (``get`` written out, for every summary): the
contact stored under the conversation's contact id, following a link, else
the stand-in; the same as ``get`` in every case."""

from __future__ import annotations

from server.app.directory import Directory, _unknown
from server.core.model import Contact, Conversation
from server.store.memory import MemoryStore


def conv(contact_id: str) -> Conversation:
    return Conversation(id="c1", channel="whatsapp", touchpoint_id="tp", queue_id="sales", contact_id=contact_id, created_at=1)


async def test_contact_of_is_get_or_the_stand_in() -> None:
    store = MemoryStore()
    directory = Directory(store)
    maria = Contact(id="whatsapp:+5511999990000", channel="whatsapp", address="+5511999990000", name="Maria")
    await store.put_contact(maria)
    await store.put_contact(Contact(id="whatsapp:BR.1", channel="whatsapp", address="BR.1", linked_to=maria.id))
    await store.put_contact(Contact(id="whatsapp:BR.2", channel="whatsapp", address="BR.2", linked_to="whatsapp:gone"))
    for contact_id in (maria.id, "whatsapp:BR.1", "whatsapp:BR.2", "whatsapp:nobody"):
        c = conv(contact_id)
        got = await directory.contact_of(c)
        assert got == (await directory.get(contact_id) or _unknown(c))
    assert await directory.contact_of(conv("whatsapp:BR.1")) == maria
    assert await directory.contact_of(conv("whatsapp:BR.2")) == _unknown(conv("whatsapp:BR.2"))
