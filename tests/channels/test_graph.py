"""Meta's answers to a send, classified (pure)."""

import msgspec

from server.channels.graph import Accepted, Refused, classify
from tests.channels import metastub as stub


def body(reply: stub.Reply) -> bytes:
    return msgspec.json.encode(reply.body)


def test_success_answers_give_metas_id() -> None:
    wa = b'{"messaging_product":"whatsapp","contacts":[{"input":"5511987650001","wa_id":"5511987650001"}],"messages":[{"id":"wamid.HBgL"}]}'
    assert classify("whatsapp", 200, wa) == Accepted(channel_message_id="wamid.HBgL")
    fb = b'{"recipient_id":"6843321887561234","message_id":"m_AG5Hz2"}'
    assert classify("messenger", 200, fb) == Accepted(channel_message_id="m_AG5Hz2")
    # Meta took it even if we cannot read the id: never resend that.
    assert classify("whatsapp", 200, b"garbage") == Accepted(channel_message_id=None)


def test_re_engagement_closes_the_window_and_is_final() -> None:
    r = classify("whatsapp", 400, body(stub.RE_ENGAGEMENT))
    assert isinstance(r, Refused)
    assert (r.code, r.transient, r.window_closed) == ("131047", False, True)
    assert r.text.startswith("(#131047) Re-engagement message") and "24 hours" in r.text
    m = classify("messenger", 400, body(stub.OUTSIDE_WINDOW))
    assert isinstance(m, Refused) and (m.code, m.transient, m.window_closed) == ("10", False, True)


def test_server_errors_and_rate_limits_are_transient() -> None:
    for status, reply in ((500, stub.SERVER_ERROR), (429, stub.THROTTLED), (400, stub.graph_error(80007, "Rate limit"))):
        r = classify("whatsapp", status, body(reply))
        assert isinstance(r, Refused) and r.transient and not r.window_closed, (status, r)
    bare = classify("whatsapp", 503, b"<html>Service Unavailable</html>", "7")
    assert bare == Refused(code="http_503", text="The Graph API answered HTTP 503.", transient=True, retry_after=7.0)
    flagged = classify("whatsapp", 400, b'{"error": {"message": "try again", "code": 9999, "is_transient": true}}')
    assert isinstance(flagged, Refused) and flagged.transient


def test_permanent_errors_keep_metas_code_and_text() -> None:
    r = classify("whatsapp", 400, body(stub.BAD_RECIPIENT))
    assert isinstance(r, Refused) and not r.transient
    assert (r.code, r.text) == ("131026", "(#131026) Message Undeliverable Recipient is not a valid WhatsApp user.")
    token = classify("messenger", 401, b'{"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}')
    assert isinstance(token, Refused) and (token.code, token.transient) == ("190", False)
    assert classify("whatsapp", 404, b"") == Refused(code="http_404", text="The Graph API answered HTTP 404.", transient=False)
