import pytest

from server.channels.errors import BadSignature
from server.channels.signature import sign, verify

SECRET = "app-secret"
BODY = b'{"object":"page","entry":[]}'


def test_meta_signature_is_hmac_sha256_hex_of_the_raw_body() -> None:
    # Value computed independently: printf '%s' "$BODY" | openssl dgst -sha256 -hmac app-secret
    import hashlib
    import hmac

    assert sign(SECRET, BODY) == "sha256=" + hmac.new(b"app-secret", BODY, hashlib.sha256).hexdigest()
    verify(SECRET, BODY, sign(SECRET, BODY))


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "Missing"),
        ("", "Missing"),
        ("sha1=" + "0" * 40, "must start with"),
        (sign("another-secret", BODY), "does not match"),
        (sign(SECRET, BODY)[:-1], "does not match"),
    ],
)
def test_missing_or_wrong_signatures_are_refused(header: str | None, why: str) -> None:
    with pytest.raises(BadSignature, match=why) as e:
        verify(SECRET, BODY, header)
    assert e.value.status == 401


def test_one_changed_byte_breaks_the_signature() -> None:
    header = sign(SECRET, BODY)
    altered = BODY.replace(b"[]", b"[ ]")
    assert len(altered) == len(BODY) + 1
    flipped = bytes([BODY[0] ^ 1]) + BODY[1:]
    for body in (altered, flipped):
        with pytest.raises(BadSignature):
            verify(SECRET, body, header)


def test_no_secret_configured_refuses_everything() -> None:
    with pytest.raises(BadSignature, match="not configured"):
        verify("", BODY, sign("", BODY))
