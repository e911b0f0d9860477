"""The contacts directory on the store: find a customer by any of their
identities, learn new ones, keep the links. The rules are in
``server/core/identity.py``; this module only reads and writes.

What it does not guarantee: two nodes learning two *different* new
identities of one contact at the same instant may each store their version of
the contact record; the last write wins for the record, but both links are
written, so every identity still leads to the contact (see identity.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from server.core import identity as ident
from server.core.model import Contact, Conversation, Touchpoint
from server.store.base import Store


def _unknown(conv: Conversation) -> Contact:
    """Never expected (contacts are stored before conversations): a stand-in."""
    channel, _, address = conv.contact_id.partition(":")
    return Contact(id=conv.contact_id, channel=conv.channel, address=address or channel)


class Directory:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, contact_id: str | None) -> Contact | None:
        """The contact stored under ``contact_id``, following a link."""
        if contact_id is None:
            return None
        contact = await self.store.get_contact(contact_id)
        if contact is not None and contact.linked_to is not None:
            contact = await self.store.get_contact(contact.linked_to)
        return contact

    async def find(self, identity: ident.Identity) -> list[Contact]:
        """The distinct contacts any of the identity's ids lead to, most
        stable id first (BSUID, then phone). More than one only when a phone
        number and a BSUID were first seen apart, and are now seen together."""
        by_user = await self.get(ident.user_key(identity))
        by_phone = await self.get(ident.phone_key(identity)) or await self.get(ident.legacy_key(identity))
        found = [c for c in (by_user, by_phone) if c is not None]
        return found[:1] if len(found) == 2 and found[0].id == found[1].id else found

    async def save(self, old: Contact | None, new: Contact) -> Contact:
        """Store the contact if it changed, and a link for each of its other
        identities that does not lead anywhere yet (an identity that already
        names another contact keeps naming it: contacts are never merged)."""
        if new == old:
            return new  # its links were written when it last changed
        await self.store.put_contact(new)
        for link_id in ident.link_ids(new):
            if await self.store.get_contact(link_id) is None:
                await self.store.put_contact(ident.link(new, link_id))
        return new

    async def resolve(self, identity: ident.Identity, profile_name: str | None = None) -> tuple[Contact | None, Contact]:
        """(the contact as it was, or None if new; the contact with what this
        identity adds), stored. The first of ``find`` when several."""
        found = await self.find(identity)
        return await self.learn(found[0] if found else None, identity, profile_name)

    async def learn(
        self, old: Contact | None, identity: ident.Identity, profile_name: str | None = None
    ) -> tuple[Contact | None, Contact]:
        new = ident.new_contact(identity, profile_name) if old is None else ident.learn(old, identity, profile_name)
        return old, await self.save(old, new)

    async def listed(self, limit: int = 1000) -> list[Contact]:
        """The directory as people see it: contacts, not links."""
        return [c for c in await self.store.list_contacts(limit) if c.linked_to is None]


    async def contact_of(self, conv: Conversation) -> Contact:
        """The conversation's contact (following a link): ``get``, written out
        (one call fewer for every summary published or answered)."""
        contact = await self.store.get_contact(conv.contact_id)
        if contact is not None and contact.linked_to is not None:
            contact = await self.store.get_contact(contact.linked_to)
        return contact or _unknown(conv)

    async def contacts_of(self, convs: Sequence[Conversation]) -> list[Contact]:
        """``contact_of`` each conversation, in two reads at most (the
        contacts, then the ones their links lead to): a page of summaries."""
        found = await self.store.get_contacts([c.contact_id for c in convs])
        links = {c.linked_to for c in found.values() if c.linked_to is not None}
        targets = await self.store.get_contacts(sorted(links)) if links else {}
        out = []
        for conv in convs:
            contact = found.get(conv.contact_id)
            if contact is not None and contact.linked_to is not None:
                contact = targets.get(contact.linked_to)
            out.append(contact or _unknown(conv))
        return out

    async def on_touchpoint(self, touchpoint: Touchpoint, who: ident.Identity) -> Contact | None:
        """The contact ``who`` names. When a phone number and a BSUID were
        first seen apart (two contacts) and now arrive together, the one
        with an open conversation on this touchpoint wins, so the customer's
        reply lands where the agent is waiting; else the BSUID's."""
        found = await self.find(who)
        if len(found) > 1:
            for contact in found:
                latest = await self.store.latest_conversation(contact.id, touchpoint.id)
                if latest is not None and latest.is_open:
                    return contact
        return found[0] if found else None
