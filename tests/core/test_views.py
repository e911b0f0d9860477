from server.core.model import Contact
from server.core.views import contact_view


def test_known_contact_shows_name_and_initials() -> None:
    v = contact_view(Contact(id="whatsapp:55", channel="whatsapp", address="55", name="João Silva"))
    assert (v.display_name, v.initials, v.known) == ("João Silva", "JS", True)


def test_unknown_whatsapp_contact_shows_phone_number_formatted_and_no_initials() -> None:
    contact = Contact(
        id="whatsapp:+5521988887777", channel="whatsapp", address="+5521988887777", phone="+5521988887777", profile_name="jj"
    )
    v = contact_view(contact)
    assert (v.display_name, v.initials, v.known, v.address) == ("+55 21 98888-7777", None, False, "+5521988887777")


def test_contact_stored_before_e164_is_shown_formatted() -> None:
    v = contact_view(Contact(id="whatsapp:5521988887777", channel="whatsapp", address="5521988887777"))
    assert v.display_name == "+55 21 98888-7777"


def test_whatsapp_username_is_shown_before_the_number_but_after_the_directory_name() -> None:
    contact = Contact(id="whatsapp:BR.15", channel="whatsapp", address="+5521988887777", phone="+5521988887777", user_id="BR.15", username="@rosa")
    assert contact_view(contact).display_name == "@rosa"
    assert contact_view(contact).username == "@rosa"
    named = Contact(id="whatsapp:BR.15", channel="whatsapp", address="BR.15", user_id="BR.15", username="@rosa", name="Rosa Lima")
    assert (contact_view(named).display_name, contact_view(named).initials) == ("Rosa Lima", "RL")


def test_messenger_contact_shows_profile_name_and_initials() -> None:
    v = contact_view(Contact(id="messenger:p", channel="messenger", address="p", profile_name="Rosa Lima"))
    assert (v.display_name, v.initials) == ("Rosa Lima", "RL")
