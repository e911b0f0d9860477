"""Contact use cases: learn what a channel tells about a customer, the
directory agents edit, and republishing a contact's open conversations when
how they are shown changes. Reads and writes through ``Directory``; the
rules (what an identity adds, how a contact is shown) are in the core."""

from __future__ import annotations

from msgspec.structs import replace

from protocol import errors
from server.app.changes import Changes
from server.app.directory import Directory
from server.core import access, views
from server.core import conversation as rules
from server.core import identity as ident
from server.core.errors import DomainError
from server.core.model import Agent, Contact
from server.store.base import Store

CHANNELS = ("whatsapp", "messenger")


class Contacts:
    def __init__(self, directory: Directory, changes: Changes, store: Store) -> None:
        self.directory = directory
        self.changes = changes
        self.store = store

    async def learn(self, old: Contact | None, who: ident.Identity, profile_name: str | None = None) -> Contact:
        """The contact with what ``who`` adds (stored); when that changes how
        they are shown (a new username), their open conversations are
        republished, live."""
        old, contact = await self.directory.learn(old, who, profile_name)
        await self._shown_differently(old, contact)
        return contact

    async def put(self, actor: Agent, channel: str, address: str, name: str | None) -> Contact:
        """The contacts directory (supervisors): add, rename or forget
        (``name`` None or blank) a contact's name. ``address`` is read as an
        agent types it (a WhatsApp number in any usual format, or a BSUID; a
        Messenger PSID). Every open conversation of theirs is republished,
        live, with the new name."""
        access.require_supervisor(actor, "edit the contacts directory")
        return await self._put(channel, address, access.directory_name(name))

    async def _put(self, channel: str, address: str, name: str | None) -> Contact:
        if channel not in CHANNELS:
            raise DomainError(errors.INVALID_ARGUMENT, f"Unknown channel {channel!r}.")
        who = ident.typed_address(channel, address)  # type: ignore[arg-type]
        found = await self.directory.find(who)
        old, contact = await self.directory.learn(found[0] if found else None, who)
        contact = await self.directory.save(contact, replace(contact, name=name))
        await self._shown_differently(old, contact)
        return contact

    async def seed(self, channel: str, address: str, name: str | None) -> None:
        """A contact named in the config joins the directory, without erasing
        a name added at run time through the API."""
        found = await self.directory.find(ident.typed_address(channel, address))  # type: ignore[arg-type]
        if not found or found[0].name is None:
            await self._put(channel, address, name)

    async def listed(self, actor: Agent) -> list[Contact]:
        """The whole directory, every queue's contacts: supervisors only."""
        access.require_supervisor(actor, "list the contacts directory")
        return await self.directory.listed()

    async def _shown_differently(self, old: Contact | None, new: Contact) -> None:
        if old is None or views.contact_view(old) == views.contact_view(new):
            return
        for conv in await self.store.conversations_of_contact(new.id):
            if conv.is_open:
                await self.changes.publish(rules.Outcome(before=conv, after=conv), new, shown_before=old)
