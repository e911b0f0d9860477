"""Meta's webhooks: the HTTP side (server/channels/ parses and applies).

    GET  /webhooks/{channel}   subscription handshake: hub.challenge back when
                               hub.verify_token matches (200), else 403
    POST /webhooks/{channel}   401 unsigned or wrongly signed (nothing read)
                               400 not the channel's envelope (nothing stored)
                               503 storage failed: Meta retries the batch, and
                                   the retry is harmless (ids dedup, states
                                   only move forward)
                               200 the whole batch is stored (items we could
                                   not understand or route are logged and
                                   counted: a retry would bring them back the
                                   same)
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from server.channels import events as ev
from server.channels import messenger, whatsapp
from server.channels.errors import WebhookError
from server.channels.signature import HEADER, verify
from server.http.parts import MsgspecResponse, Parts, parts, read_limited

log = logging.getLogger(__name__)

PARSERS: dict[str, Callable[[bytes], ev.Batch]] = {"whatsapp": whatsapp.parse, "messenger": messenger.parse}


def _refuse(found: Parts, channel: str, status: int, reason: str, event: str) -> Response:
    found.metrics.channel.inc(1, channel, event)
    return JSONResponse({"error": reason}, status_code=status)


async def whatsapp_webhook(request: Request) -> Response:
    return await _webhook(request, "whatsapp")


async def messenger_webhook(request: Request) -> Response:
    return await _webhook(request, "messenger")


async def _webhook(request: Request, channel: str) -> Response:
    found = parts(request)
    if request.method == "GET":
        return _handshake(found, channel, request)
    settings = found.config.meta
    body = await read_limited(request, settings.max_body_bytes)
    if body is None:
        return _refuse(found, channel, 413, "Body too large.", "webhook_too_large")
    try:
        verify(settings.app_secret, body, request.headers.get(HEADER))
        batch = PARSERS[channel](body)
    except WebhookError as e:
        log.warning("%s webhook refused (%d): %s", channel, e.status, e.reason)
        return _refuse(found, channel, e.status, e.reason, f"webhook_{e.status}")
    try:
        tally = await found.inbox.apply(batch)
    except Exception:
        # Whatever failed (the store, most likely), 503 makes Meta
        # deliver the batch again later; what was stored meanwhile
        # is recognised then (message ids, forward-only states).
        log.exception("%s webhook: could not store the batch; asking Meta to retry", channel)
        return _refuse(found, channel, 503, "Storage unavailable; retry later.", "webhook_503")
    found.metrics.channel.inc(1, channel, "webhook_ok")
    return MsgspecResponse({"ok": True, "events": tally})  # the same compact JSON as JSONResponse, one C call


def _handshake(found: Parts, channel: str, request: Request) -> Response:
    q = request.query_params
    token = q.get("hub.verify_token", "")
    expected = found.config.meta.verify_token
    if q.get("hub.mode") == "subscribe" and expected and hmac.compare_digest(token.encode(), expected.encode()):
        found.metrics.channel.inc(1, channel, "handshake_ok")
        return PlainTextResponse(q.get("hub.challenge", ""))
    found.metrics.channel.inc(1, channel, "handshake_refused")
    return PlainTextResponse("Verification failed.", status_code=403)
