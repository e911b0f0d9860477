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
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from protocol import depth, errors
from protocol import messages as p
from protocol.schema import schema_json
from server.auth import Claims, TokenError, TokenExpired, TokenRevoked, issue
from server.channels.webhooks import routes as webhook_routes
from server.core.errors import DomainError
from server.core.model import Agent, Inbound
from server.core.views import contact_view
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


class MsgspecResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return p.encoder.encode(content)


def refuse(code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=STATUS.get(code, 400))


class ContactBody(msgspec.Struct):
    name: str | None


class DevLogin(msgspec.Struct):
    agent_id: str


class DevInbound(msgspec.Struct, kw_only=True):
    touchpoint_id: str
    address: str
    text: str
    id: str | None = None
    profile_name: str | None = None
    kind: str = "text"


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
            return int(raw)
        except ValueError:
            raise DomainError(errors.INVALID_ARGUMENT, f"{name} must be an integer.") from None

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "node": node.node_id})

    async def readyz(request: Request) -> Response:
        ready = node.ready
        return JSONResponse({"ready": ready, "node": node.node_id}, status_code=200 if ready else 503)

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
        await agent_of(request)
        return MsgspecResponse([contact_view(c) for c in await service.store.list_contacts()])

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
        body = depth.decode(await request.body(), type=DevInbound)
        if body.touchpoint_id not in service.touchpoints:
            raise DomainError(errors.NOT_FOUND, f"No touchpoint {body.touchpoint_id!r}.")
        inbound = Inbound(kind=body.kind, text=body.text, at=service.clock(), channel_message_id=body.id)
        outcome = await service.receive(body.touchpoint_id, body.address, inbound, profile_name=body.profile_name)
        if outcome is None:
            return JSONResponse({"duplicate": True})
        assert outcome.message is not None
        return JSONResponse(
            {"duplicate": False, "conversation_id": outcome.after.id, "message_id": outcome.message.id}
        )

    async def dev_agents(request: Request) -> Response:
        """Dev only: the configured agents, for the web app's demo log-in."""
        agents = service.agents.values()
        return MsgspecResponse([p.AgentView(id=a.id, name=a.name, role=a.role, queues=list(a.queues)) for a in agents])

    async def dev_login(request: Request) -> Response:
        """Dev only: a token for a configured agent, no password (``make run``)."""
        agent = service.agents.get(depth.decode(await request.body(), type=DevLogin).agent_id)
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
    return Starlette(routes=routes)



