"""The errors a webhook request can be refused with. Each carries the HTTP
status to answer, so the endpoint branches on type, never on text."""

from __future__ import annotations


class WebhookError(Exception):
    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class BadSignature(WebhookError):
    """Missing or wrong ``X-Hub-Signature-256``: the sender is not Meta (or
    the body changed on the way). Nothing is read or stored."""

    status = 401


class BadPayload(WebhookError):
    """The body is not JSON, or not the channel's envelope (wrong ``object``,
    no ``entry`` list). Meta never sends this; nothing is stored."""

    status = 400


class Unsendable(Exception):
    """An outbound message the channel's send API cannot express (a kind we
    never send there). Not a webhook error: the sender marks it failed."""
