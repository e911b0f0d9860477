"""Signed agent tokens: ``base64url(claims).base64url(hmac_sha256(claims))``.

Claims are ``{"sub": agent_id, "exp": unix seconds, "iat": unix seconds}``.
Forged or malformed tokens raise ``TokenInvalid``; expired ones raise
``TokenExpired`` (a different type, so the socket can close with a different
code and the client knows to log in again rather than to report a bug).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec


class TokenError(Exception):
    pass


class TokenInvalid(TokenError):
    pass


class TokenExpired(TokenError):
    pass


class Claims(msgspec.Struct):
    sub: str
    exp: int
    iat: int


_claims = msgspec.json.Decoder(Claims)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue(secret: str, agent_id: str, *, now: int, ttl_seconds: int) -> str:
    payload = _b64(msgspec.json.encode(Claims(sub=agent_id, exp=now + ttl_seconds, iat=now)))
    return f"{payload}.{_sign(secret, payload)}"


def verify(secret: str, token: str, *, now: int) -> Claims:
    payload, _, signature = token.partition(".")
    if not payload or not signature or not hmac.compare_digest(signature, _sign(secret, payload)):
        raise TokenInvalid("bad signature")
    try:
        claims = _claims.decode(_unb64(payload))
    except (ValueError, msgspec.ValidationError) as e:
        raise TokenInvalid("malformed claims") from e
    if claims.exp <= now:
        raise TokenExpired(f"expired at {claims.exp}")
    return claims
