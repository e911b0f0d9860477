"""Who a contact is, whatever Meta calls them. Pure: no store, no clock.

A WhatsApp customer may be named by a phone number, by a business-scoped user
id (BSUID, ``BR.1502576394655843``; since 2026, and the only name Meta gives
for a user who adopted a username and hides their number), or by both. One
person is one contact:

- Every phone number is stored in E.164 (``+5521988887777``), parsed with
  Google's libphonenumber rules (``phonenumbers``), whichever way it was typed
  or sent (Meta's ``wa_id`` has no ``+``). A number that cannot be a phone
  number (no such country code, or a length no number of that country has)
  is refused (``InvalidAddress``). "Possible", not "valid": the library's
  lists of assigned ranges lag behind the carriers', and refusing a real
  customer's number is worse than accepting an unassigned one.
- A new contact's id is its channel identity: the BSUID when one is known,
  else the phone number (``whatsapp:BR.1502…`` / ``whatsapp:+5521…``). Ids
  never change afterwards: conversations name their contact by it.
- Every other identity of the contact gets a *link*: a record under that
  identity's id that names the contact (``Contact.linked_to``). So a webhook
  that names the customer by phone, by BSUID or both finds the same contact.
- Contacts stored before E.164 have digits-only ids (``whatsapp:5521…``);
  ``keys`` names them too, so they are found without a migration.

Messenger contacts are named by their page-scoped id (PSID) only.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from msgspec import Struct
from msgspec.structs import replace

from protocol import errors
from server.core.errors import DomainError
from server.core.model import Channel, Contact, contact_id

BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
"""Country code, a period, (``ENT.`` for a parent BSUID,) up to 128 alphanumerics."""

MAX_TYPED = 64


class InvalidAddress(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(errors.INVALID_ADDRESS, message)


class Identity(Struct, frozen=True, kw_only=True):
    """What one webhook (or an agent) says about who the customer is."""

    channel: Channel
    phone: str | None = None
    """WhatsApp: E.164. Messenger: None."""
    user_id: str | None = None
    """WhatsApp's business-scoped user id (BSUID). Messenger: the PSID."""
    username: str | None = None
    """WhatsApp username, ``@``-prefixed, when the user adopted one."""

    @property
    def primary(self) -> str:
        """The id a new contact gets: the BSUID (PSID) when known, else the phone."""
        address = self.user_id or self.phone
        if not address:
            raise InvalidAddress("A contact needs a phone number or a user id.")
        return contact_id(self.channel, address)


def is_bsuid(value: str) -> bool:
    return BSUID.match(value) is not None


def normalize_phone(raw: str, region: str | None = None) -> str:
    """E.164 of a number as a person types it ("+55 21 98888-7777",
    "(21) 98888-7777" with region "BR") or as Meta sends it (digits, no +).
    Raises ``InvalidAddress`` with a reason a person can act on."""
    typed = raw.strip()
    if not typed or len(typed) > MAX_TYPED:
        raise InvalidAddress("Give the contact's phone number with its country code, e.g. +55 21 98888-7777.")
    digits_only = typed.isdigit()
    try:
        # Meta's wa_id and a number typed without "+" but with its country
        # code are international; a national number needs the region.
        number = phonenumbers.parse("+" + typed if digits_only else typed, None if digits_only else region)
    except phonenumbers.NumberParseException:
        if digits_only and region:
            return normalize_phone_national(typed, region)
        raise InvalidAddress(f"{typed!r} is not a phone number: give it with its country code (+…).") from None
    if not phonenumbers.is_possible_number(number):
        if digits_only and region:
            return normalize_phone_national(typed, region)
        raise InvalidAddress(f"{typed!r} cannot be a phone number: check the country code and the digits.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone_national(typed: str, region: str) -> str:
    try:
        number = phonenumbers.parse(typed, region)
    except phonenumbers.NumberParseException:
        raise InvalidAddress(f"{typed!r} is not a phone number.") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidAddress(f"{typed!r} cannot be a phone number: check the country code and the digits.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=65536)
def format_phone(e164: str) -> str:
    """For people: "+55 21 98888-7777". Anything unparsable is shown as is."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def username(raw: str | None) -> str | None:
    """``@name`` as WhatsApp shows it, whether Meta sent the ``@`` or not."""
    value = (raw or "").strip()
    if not value:
        return None
    return value if value.startswith("@") else "@" + value


def typed_address(channel: Channel, raw: str, region: str | None = None) -> Identity:
    """An address an agent typed (``start``) or an operator configured: a
    phone number or a BSUID on WhatsApp, a PSID on Messenger."""
    value = raw.strip()
    if channel != "whatsapp":
        if not value or len(value) > MAX_TYPED:
            raise InvalidAddress("Give the contact's page-scoped id.")
        return Identity(channel=channel, user_id=value)
    if is_bsuid(value):
        return Identity(channel=channel, user_id=value)
    return Identity(channel=channel, phone=normalize_phone(value, region))


def meta_phone(wa_id: str) -> str:
    """E.164 of a number Meta sends (``wa_id``, ``from``, ``recipient_id``:
    the international digits, no ``+``). Taken as Meta gives it, without
    libphonenumber's validity check: Meta knows the number exists, and the
    library's ranges lag behind new ones; a customer's message is never
    refused for it."""
    digits = wa_id.strip().lstrip("+")
    if not digits.isdigit() or not 1 <= len(digits) <= 15:
        raise InvalidAddress(f"{wa_id!r} is not a WhatsApp id (international digits).")
    return "+" + digits


def from_channel(channel: Channel, address: str | None, user_id: str | None = None, username_: str | None = None) -> Identity:
    """Who a webhook says wrote: WhatsApp's phone digits and/or BSUID (and
    username); Messenger's PSID (``address``)."""
    if channel != "whatsapp":
        if not address:
            raise InvalidAddress("A Messenger contact needs its page-scoped id.")
        return Identity(channel=channel, user_id=address)
    if address and is_bsuid(address) and not user_id:
        address, user_id = None, address  # our own API may name a BSUID-only contact by its BSUID
    if not address and not user_id:
        raise InvalidAddress("A WhatsApp contact needs a phone number or a user id.")
    if user_id and not is_bsuid(user_id):
        raise InvalidAddress(f"{user_id!r} is not a business-scoped user id.")
    return Identity(
        channel=channel, phone=meta_phone(address) if address else None, user_id=user_id, username=username(username_)
    )


def keys(identity: Identity) -> list[str]:
    """Every contact id under which this person may be stored, most stable
    first: BSUID, E.164 phone, then the phone as stored before E.164."""
    return [k for k in (user_key(identity), phone_key(identity), legacy_key(identity)) if k]


def user_key(identity: Identity) -> str | None:
    return contact_id(identity.channel, identity.user_id) if identity.user_id else None


def phone_key(identity: Identity) -> str | None:
    return contact_id(identity.channel, identity.phone) if identity.phone else None


def legacy_key(identity: Identity) -> str | None:
    """The id a contact stored before E.164 has (Meta's digits): worth a look
    only when the E.164 id leads nowhere."""
    return contact_id(identity.channel, identity.phone.lstrip("+")) if identity.phone else None


def link_ids(contact: Contact) -> list[str]:
    """The ids, other than its own, that must lead to this contact: its
    current and former phone numbers and user ids."""
    values = (contact.user_id, contact.phone, *contact.former_ids)
    ids = [contact_id(contact.channel, v) for v in values if v]
    return [i for i in dict.fromkeys(ids) if i != contact.id]


def new_contact(identity: Identity, profile_name: str | None = None) -> Contact:
    address = identity.user_id or identity.phone or ""
    return learn(Contact(id=identity.primary, channel=identity.channel, address=address), identity, profile_name)


def learn(contact: Contact, identity: Identity, profile_name: str | None = None) -> Contact:
    """The contact with what a webhook said about them: a phone number or a
    user id seen for the first time, a new username or profile name. A phone
    number or BSUID that differs from the one we knew (a number change; Meta
    issues a new BSUID then) replaces it; the old one stays a link
    (``former_ids``)."""
    phone, user_id, former = contact.phone, contact.user_id, list(contact.former_ids)
    if identity.phone and identity.phone != phone:
        if phone:
            former.append(phone)
        phone = identity.phone
    if identity.user_id and identity.user_id != user_id:
        if user_id:
            former.append(user_id)
        user_id = identity.user_id
    updated = replace(
        contact,
        phone=phone,
        user_id=user_id,
        former_ids=tuple(dict.fromkeys(former)),
        username=identity.username or contact.username,
        profile_name=profile_name or contact.profile_name,
    )
    if contact.channel == "whatsapp":
        # The business writes to the phone number when it has one (Meta: ``to``
        # takes precedence), else to the BSUID (``recipient``).
        updated = replace(updated, address=phone or user_id or contact.address)
    return updated


def link(contact: Contact, link_id: str) -> Contact:
    """The record stored under ``link_id`` that leads to ``contact``."""
    return Contact(id=link_id, channel=contact.channel, address=contact.address, linked_to=contact.id)


def display(contact: Contact) -> str:
    """Directory name, else the WhatsApp username, else the phone number
    formatted for people; Messenger: the profile name, else the PSID."""
    if contact.name:
        return contact.name
    if contact.channel == "whatsapp":
        if contact.username:
            return contact.username
        phone = contact.phone or _legacy_phone(contact.address)
        return format_phone(phone) if phone else contact.address
    return contact.profile_name or contact.address


def _legacy_phone(address: str) -> str | None:
    """A contact stored before E.164 kept Meta's digits."""
    if address.startswith("+") and address[1:].isdigit():
        return address
    return "+" + address if address.isdigit() else None
