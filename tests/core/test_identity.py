"""The identity rules: E.164 numbers, BSUIDs, links, display. Pure."""

from __future__ import annotations

import pytest

from server.core import identity as ident
from server.core.model import Contact


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("+55 21 98888-7777", None, "+5521988887777"),
        ("+55 (21) 98888-7777", None, "+5521988887777"),
        ("5521988887777", None, "+5521988887777"),  # Meta's wa_id form, typed
        ("(21) 98888-7777", "BR", "+5521988887777"),
        ("21 98888 7777", "BR", "+5521988887777"),
        ("+1 650-555-1234", "BR", "+16505551234"),  # a country code beats the region
        ("+34 612 34 56 78", None, "+34612345678"),
    ],
)
def test_numbers_typed_the_usual_ways_are_stored_in_e164(typed: str, region: str | None, e164: str) -> None:
    assert ident.normalize_phone(typed, region) == e164


@pytest.mark.parametrize("typed", ["", "12", "abc", "(21) 98888-7777", "+55 21 98", "9" * 70])
def test_a_number_that_cannot_be_one_is_refused_with_a_reason(typed: str) -> None:
    with pytest.raises(ident.InvalidAddress) as refused:
        ident.normalize_phone(typed, None)
    assert refused.value.code == "invalid_address" and refused.value.message


def test_meta_numbers_are_taken_as_sent_but_must_be_digits() -> None:
    assert ident.meta_phone("15551234567") == "+15551234567"  # not "valid" for libphonenumber, but Meta knows it
    with pytest.raises(ident.InvalidAddress):
        ident.meta_phone("1555-abc")


def test_bsuids_are_recognised() -> None:
    assert ident.is_bsuid("BR.1502576394655843") and ident.is_bsuid("US.ENT.11815799212886844830")
    assert not ident.is_bsuid("5521988887777") and not ident.is_bsuid("br.123") and not ident.is_bsuid("BR.")


def test_a_new_contacts_id_is_its_bsuid_else_its_phone_and_its_other_identities_link_to_it() -> None:
    both = ident.new_contact(ident.from_channel("whatsapp", "5521988887777", "BR.15", "rosa"))
    assert (both.id, both.address, both.username) == ("whatsapp:BR.15", "+5521988887777", "@rosa")
    assert ident.link_ids(both) == ["whatsapp:+5521988887777"]
    phone_only = ident.new_contact(ident.from_channel("whatsapp", "5521988887777"))
    assert phone_only.id == "whatsapp:+5521988887777" and ident.link_ids(phone_only) == []
    learned = ident.learn(phone_only, ident.from_channel("whatsapp", None, "BR.15"))
    assert learned.id == phone_only.id and ident.link_ids(learned) == ["whatsapp:BR.15"]
    bsuid_only = ident.new_contact(ident.from_channel("whatsapp", None, "BR.15"))
    assert bsuid_only.address == "BR.15"  # sent to with ``recipient``


def test_keys_name_the_contact_stored_before_e164_too() -> None:
    keys = ident.keys(ident.from_channel("whatsapp", "5521988887777", "BR.15"))
    assert keys == ["whatsapp:BR.15", "whatsapp:+5521988887777", "whatsapp:5521988887777"]


def test_a_number_change_keeps_the_old_number_as_a_link() -> None:
    contact = ident.new_contact(ident.from_channel("whatsapp", "5521988887777"))
    moved = ident.learn(contact, ident.from_channel("whatsapp", "5521977776666"))
    assert (moved.id, moved.phone, moved.address) == (contact.id, "+5521977776666", "+5521977776666")
    assert "whatsapp:+5521977776666" in ident.link_ids(moved)


def test_display_prefers_directory_name_then_username_then_formatted_number() -> None:
    c = Contact(id="whatsapp:BR.1", channel="whatsapp", address="+5521988887777", phone="+5521988887777")
    assert ident.display(c) == "+55 21 98888-7777"
    assert ident.display(Contact(id="x", channel="whatsapp", address="BR.1", user_id="BR.1", username="@r")) == "@r"
    assert ident.display(Contact(id="x", channel="whatsapp", address="BR.1", username="@r", name="Rosa")) == "Rosa"
    assert ident.display(Contact(id="messenger:p", channel="messenger", address="p", profile_name="Rosa Lima")) == "Rosa Lima"


def test_agents_may_type_a_bsuid_to_start_a_conversation() -> None:
    assert ident.typed_address("whatsapp", " BR.1502576394655843 ") == ident.Identity(channel="whatsapp", user_id="BR.1502576394655843")
