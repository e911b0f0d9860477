"""Meta signs every webhook POST: ``X-Hub-Signature-256: sha256=<hex>``, the
HMAC-SHA256 of the raw request body keyed with the app secret. The check runs
on the bytes as received, before any parsing."""

from __future__ import annotations

import hmac

from server.channels.errors import BadSignature

HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value Meta would send for ``body``."""
    # hmac.digest: one call into OpenSSL (hmac.new builds an HMAC object in Python).
    return PREFIX + hmac.digest(secret.encode(), body, "sha256").hex()


def verify(secret: str, body: bytes, header: str | None) -> None:
    """Raise BadSignature unless ``header`` signs ``body`` with ``secret``.
    An empty secret refuses everything: an unconfigured node accepts nothing."""
    if not secret:
        raise BadSignature("The webhook app secret is not configured.")
    if not header:
        raise BadSignature(f"Missing {HEADER} header.")
    if not header.startswith(PREFIX):
        raise BadSignature(f"{HEADER} must start with {PREFIX!r}.")
    expected = sign(secret, body)
    # Constant time: the comparison must not tell an attacker how much matched.
    if not hmac.compare_digest(expected.encode(), header.strip().lower().encode()):
        raise BadSignature(f"{HEADER} does not match the body.")
