"""Files agents upload to send: the upload id is a signed, self-contained
claim (what was stored, for whom, for which conversation, when), so any node
can check it without a lookup and nothing is kept for an upload never sent.

    upload id = base64url(msgpack(Claim)) "." hex HMAC-SHA256 (first 32)

keyed with a key derived from the token secret (its own domain). A claim is
good for ``UPLOAD_TTL_MS`` and only for the agent and conversation it names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import msgspec
from msgspec import Struct

from protocol import errors
from server.core.errors import DomainError
from server.core.model import Media

UPLOAD_TTL_MS = 24 * 3600 * 1000


class Claim(Struct, frozen=True, kw_only=True):
    nonce: str
    """Names the upload: a retried ``send_media`` with it finds the message it made."""
    agent_id: str
    conversation_id: str
    at: int
    media: Media


class Uploads:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"switchboard uploads\x00" + secret.encode()).digest()
        self._decode = msgspec.msgpack.Decoder(Claim).decode

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, claim: Claim) -> str:
        body = base64.urlsafe_b64encode(msgspec.msgpack.encode(claim)).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def verify(self, upload_id: str, *, agent_id: str, conversation_id: str, now: int) -> Claim:
        """The claim, or DomainError: forged or unreadable (``invalid_argument``),
        someone else's or another conversation's (``forbidden``), too old."""
        body, _, sig = upload_id.partition(".")
        if not body or not hmac.compare_digest(sig, self._sign(body)):
            raise DomainError(errors.INVALID_ARGUMENT, "Unknown upload: upload the file again.")
        try:
            claim = self._decode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
            raise DomainError(errors.INVALID_ARGUMENT, "Unknown upload: upload the file again.") from None
        if claim.agent_id != agent_id or claim.conversation_id != conversation_id:
            raise DomainError(errors.FORBIDDEN, "This upload was made by another agent or for another conversation.")
        if now - claim.at > UPLOAD_TTL_MS:
            raise DomainError(errors.INVALID_ARGUMENT, "This upload is too old: upload the file again.")
        return claim
