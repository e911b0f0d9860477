"""What the HTTP endpoints are given (by the node, through the Starlette
app's state), and the helpers every endpoint shares: the refusal shape, a
JSON body read within a limit, the bearer token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from protocol import errors
from protocol import messages as p
from server.app import App
from server.app.media import MediaFiles
from server.app.tokens import refusal
from server.auth import Claims, TokenError
from server.channels.webhooks import Inbox
from server.config import Config
from server.core.errors import DomainError
from server.core.model import Agent
from server.metrics import Metrics
from server.store.base import StoreUnavailable


@dataclass(frozen=True, slots=True)
class Parts:
    app: App
    config: Config
    metrics: Metrics
    node_id: str
    ready: Callable[[], bool]
    """Started, not stopping, and its broker healthy."""
    store_healthy: Callable[[], bool]
    """False while the store stalls or keeps failing (SqliteStore.healthy)."""
    inbox: Inbox
    """Applies Meta's webhook batches to the app."""
    media: MediaFiles
    """Signed links to the files customers sent, and the files."""


def parts(request: Request) -> Parts:
    found: Parts = request.app.state.parts
    return found


STATUS = {
    errors.AUTH_FAILED: 401,
    errors.TOKEN_EXPIRED: 401,
    errors.TOKEN_REVOKED: 401,
    errors.FORBIDDEN: 403,
    errors.NOT_FOUND: 404,
    errors.INVALID_ARGUMENT: 400,
    errors.INVALID_ADDRESS: 400,
    errors.MEDIA_REFUSED: 400,
    errors.NOT_ASSIGNEE: 409,
    errors.CONVERSATION_ENDED: 409,
    errors.BAD_FRAME: 400,
    errors.CONFLICT: 409,
    errors.ALREADY_ASSIGNED: 409,
    errors.UNAVAILABLE: 503,
}

INT64_MAX = 2**63 - 1

DEV_MAX_BODY_BYTES = 16 * 1024
"""The dev endpoints' bodies (a log-in, one customer message): 413 above."""


class MsgspecResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return p.encoder.encode(content)


def refuse(code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=STATUS.get(code, 400))


class Refused(Exception):
    """A refusal whose HTTP status is not the one its code usually maps to."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Handler) -> Handler:
    """A refusal (DomainError, a malformed body, the store down) becomes
    ``{"code", "message"}`` with the status that fits the code."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except DomainError as e:
            return refuse(e.code, e.message)
        except Refused as e:
            return JSONResponse({"code": e.code, "message": e.message}, status_code=e.status)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            return refuse(errors.INVALID_ARGUMENT, str(e))
        except StoreUnavailable:
            return refuse(errors.UNAVAILABLE, "Storage is unavailable; retry.")

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes ``limit`` bytes (declared or, for a
    chunked body, as it streams in: nothing bigger is ever buffered)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    # The ASGI messages read directly: Request.stream() is an async generator
    # (a few frames per message) around the same loop.
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def json_body(request: Request, limit: int = DEV_MAX_BODY_BYTES) -> bytes:
    """A JSON body of at most ``limit`` bytes. Anything but application/json
    is refused (415): a cross-origin page may POST text/plain without asking."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise Refused(415, errors.INVALID_ARGUMENT, "Send Content-Type: application/json.")
    body = await read_limited(request, limit)
    if body is None:
        raise Refused(413, errors.INVALID_ARGUMENT, f"The body is over {limit} bytes.")
    return body


def int_param(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DomainError(errors.INVALID_ARGUMENT, f"{name} must be an integer.") from None
    if not 0 <= value <= INT64_MAX:  # what the store can hold
        raise DomainError(errors.INVALID_ARGUMENT, f"{name} must be between 0 and {INT64_MAX}.")
    return value


async def authenticated(request: Request) -> tuple[Agent, Claims]:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip()
    if not token:
        raise DomainError(errors.AUTH_FAILED, "Send Authorization: Bearer <token>.")
    try:
        return await parts(request).app.tokens.authenticate(token)
    except TokenError as e:
        raise refusal(e) from e


async def agent_of(request: Request) -> Agent:
    return (await authenticated(request))[0]
