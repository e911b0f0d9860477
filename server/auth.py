"""Signed agent tokens: ``base64url(claims).base64url(hmac_sha256(claims))``.

Claims are ``{"sub": agent_id, "exp": unix seconds, "iat": unix seconds,
"jti": token id}``. A token is revoked one by one (its ``jti``) or with all of
its agent's tokens issued up to a second (``revoke_all``); revocations live in
the store so every node, and a restarted one, honours them.
Forged or malformed tokens raise ``TokenInvalid``; expired ones raise
``TokenExpired`` (a different type, so the socket can close with a different
code and the client knows to log in again rather than to report a bug).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets

import msgspec


class TokenError(Exception):
    pass


class TokenInvalid(TokenError):
    pass


class TokenExpired(TokenError):
    pass


class TokenRevoked(TokenError):
    pass


class Claims(msgspec.Struct):
    sub: str
    exp: int
    iat: int
    jti: str = ""

    def revocation_keys(self) -> list[str]:
        return [f"token:{self.jti}", f"agent:{self.sub}"]

    def revoked_by(self, found: dict[str, int]) -> bool:
        """Whether the revocations found for ``revocation_keys`` void this token."""
        return f"token:{self.jti}" in found or found.get(f"agent:{self.sub}", -1) >= self.iat


_claims = msgspec.json.Decoder(Claims)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _signature(key: bytes, payload: bytes) -> bytes:
    """base64url(hmac_sha256(payload)), unpadded: ``_b64`` of the HMAC, in a
    few C calls (``hmac.new`` and ``base64`` are Python layers over the same:
    37 Python calls per verify before, ~17 now; bench/README.md, session 9)."""
    return binascii.b2a_base64(hmac.digest(key, payload, "sha256"), newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def _sign(secret: str, payload: str) -> str:
    return _signature(secret.encode(), payload.encode()).decode()


def issue(secret: str, agent_id: str, *, now: int, ttl_seconds: int) -> str:
    claims = Claims(sub=agent_id, exp=now + ttl_seconds, iat=now, jti=secrets.token_urlsafe(12))
    payload = _b64(msgspec.json.encode(claims))
    return f"{payload}.{_sign(secret, payload)}"


def verify(secret: str, token: str, *, now: int) -> Claims:
    return _verify(secret.encode(), token, now)


def _verify(key: bytes, token: str, now: int) -> Claims:
    payload, _, signature = token.partition(".")
    raw = payload.encode()
    # Bytes: compare_digest refuses str with non-ASCII characters (TypeError).
    if not payload or not signature or not hmac.compare_digest(signature.encode(), _signature(key, raw)):
        raise TokenInvalid("bad signature")
    if not raw.isascii():  # as base64.urlsafe_b64decode refuses a str (ValueError)
        raise TokenInvalid("malformed claims")
    try:
        # base64.urlsafe_b64decode(payload + padding), without its Python layers
        claims = _claims.decode(binascii.a2b_base64(raw.translate(_FROM_URLSAFE) + b"=" * (-len(raw) % 4)))
    except (ValueError, msgspec.ValidationError) as e:
        raise TokenInvalid("malformed claims") from e
    if claims.exp <= now:
        raise TokenExpired(f"expired at {claims.exp}")
    return claims


class VerifiedTokens:
    """``verify`` remembering the tokens whose signature it checked, by their
    text: a reconnect wave (a deploy, a shift start) presents the same tokens
    again, and their HMAC, base64 and claims decoding are then done once per
    token rather than once per connect. The expiry is checked on every use
    (a remembered token past its ``exp`` raises ``TokenExpired`` and is
    forgotten); revocations are not checked here (the store's, on every use:
    ``Tokens.authenticate``). At most ``size`` tokens kept, the oldest
    forgotten first; a token that fails is never kept."""

    __slots__ = ("_key", "_seen", "size")

    def __init__(self, secret: str, size: int = 1024) -> None:
        self._key = secret.encode()
        self._seen: dict[str, Claims] = {}
        self.size = size

    def verify(self, token: str, *, now: int) -> Claims:
        claims = self._seen.get(token)
        if claims is None:
            claims = _verify(self._key, token, now)
            if len(self._seen) >= self.size:
                del self._seen[next(iter(self._seen))]
            self._seen[token] = claims
        elif claims.exp <= now:
            del self._seen[token]
            raise TokenExpired(f"expired at {claims.exp}")
        return claims
