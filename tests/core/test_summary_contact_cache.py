"""Summaries carry ``contact_view`` kept per distinct Contact value
(views._shown): always the view of the contact as given, never one kept from
an earlier value of the same contact (a rename on another node, a new
number, a username), and equal to the view built afresh."""

from __future__ import annotations

import itertools

from msgspec.structs import replace

from server.core.model import Contact
from server.core.views import _shown, contact_view, summary
from tests.core.test_conversation import WA, WA_POLICY, open_conv

BASE = Contact(id="whatsapp:+5521988887777", channel="whatsapp", address="+5521988887777")


def variants() -> list[Contact]:
    out = []
    for name, profile, phone, username, channel in itertools.product(
        (None, "Ana Souza"), (None, "Aninha"), (None, "+5521988887777"), (None, "@ana"), ("whatsapp", "messenger")
    ):
        out.append(replace(BASE, name=name, profile_name=profile, phone=phone, username=username, channel=channel))
    return out


def test_summary_shows_the_contact_as_given_every_time() -> None:
    conv = open_conv()
    for _ in range(2):  # the second round is served from the cache
        for contact in variants():
            shown = summary(conv, contact, WA, WA_POLICY).contact
            assert shown == contact_view(contact)


def test_a_changed_contact_is_never_shown_as_it_was() -> None:
    conv = open_conv()
    before = summary(conv, BASE, WA, WA_POLICY).contact
    renamed = replace(BASE, name="Ana Souza")
    after = summary(conv, renamed, WA, WA_POLICY).contact
    assert after.display_name == "Ana Souza" and after.known and not before.known
    moved = replace(BASE, former_ids=("+5521900000000",), address="+5521911112222", phone="+5521911112222")
    assert summary(conv, moved, WA, WA_POLICY).contact.address == "+5521911112222"
    # The same value again, a new object (decoded afresh from a store): the same view.
    assert summary(conv, replace(renamed), WA, WA_POLICY).contact == after


def test_the_cache_is_bounded() -> None:
    info = _shown.cache_info()
    assert info.maxsize is not None and info.maxsize <= 4096
