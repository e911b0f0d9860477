from server.core.model import Contact
from server.core.views import contact_view


def test_known_contact_shows_name_and_initials() -> None:
    v = contact_view(Contact(id="whatsapp:55", channel="whatsapp", address="55", name="João Silva"))
    assert (v.display_name, v.initials, v.known) == ("João Silva", "JS", True)


def test_unknown_whatsapp_contact_shows_phone_number_and_no_initials() -> None:
    v = contact_view(Contact(id="whatsapp:5511", channel="whatsapp", address="5511", profile_name="jj"))
    assert (v.display_name, v.initials, v.known) == ("+5511", None, False)


def test_messenger_contact_shows_profile_name_and_initials() -> None:
    v = contact_view(Contact(id="messenger:p", channel="messenger", address="p", profile_name="Rosa Lima"))
    assert (v.display_name, v.initials) == ("Rosa Lima", "RL")
