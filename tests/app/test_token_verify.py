"""``auth.verify`` in a few C calls (issue 16, session 9: 37 Python calls per
fresh connect's token check, now ~17) decides every token exactly as the
``hmac.new`` and ``base64`` version did, kept here as the reference."""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec
import pytest

from server import auth

SECRET = "s3cret-for-tests"


def reference_sign(secret: str, payload: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()


def reference_verify(secret: str, token: str, *, now: int) -> auth.Claims:
    payload, _, signature = token.partition(".")
    if not payload or not signature or not hmac.compare_digest(signature.encode(), reference_sign(secret, payload).encode()):
        raise auth.TokenInvalid("bad signature")
    try:
        claims = msgspec.json.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)), type=auth.Claims)
    except (ValueError, msgspec.ValidationError) as e:
        raise auth.TokenInvalid("malformed claims") from e
    if claims.exp <= now:
        raise auth.TokenExpired(f"expired at {claims.exp}")
    return claims


def signed(payload: str) -> str:
    """A token with a good signature over any payload (only the secret's holder can make one)."""
    return f"{payload}.{reference_sign(SECRET, payload)}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


GOOD = auth.issue(SECRET, "ana", now=1000, ttl_seconds=60)
TOKENS = [
    GOOD,
    GOOD[:-2] + ("AA" if not GOOD.endswith("AA") else "BB"),  # forged
    GOOD + "=",
    GOOD.replace(".", "", 1),
    "." + GOOD.split(".")[1],
    GOOD.split(".")[0] + ".",
    "",
    ".",
    f"{GOOD.split('.')[0]}.€",  # a non-ASCII signature
    signed(b64(b'{"sub":"ana","exp":2000,"iat":1000,"jti":"x"}')),
    signed(b64(b'{"sub":"ana","exp":2000,"iat":1000}')),  # no jti: the default
    signed(b64(b'{"sub":"ana","exp":999,"iat":1}')),  # expired
    signed(b64(b'{"sub":"ana"}')),  # a claim missing
    signed(b64(b"not json")),
    signed(b64(b'{"sub":"ana","exp":2000,"iat":1000}') + "="),  # padded anyway
    signed(b64(b'{"sub":"ana","exp":2000,"iat":1000}') + "!"),  # a byte outside base64url: skipped
    signed(b64(b'{"sub":"ana","exp":2000,"iat":1000}')[:-1]),  # one character short
    signed("a"),  # not a whole byte
    signed("ãé"),  # not ASCII
    signed(b64(b'{"sub":"ana","exp":2000,"iat":1000}').replace("-", "+")),
    signed(b64(b"\xfb\xff\xfe" + b'{"sub":"ana","exp":2000,"iat":1000}')),
]


def outcome(check: object, token: str) -> object:
    try:
        return check(SECRET, token, now=1010)  # type: ignore[operator]
    except auth.TokenError as e:
        return (type(e), str(e))


@pytest.mark.parametrize("token", TOKENS)
def test_verify_decides_as_the_reference(token: str) -> None:
    assert outcome(auth.verify, token) == outcome(reference_verify, token)
    assert outcome(lambda _s, t, now: auth.VerifiedTokens(SECRET).verify(t, now=now), token) == outcome(reference_verify, token)


def test_the_signature_is_the_reference_one() -> None:
    for payload in ("", "a", "eyJzdWIiOiJhbmEifQ", "ã€"):
        assert auth._sign(SECRET, payload) == reference_sign(SECRET, payload)
    assert outcome(auth.verify, GOOD) == reference_verify(SECRET, GOOD, now=1010)
    assert outcome(auth.verify, GOOD).sub == "ana"  # type: ignore[attr-defined]
