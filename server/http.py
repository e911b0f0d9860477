"""HTTP edge (Starlette): health, metrics, the protocol schema, a small REST
API over the same service, and the dev-only inbound injector.

Endpoints are thin: authenticate, translate the request, call the service,
write the answer. A refused request answers ``{"code", "message"}`` with the
status that fits the code.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from starlette._utils import parse_host_header
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol import depth, errors
from protocol import messages as p
from protocol.schema import schema_json
from server.auth import Claims, TokenError, TokenExpired, TokenRevoked, issue
from server.channels.webhooks import read_limited
from server.channels.webhooks import routes as webhook_routes
from server.core import identity
from server.core.errors import DomainError
from server.core.model import Agent, Inbound
from server.core.views import contact_view
from server.deploy_checks import trusted_hosts
from server.openapi import asyncapi_endpoint, openapi_endpoint
from server.store.base import StoreUnavailable

if TYPE_CHECKING:
    from server.node import Node

STATUS = {
    errors.AUTH_FAILED: 401,
    errors.TOKEN_EXPIRED: 401,
    errors.TOKEN_REVOKED: 401,
    errors.FORBIDDEN: 403,
    errors.NOT_FOUND: 404,
    errors.INVALID_ARGUMENT: 400,
    errors.BAD_FRAME: 400,
    errors.CONFLICT: 409,
    errors.ALREADY_ASSIGNED: 409,
    errors.UNAVAILABLE: 503,
}


INT64_MAX = 2**63 - 1


class MsgspecResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return p.encoder.encode(content)


def refuse(code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=STATUS.get(code, 400))


DEV_MAX_BODY_BYTES = 16 * 1024
"""The dev endpoints' bodies (a log-in, one customer message): 413 above."""


class SecurityHeaders:
    """Headers on every HTTP response: the web app may run only its own
    scripts and styles, talk only to this node (its HTTP origin and its agent
    websocket), never be framed; no MIME sniffing; no Referer leaves it."""

    def __init__(self, app: ASGIApp, ws_port: int) -> None:
        self.app = app
        self.ws_port = ws_port

    def policy(self, host_header: str | None) -> str:
        connect = "'self'"
        parsed = parse_host_header(host_header)
        # Only a plausible host name or address goes into the header.
        if parsed is not None and parsed.host and all(c.isalnum() or c in ".-:[]" for c in parsed.host):
            connect += f" ws://{parsed.host}:{self.ws_port} wss://{parsed.host}:{self.ws_port}"
        return (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy(Headers(scope=scope).get("host"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
            await send(message)

        await self.app(scope, receive, with_headers)


class Refused(Exception):
    """A refusal whose HTTP status is not the one its code usually maps to."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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


class ContactBody(msgspec.Struct):
    name: str | None


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


def create_app(node: Node) -> Starlette:
    service = node.service

    async def authenticated(request: Request) -> tuple[Agent, Claims]:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if not token:
            raise DomainError(errors.AUTH_FAILED, "Send Authorization: Bearer <token>.")
        try:
            return await service.authenticate(token)
        except TokenExpired as e:
            raise DomainError(errors.TOKEN_EXPIRED, "The token expired; log in again.") from e
        except TokenRevoked as e:
            raise DomainError(errors.TOKEN_REVOKED, "The token was revoked; log in again.") from e
        except TokenError as e:
            raise DomainError(errors.AUTH_FAILED, "Invalid token.") from e

    async def agent_of(request: Request) -> Agent:
        return (await authenticated(request))[0]

    def endpoint(handler):  # type: ignore[no-untyped-def]
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

        return wrapped

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

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "node": node.node_id})

    async def readyz(request: Request) -> Response:
        """Not ready while starting or stopping, and while the store stalls
        or keeps failing (SqliteStore.healthy): take the node out of rotation."""
        healthy = getattr(node.store, "healthy", None)
        store_ok = healthy() if healthy is not None else True
        ready = node.ready and store_ok
        body = {"ready": ready, "node": node.node_id, "store": "ok" if store_ok else "stalled"}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(node.metrics.render(), media_type="text/plain; version=0.0.4")

    async def schema(request: Request) -> Response:
        return Response(schema_json(), media_type="application/json")

    async def client_config(request: Request) -> Response:
        """Where agents connect: /ws on the address this request came to (the
        same origin, through any reverse proxy that passes Host on), or on the
        dedicated websocket port when ``ws_port`` is set."""
        scheme = "wss" if request.url.scheme == "https" else "ws"
        if node.config.server.ws_port:
            host = request.url.hostname or node.config.server.host
            netloc = f"[{host}]" if ":" in host else host
            netloc += f":{node.config.server.ws_port}"
        else:
            netloc = request.url.netloc or f"{node.config.server.host}:{node.config.server.port}"
        return JSONResponse({"ws_url": f"{scheme}://{netloc}/ws", "protocol": p.PROTOCOL_VERSION})

    async def inbox(request: Request) -> Response:
        agent = await agent_of(request)
        queue_id = request.path_params["queue_id"]
        if queue_id not in service.visible_queues(agent):
            raise DomainError(errors.NOT_FOUND, "No such queue.")
        return MsgspecResponse(await service.summaries(await service.store.inbox(queue_id)))

    async def conversation(request: Request) -> Response:
        agent = await agent_of(request)
        conv_id = request.path_params["conv_id"]
        limit = int_param(request, "limit", 50) or 50
        before = int_param(request, "before", None)
        conv = await service.viewable(agent, conv_id)
        page = await service.history(agent, conv_id, before if before is not None else conv.message_count + 1, limit)
        return MsgspecResponse(
            {"conversation": await service.summary(conv), "messages": page.messages, "has_more": page.has_more}
        )

    async def search(request: Request) -> Response:
        agent = await agent_of(request)
        result = await service.search(agent, request.path_params["conv_id"], request.query_params.get("q", ""))
        return MsgspecResponse(result)

    async def contacts(request: Request) -> Response:
        """The whole directory, every queue's contacts: supervisors only."""
        if not (await agent_of(request)).is_supervisor:
            raise DomainError(errors.FORBIDDEN, "Only a supervisor may list the contacts directory.")
        return MsgspecResponse([contact_view(c) for c in await service.contacts.listed()])

    async def put_contact(request: Request) -> Response:
        agent = await agent_of(request)
        if not agent.is_supervisor:
            raise DomainError(errors.FORBIDDEN, "Only a supervisor may edit the contacts directory.")
        channel, address = request.path_params["channel"], request.path_params["address"]
        if channel not in service.config.windows:
            raise DomainError(errors.INVALID_ARGUMENT, f"Unknown channel {channel!r}.")
        if request.method == "DELETE":
            name = None
        else:
            body = depth.decode(await request.body(), type=ContactBody)
            name = body.name.strip() if body.name and body.name.strip() else None
            if name is not None and len(name) > 200:
                raise DomainError(errors.INVALID_ARGUMENT, "Name is longer than 200 characters.")
        contact = await service.put_contact(channel, address, name)
        return MsgspecResponse(contact_view(contact))

    async def logout(request: Request) -> Response:
        """Revoke the token that signs this request (sockets opened with it close)."""
        _, claims = await authenticated(request)
        await service.revoke_token(claims)
        return JSONResponse({"revoked": claims.jti})

    async def revoke_agent(request: Request) -> Response:
        """Supervisor (or the agent): void every token of the agent, everywhere."""
        agent = await agent_of(request)
        target = request.path_params["agent_id"]
        if not (agent.is_supervisor or agent.id == target):
            raise DomainError(errors.FORBIDDEN, "Only a supervisor may log another agent out.")
        until = await service.revoke_agent(target)
        return JSONResponse({"agent_id": target, "not_before": until})

    async def dev_inbound(request: Request) -> Response:
        """Dev only: act as a channel delivering a contact's message."""
        body = depth.decode(await json_body(request), type=DevInbound)
        if body.touchpoint_id not in service.touchpoints:
            raise DomainError(errors.NOT_FOUND, f"No touchpoint {body.touchpoint_id!r}.")
        inbound = Inbound(kind=body.kind, text=body.text, at=service.clock(), channel_message_id=body.id)
        channel = service.touchpoints[body.touchpoint_id].channel
        who = identity.from_channel(channel, body.address or None, body.user_id, body.username)
        outcome = await service.receive(body.touchpoint_id, who, inbound, profile_name=body.profile_name)
        if outcome is None:
            return JSONResponse({"duplicate": True})
        message_id = outcome.message.id if outcome.message is not None else None
        return JSONResponse({"duplicate": False, "conversation_id": outcome.after.id, "message_id": message_id})

    async def dev_agents(request: Request) -> Response:
        """Dev only: the configured agents, for the web app's demo log-in."""
        agents = service.agents.values()
        return MsgspecResponse([p.AgentView(id=a.id, name=a.name, role=a.role, queues=list(a.queues)) for a in agents])

    async def dev_login(request: Request) -> Response:
        """Dev only: a token for a configured agent, no password (``make run``)."""
        agent = service.agents.get(depth.decode(await json_body(request), type=DevLogin).agent_id)
        if agent is None:
            raise DomainError(errors.NOT_FOUND, "No such agent.")
        s = node.config.server
        token = issue(s.token_secret, agent.id, now=int(time.time()), ttl_seconds=s.token_ttl_seconds)
        return JSONResponse({"token": token})

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/protocol/schema.json", schema),
        Route("/protocol/asyncapi.json", asyncapi_endpoint),
        Route("/protocol/openapi.json", openapi_endpoint),
        Route("/api/config", client_config),
        Route("/api/queues/{queue_id}/inbox", endpoint(inbox)),
        Route("/api/conversations/{conv_id}", endpoint(conversation)),
        Route("/api/conversations/{conv_id}/search", endpoint(search)),
        Route("/api/contacts", endpoint(contacts)),
        Route("/api/logout", endpoint(logout), methods=["POST"]),
        Route("/api/agents/{agent_id}/revoke", endpoint(revoke_agent), methods=["POST"]),
        Route("/api/contacts/{channel}/{address}", endpoint(put_contact), methods=["PUT", "DELETE"]),
    ]
    routes.extend(webhook_routes(node))  # Meta's webhooks (server/channels)
    if node.config.server.dev_endpoints:
        routes.append(Route("/api/dev/inbound", endpoint(dev_inbound), methods=["POST"]))
        routes.append(Route("/api/dev/agents", dev_agents))
        routes.append(Route("/api/dev/login", endpoint(dev_login), methods=["POST"]))
    # The agent web app (server/static): index.html at /, the rest beside it.
    routes.append(Mount("/", StaticFiles(directory=Path(__file__).parent / "static", html=True)))
    middleware = [Middleware(SecurityHeaders, ws_port=node.config.ws_port)]
    hosts = trusted_hosts(node.config.server)
    if hosts:  # outermost: a foreign Host header (DNS rebinding) reaches nothing
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=[_bracketed(h) for h in hosts]))
    return Starlette(routes=routes, middleware=middleware)


def _bracketed(host: str) -> str:
    """TrustedHostMiddleware sees an IPv6 Host as ``[::1]``."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host



