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


def test_message_view_lists_the_shared_contacts_or_none() -> None:
    from server.core.model import Message, SharedContact
    from server.core.views import message_view

    plain = Message(id="m1", conversation_id="c1", seq=1, direction="in", kind="text", text="oi", at=1, status="received")
    assert message_view(plain).contacts == []
    shared = Message(
        id="m2", conversation_id="c1", seq=2, direction="in", kind="contacts", text="", at=2, status="received",
        contacts=(SharedContact(name="Ana", phones=("+5511", "+5512")), SharedContact(name="Bia")),
    )
    assert [(c.name, c.phones) for c in message_view(shared).contacts] == [("Ana", ["+5511", "+5512"]), ("Bia", [])]
