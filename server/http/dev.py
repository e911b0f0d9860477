"""Dev-only endpoints (``dev_endpoints``; never in production, see
server/deploy_checks.py): act as a channel, list the agents, log in without
a password."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from protocol import depth
from server.core import identity
from server.core.model import Inbound
from server.http.parts import MsgspecResponse, endpoint, json_body, parts


class DevLogin(msgspec.Struct):
    agent_id: str


class DevInbound(msgspec.Struct, kw_only=True):
    touchpoint_id: str
    address: str = ""
    """WhatsApp: the phone number as Meta sends it (digits); may be empty with a user_id."""
    text: str
    id: str | None = None
    profile_name: str | None = None
    kind: str = "text"
    user_id: str | None = None
    """WhatsApp: the business-scoped user id (BSUID)."""
    username: str | None = None


@endpoint
async def inbound(request: Request) -> Response:
    """Act as a channel delivering a contact's message."""
    app = parts(request).app
    body = depth.decode(await json_body(request), type=DevInbound)
    channel = app.catalog.touchpoint(body.touchpoint_id).channel
    message = Inbound(kind=body.kind, text=body.text, at=app.clock(), channel_message_id=body.id)
    who = identity.from_channel(channel, body.address or None, body.user_id, body.username)
    outcome = await app.intake.receive(body.touchpoint_id, who, message, profile_name=body.profile_name)
    if outcome is None:
        return JSONResponse({"duplicate": True})
    message_id = outcome.message.id if outcome.message is not None else None
    return JSONResponse({"duplicate": False, "conversation_id": outcome.after.id, "message_id": message_id})


async def agents(request: Request) -> Response:
    """The configured agents, for the web app's demo log-in."""
    return MsgspecResponse(list(parts(request).app.catalog.agent_views.values()))


@endpoint
async def login(request: Request) -> Response:
    """A token for a configured agent, no password (``make run``)."""
    token = parts(request).app.tokens.issue(depth.decode(await json_body(request), type=DevLogin).agent_id)
    return JSONResponse({"token": token})
