"""OpenAPI 3.1 document of the node's HTTP endpoints, served at
``GET /protocol/openapi.json``.

Each endpoint is declared once here (``ENDPOINTS``): path, method, who may
call it, its parameters, body and answers. Bodies and answers are msgspec
types (the protocol's views, the request Structs of ``server/http/``, and
the answer shapes below), turned into JSON Schema by
``msgspec.json.schema_components``. ``tests/server/test_openapi.py`` holds
this list to the real routes (every route is declared, nothing else is) and
validates real answers against it; docs/HTTP.md gives an example of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import errors
from protocol import messages as p
from protocol.asyncapi import asyncapi_json
from server.http.parts import STATUS

REF = "#/components/schemas/{name}"

Auth = Literal["none", "agent", "supervisor", "meta"]


# --------------------------------------------------------------------------- answer shapes


class Refusal(msgspec.Struct):
    """A refused request: a stable code (docs/PROTOCOL.md's table) and a message for people."""

    code: str
    message: str


class Health(msgspec.Struct):
    status: Literal["ok"]
    node: str


class Readiness(msgspec.Struct):
    ready: bool
    node: str
    store: Literal["ok", "stalled"]


class ClientConfig(msgspec.Struct):
    ws_url: str
    """Where agents connect: ``ws://`` or ``wss://`` + the address the request came to + ``/ws``."""
    protocol: int


class ConversationPage(msgspec.Struct):
    conversation: p.ConversationSummary
    messages: list[p.MessageView]
    """Oldest first: the newest ``limit`` messages, or those with ``seq < before``."""
    has_more: bool


class Revoked(msgspec.Struct):
    revoked: str
    """The id (``jti``) of the revoked token."""


class AgentRevoked(msgspec.Struct):
    agent_id: str
    not_before: int
    """Unix seconds: every token of the agent issued up to this second is void."""


class WebhookAccepted(msgspec.Struct):
    ok: bool
    events: dict[str, int]
    """What became of the batch's items, by outcome (``message``, ``duplicate``, ``status``, ``rejected``…)."""


class WebhookRefused(msgspec.Struct):
    error: str


class DevInboundAnswer(msgspec.Struct, kw_only=True):
    duplicate: bool
    conversation_id: str | None = None
    message_id: str | None = None


class DevToken(msgspec.Struct):
    token: str


class Uploaded(msgspec.Struct):
    upload_id: str
    """What ``send_media`` takes (24 hours, this agent and conversation only)."""
    kind: Literal["image", "audio", "video", "document", "sticker"]
    mime_type: str
    """What the file is, read from its bytes: what it goes to the channel as."""
    size: int
    filename: str


class MediaLink(msgspec.Struct):
    url: str
    """A path on this node, good without headers until ``expires_at`` (``<img src>``, ``<audio src>``)."""
    expires_at: int
    """ms since the epoch (``media.link_seconds`` after it was made)."""


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    description: str
    type: Literal["string", "integer"] = "string"
    required: bool = False


@dataclass(frozen=True)
class Answer:
    description: str
    type: Any = None
    """A msgspec type for a JSON body; None with ``media``, or no body."""
    media: str = "application/json"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    auth: Auth
    answers: dict[int, Answer]
    params: tuple[Param, ...] = ()
    body: Any = None
    dev: bool = False
    """Only with ``dev_endpoints = true`` (never in production)."""
    tag: str = "api"
    description: str = ""
    refusals: tuple[str, ...] = field(default=())
    """Error codes this endpoint may answer (with a Refusal body)."""


def _refused(*codes: str) -> dict[int, Answer]:
    """The statuses of the refusal codes ``server/http/parts.py`` maps (STATUS)."""
    out: dict[int, list[str]] = {}
    for code in codes:
        out.setdefault(STATUS[code], []).append(code)
    return {s: Answer("Refused: " + ", ".join(f"`{c}`" for c in cs), Refusal) for s, cs in out.items()}


AUTH_CODES = (errors.AUTH_FAILED, errors.TOKEN_EXPIRED, errors.TOKEN_REVOKED, errors.UNAVAILABLE)
"""What any authenticated endpoint may answer (503 ``unavailable``: storage down, retry)."""
CONV_ID = Param("conv_id", "path", "A conversation id (opaque).", required=True)
SIGNATURE = Param(
    "X-Hub-Signature-256",
    "header",
    "`sha256=` + hex HMAC-SHA256 of the raw body, keyed with the Meta app secret.",
    required=True,
)


def _webhook(channel: str, envelope: str) -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            f"/webhooks/{channel}",
            f"Meta's subscription handshake ({channel})",
            "none",
            {
                200: Answer("`hub.challenge`, echoed as text/plain", media="text/plain"),
                403: Answer("Wrong or unset verify token", media="text/plain"),
            },
            params=(
                Param("hub.mode", "query", "`subscribe`", required=True),
                Param("hub.verify_token", "query", "Must equal the node's `verify_token`.", required=True),
                Param("hub.challenge", "query", "Echoed back on success.", required=True),
            ),
            tag="webhooks",
        ),
        Endpoint(
            "POST",
            f"/webhooks/{channel}",
            f"Meta's {channel} webhook batch (docs/CHANNELS.md)",
            "meta",
            {
                200: Answer("The whole batch is stored (items not understood are counted, not retried)", WebhookAccepted),
                400: Answer(f"Not JSON, or not the {envelope} envelope; nothing stored", WebhookRefused),
                401: Answer("Unsigned or wrongly signed; nothing read", WebhookRefused),
                413: Answer("Over `meta.max_body_bytes`", WebhookRefused),
                503: Answer("Storage failed: Meta retries, harmlessly", WebhookRefused),
            },
            params=(SIGNATURE,),
            body=dict[str, Any],
            tag="webhooks",
            description=f"The body is Meta's JSON (`object: \"{envelope}\"`, `entry[]`), signed.",
        ),
    ]


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/healthz", "Liveness: the process answers", "none", {200: Answer("Alive", Health)}, tag="ops"),
    Endpoint(
        "GET",
        "/readyz",
        "Readiness: started, not stopping, store healthy",
        "none",
        {200: Answer("Ready", Readiness), 503: Answer("Not ready: take the node out of rotation", Readiness)},
        tag="ops",
    ),
    Endpoint(
        "GET",
        "/metrics",
        "Prometheus metrics (docs/OPERATIONS.md)",
        "none",
        {200: Answer("Prometheus text format 0.0.4", media="text/plain")},
        tag="ops",
    ),
    Endpoint(
        "GET",
        "/protocol/schema.json",
        "JSON Schema of the websocket protocol",
        "none",
        {200: Answer("JSON Schema draft 2020-12", dict[str, Any])},
        tag="protocol",
    ),
    Endpoint(
        "GET",
        "/protocol/asyncapi.json",
        "AsyncAPI 3.0 document of the websocket protocol",
        "none",
        {200: Answer("AsyncAPI 3.0.0", dict[str, Any])},
        tag="protocol",
    ),
    Endpoint(
        "GET",
        "/protocol/openapi.json",
        "This document",
        "none",
        {200: Answer("OpenAPI 3.1.0", dict[str, Any])},
        tag="protocol",
    ),
    Endpoint(
        "GET",
        "/api/config",
        "Where agents connect",
        "none",
        {200: Answer("The websocket URL and protocol version", ClientConfig)},
        tag="protocol",
    ),
    Endpoint(
        "GET",
        "/api/queues/{queue_id}/inbox",
        "A page of a queue's inbox: its unassigned open conversations",
        "agent",
        {
            200: Answer("Oldest activity first; header `X-Next-Cursor` when there is more", list[p.ConversationSummary]),
            **_refused(*AUTH_CODES, errors.NOT_FOUND, errors.INVALID_ARGUMENT),
        },
        params=(
            Param("queue_id", "path", "A queue the agent belongs to (any, for a supervisor).", required=True),
            Param("cursor", "query", "The previous page's `X-Next-Cursor` (default: from the oldest)."),
            Param("limit", "query", "Conversations per page (default 100, at most 500).", "integer"),
            Param("channel", "query", "Only `whatsapp` or only `messenger`."),
            Param("q", "query", "Only contacts whose name, number or username holds this text."),
        ),
        description=(
            "A queue the agent may not see answers 404, as one that does not exist. Paged as the websocket's"
            " `inbox_page`: the response header `X-Next-Cursor` (absent at the end) asks for the next page."
        ),
    ),
    Endpoint(
        "GET",
        "/api/conversations/{conv_id}",
        "A conversation and a page of its thread",
        "agent",
        {
            200: Answer("The summary and the page", ConversationPage),
            **_refused(*AUTH_CODES, errors.NOT_FOUND, errors.INVALID_ARGUMENT),
        },
        params=(
            CONV_ID,
            Param("limit", "query", "Messages per page (default 50).", "integer"),
            Param("before", "query", "Only messages with `seq < before` (0…2^63−1); default: the newest.", "integer"),
        ),
        description="Only conversations the agent may view (as the websocket's `open`); others answer 404.",
    ),
    Endpoint(
        "GET",
        "/api/conversations/{conv_id}/search",
        "Search one conversation (case- and accent-insensitive)",
        "agent",
        {200: Answer("Hits, as the websocket's `search` result", p.SearchResult), **_refused(*AUTH_CODES, errors.NOT_FOUND)},
        params=(CONV_ID, Param("q", "query", "The text to find.", required=True)),
    ),
    Endpoint(
        "GET",
        "/api/contacts",
        "The contacts directory (every queue's contacts)",
        "supervisor",
        {200: Answer("Every contact", list[p.ContactView]), **_refused(*AUTH_CODES, errors.FORBIDDEN)},
    ),
    Endpoint(
        "PUT",
        "/api/contacts/{channel}/{address}",
        "Name a contact in the directory",
        "supervisor",
        {
            200: Answer("The contact as agents now see it", p.ContactView),
            **_refused(*AUTH_CODES, errors.FORBIDDEN, errors.INVALID_ARGUMENT, errors.INVALID_ADDRESS),
        },
        params=(
            Param("channel", "path", "`whatsapp` or `messenger`.", required=True),
            Param("address", "path", "WhatsApp: a number (URL-encode the `+`) or a BSUID; Messenger: a PSID.", required=True),
        ),
        body="ContactBody",
        description="`name` null or blank removes the name. Live: agents' lists show the new name at once.",
    ),
    Endpoint(
        "DELETE",
        "/api/contacts/{channel}/{address}",
        "Remove a contact's directory name",
        "supervisor",
        {
            200: Answer("The contact as agents now see it", p.ContactView),
            **_refused(*AUTH_CODES, errors.FORBIDDEN, errors.INVALID_ARGUMENT, errors.INVALID_ADDRESS),
        },
        params=(
            Param("channel", "path", "`whatsapp` or `messenger`.", required=True),
            Param("address", "path", "As for PUT.", required=True),
        ),
    ),
    Endpoint(
        "POST",
        "/api/logout",
        "Revoke the token that signs this request",
        "agent",
        {200: Answer("Revoked; sockets opened with it close (4010)", Revoked), **_refused(*AUTH_CODES)},
    ),
    Endpoint(
        "POST",
        "/api/agents/{agent_id}/revoke",
        "Log an agent out everywhere: void all their tokens",
        "supervisor",
        {200: Answer("Revoked", AgentRevoked), **_refused(*AUTH_CODES, errors.FORBIDDEN)},
        params=(Param("agent_id", "path", "The agent (an agent may name themself).", required=True),),
    ),
    Endpoint(
        "POST",
        "/api/media/uploads",
        "Upload a file to send in a conversation (then the websocket's `send_media`)",
        "agent",
        {
            201: Answer("Stored and checked against the channel", Uploaded),
            **_refused(*AUTH_CODES, errors.NOT_FOUND, errors.NOT_ASSIGNEE, errors.MEDIA_REFUSED, errors.CONVERSATION_ENDED),
            413: Answer("Over the largest media limit", Refusal),
        },
        params=(
            Param("conversation_id", "query", "The conversation it will be sent in.", required=True),
            Param("filename", "query", "The name it goes with (its last path part)."),
        ),
        body=bytes,
        description="The body is the file's bytes; its type is read from them, never from the name or Content-Type.",
    ),
    Endpoint(
        "GET",
        "/api/media/{message_id}/link",
        "A short-lived signed link to a message's file or thumbnail",
        "agent",
        {200: Answer("The link", MediaLink), **_refused(*AUTH_CODES, errors.NOT_FOUND, errors.INVALID_ARGUMENT)},
        params=(
            Param("message_id", "path", "The message whose `media.state` is `ready`.", required=True),
            Param("variant", "query", "`file` (the default) or `thumbnail` (images and stickers, `media.thumbnail`)."),
        ),
        description=(
            "404 `not_found` when the agent may not see the conversation, or the file is not stored (loading, failed) "
            "or has no thumbnail: the same answer, so nothing tells what exists elsewhere."
        ),
    ),
    *(
        Endpoint(
            "GET",
            path,
            summary,
            "none",
            {
                200: Answer("The bytes, typed by what they are (never by the customer's file name)", media="application/octet-stream"),
                206: Answer("The range asked for (`Range: bytes=…`, one range)", media="application/octet-stream"),
                403: Answer("Forged, altered or expired link (`forbidden`)", Refusal),
                404: Answer("The agent the link was made for may no longer see it, or it is gone (`not_found`)", Refusal),
                416: Answer("A range past the end, or several ranges", media=""),
            },
            params=(
                Param("message_id", "path", "The message.", required=True),
                Param("agent", "query", "Who the link was made for.", required=True),
                Param("exp", "query", "Its expiry (ms since the epoch).", type="integer", required=True),
                Param("sig", "query", "Its signature.", required=True),
                Param("Range", "header", "`bytes=start-end`, `bytes=start-` or `bytes=-suffix` (audio and video seek with it)."),
            ),
            description=(
                "Only through a link from `GET /api/media/{message_id}/link`: no token, so `<img>`, `<audio>` and "
                "`<video>` can fetch it. `X-Content-Type-Options: nosniff`; `Content-Security-Policy: default-src "
                "'none'; sandbox`; documents and unknown types `Content-Disposition: attachment`."
            ),
        )
        for path, summary in (
            ("/api/media/{message_id}", "A message's file, through a signed link"),
            ("/api/media/{message_id}/thumbnail", "An image's thumbnail (JPEG, or PNG with transparency), through a signed link"),
        )
    ),
    *_webhook("whatsapp", "whatsapp_business_account"),
    *_webhook("messenger", "page"),
    Endpoint(
        "POST",
        "/api/dev/inbound",
        "Dev only: play a customer writing in",
        "none",
        {
            200: Answer("Stored (or a duplicate id)", DevInboundAnswer),
            **_refused(errors.NOT_FOUND, errors.INVALID_ARGUMENT, errors.UNAVAILABLE),
            413: Answer("Body over 16 KiB", Refusal),
            415: Answer("Not `Content-Type: application/json`", Refusal),
        },
        body="DevInbound",
        dev=True,
        tag="dev",
    ),
    Endpoint(
        "GET", "/api/dev/agents", "Dev only: the configured agents", "none",
        {200: Answer("Every agent", list[p.AgentView])}, dev=True, tag="dev",
    ),
    Endpoint(
        "POST",
        "/api/dev/login",
        "Dev only: a token for any configured agent, no password",
        "none",
        {
            200: Answer("A signed token (`token_ttl_seconds`)", DevToken),
            **_refused(errors.NOT_FOUND, errors.INVALID_ARGUMENT),
            413: Answer("Body over 16 KiB", Refusal),
            415: Answer("Not `Content-Type: application/json`", Refusal),
        },
        body="DevLogin",
        dev=True,
        tag="dev",
    ),
)


def _request_bodies() -> dict[str, Any]:
    # Imported here: server.http serves this document.
    from server.http import api, dev

    return {"ContactBody": api.ContactBody, "DevInbound": dev.DevInbound, "DevLogin": dev.DevLogin}


AUTH_TEXT = {
    "none": "",
    "agent": "Any agent: `Authorization: Bearer <token>`.",
    "supervisor": "A supervisor: `Authorization: Bearer <token>`; an agent gets 403 `forbidden`.",
    "meta": "Signed by Meta (`X-Hub-Signature-256`), not an agent token.",
}


def openapi() -> dict[str, Any]:
    bodies = _request_bodies()
    types: list[Any] = []
    for e in ENDPOINTS:
        for a in e.answers.values():
            if a.type is not None:
                types.append(a.type)
        if e.body is not None and e.body is not bytes:
            types.append(bodies[e.body] if isinstance(e.body, str) else e.body)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = iter(schemas)

    paths: dict[str, dict[str, Any]] = {}
    for e in ENDPOINTS:
        responses: dict[str, Any] = {}
        for status, a in e.answers.items():
            answer: dict[str, Any] = {"description": a.description}
            if a.type is not None:
                answer["content"] = {a.media: {"schema": next(schema_of)}}
            elif a.media:
                answer["content"] = {a.media: {"schema": {"type": "string"}}}
            responses[str(status)] = answer
        op: dict[str, Any] = {
            "operationId": f"{e.method.lower()}_{e.path.strip('/').replace('/', '_').replace('{', '').replace('}', '').replace('.', '_')}",
            "summary": e.summary,
            "tags": [e.tag],
            "responses": responses,
        }
        description = " ".join(x for x in (AUTH_TEXT[e.auth], e.description, "Only with `dev_endpoints = true`." if e.dev else "") if x)
        if description:
            op["description"] = description
        if e.auth in ("agent", "supervisor"):
            op["security"] = [{"agentToken": []}]
        if e.params:
            op["parameters"] = [
                {"name": x.name, "in": x.where, "required": x.required, "description": x.description, "schema": {"type": x.type}}
                for x in e.params
            ]
        if e.body is bytes:  # a file, as it is
            op["requestBody"] = {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
        elif e.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": next(schema_of)}}}
        if e.dev:
            op["x-dev-only"] = True
        paths.setdefault(e.path, {})[e.method.lower()] = op

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard HTTP API",
            "version": str(p.PROTOCOL_VERSION),
            "description": (
                "Every HTTP endpoint of a Switchboard node (one port: this API, Meta's webhooks, the web app at `/`, "
                "and the agent websocket at `/ws`, described by /protocol/asyncapi.json). A refused request answers "
                "`{\"code\", \"message\"}` with a stable code (docs/PROTOCOL.md). Tokens: `switchboard token AGENT_ID "
                "[--ttl SECONDS]`, or `/api/dev/login` on a dev node. Examples: docs/HTTP.md."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8000", "description": "`make run`"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "agentToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A signed agent token, as in the websocket's `hello`.",
                }
            },
        },
    }


@cache
def openapi_json() -> bytes:
    return msgspec.json.format(msgspec.json.encode(openapi()), indent=2)


async def openapi_endpoint(request: Request) -> Response:
    """``GET /protocol/openapi.json``."""
    return Response(openapi_json(), media_type="application/json")


async def asyncapi_endpoint(request: Request) -> Response:
    """``GET /protocol/asyncapi.json``: the websocket protocol (protocol/asyncapi.py)."""
    return Response(_asyncapi_bytes(), media_type="application/json")


@cache
def _asyncapi_bytes() -> bytes:
    return asyncapi_json()
