"""The REST API, health and metrics: module-level endpoints, each one
translating the request, calling one use case, writing the answer."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from protocol import depth, errors
from protocol import messages as p
from protocol.schema import schema_json
from server.core.errors import DomainError
from server.core.views import contact_view
from server.http.parts import (
    MsgspecResponse,
    agent_of,
    authenticated,
    endpoint,
    int_param,
    parts,
)


class ContactBody(msgspec.Struct):
    name: str | None


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "node": parts(request).node_id})


async def readyz(request: Request) -> Response:
    """Not ready while starting or stopping, and while the store stalls
    or keeps failing (SqliteStore.healthy): take the node out of rotation."""
    found = parts(request)
    store_ok = found.store_healthy()
    ready = found.ready() and store_ok
    body = {"ready": ready, "node": found.node_id, "store": "ok" if store_ok else "stalled"}
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    return PlainTextResponse(parts(request).metrics.render(), media_type="text/plain; version=0.0.4")


async def schema(request: Request) -> Response:
    return Response(schema_json(), media_type="application/json")


async def client_config(request: Request) -> Response:
    """Where agents connect: /ws on the address this request came to (the
    same origin, through any reverse proxy that passes Host on), or on the
    dedicated websocket port when ``ws_port`` is set."""
    s = parts(request).config.server
    scheme = "wss" if request.url.scheme == "https" else "ws"
    if s.ws_port:
        host = request.url.hostname or s.host
        netloc = f"[{host}]" if ":" in host else host
        netloc += f":{s.ws_port}"
    else:
        netloc = request.url.netloc or f"{s.host}:{s.port}"
    return JSONResponse({"ws_url": f"{scheme}://{netloc}/ws", "protocol": p.PROTOCOL_VERSION})


@endpoint
async def inbox(request: Request) -> Response:
    agent = await agent_of(request)
    q = request.query_params
    channel = q.get("channel")
    if channel is not None and channel not in ("whatsapp", "messenger"):
        raise DomainError(errors.INVALID_ARGUMENT, "channel must be whatsapp or messenger.")
    page = await parts(request).app.reads.inbox_page(
        agent,
        cursor=q.get("cursor") or None,
        limit=int_param(request, "limit", 100) or 100,
        queue_id=request.path_params["queue_id"],
        channel=channel,
        query=q.get("q"),
    )
    # The body stays a list (as before paging); the next page's cursor rides in a header.
    headers = {"X-Next-Cursor": page.cursor} if page.cursor else None
    return MsgspecResponse(page.conversations, headers=headers)


@endpoint
async def conversation(request: Request) -> Response:
    agent = await agent_of(request)
    limit = int_param(request, "limit", 50) or 50
    before = int_param(request, "before", None)
    summary, page = await parts(request).app.reads.page(agent, request.path_params["conv_id"], before, limit)
    return MsgspecResponse({"conversation": summary, "messages": page.messages, "has_more": page.has_more})


@endpoint
async def search(request: Request) -> Response:
    agent = await agent_of(request)
    reads = parts(request).app.reads
    return MsgspecResponse(await reads.search(agent, request.path_params["conv_id"], request.query_params.get("q", "")))


@endpoint
async def contacts(request: Request) -> Response:
    """The whole directory, every queue's contacts: supervisors only."""
    listed = await parts(request).app.contacts.listed(await agent_of(request))
    return MsgspecResponse([contact_view(c) for c in listed])


@endpoint
async def put_contact(request: Request) -> Response:
    agent = await agent_of(request)
    name = None if request.method == "DELETE" else depth.decode(await request.body(), type=ContactBody).name
    contact = await parts(request).app.contacts.put(agent, request.path_params["channel"], request.path_params["address"], name)
    return MsgspecResponse(contact_view(contact))


@endpoint
async def logout(request: Request) -> Response:
    """Revoke the token that signs this request (sockets opened with it close)."""
    _, claims = await authenticated(request)
    await parts(request).app.tokens.revoke_token(claims)
    return JSONResponse({"revoked": claims.jti})


@endpoint
async def revoke_agent(request: Request) -> Response:
    """Supervisor (or the agent): void every token of the agent, everywhere."""
    agent = await agent_of(request)
    target = request.path_params["agent_id"]
    until = await parts(request).app.tokens.revoke_agent(agent, target)
    return JSONResponse({"agent_id": target, "not_before": until})
